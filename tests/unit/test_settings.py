"""Settings come from MODELARTS_* variables; a bad one stops the operator with its name, never a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

from modelarts_operator.settings import SettingsError, load_settings


def test_every_bad_variable_is_named_and_no_value_is_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELARTS_RATE_LIMIT", "not-a-number-but-maybe-a-secret")
    monkeypatch.setenv("MODELARTS_METRICS_PORT", "70000")
    with pytest.raises(SettingsError) as refused:
        load_settings()
    message = str(refused.value)
    assert "MODELARTS_RATE_LIMIT: Input should be a valid number" in message
    assert "MODELARTS_METRICS_PORT: Input should be less than or equal to 65535" in message
    assert "maybe-a-secret" not in message and "70000" not in message


def test_run_exits_2_with_the_reason() -> None:
    env = {"MODELARTS_RATE_BURST": "0", "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-m", "modelarts_operator", "run"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == (
        "modelarts-operator run: invalid settings: MODELARTS_RATE_BURST: Input should be greater than or equal to 1"
    )
