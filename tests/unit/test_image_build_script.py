"""tools/image/build.sh where no image can be built: exit 75 with the reason (tests/e2e/test_image.py skips on it).

The real build is tests/e2e/test_image.py; this covers the machine it cannot run on: no Docker engine, no podman,
and no root to install it. The script runs with a PATH that has only what it needs up to that decision.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

BUILD = Path(__file__).resolve().parents[2] / "tools" / "image" / "build.sh"


@pytest.fixture
def bare_path(tmp_path: Path) -> Path:
    """A bin dir with the basic tools, no docker/podman/runc/mmdebstrap/apt-get, and an `id` of a normal user."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "dirname", "sed", "head", "date", "cat", "mkdir"):
        found = shutil.which(tool)
        assert found, tool
        (bin_dir / tool).symlink_to(found)
    (bin_dir / "id").write_text("#!/bin/sh\necho 1000\n")
    (bin_dir / "id").chmod(0o755)
    return bin_dir


def test_without_an_engine_or_root_it_exits_75_with_the_reason(bare_path: Path, tmp_path: Path) -> None:
    env = {"PATH": str(bare_path), "HOME": str(tmp_path / "home"), "MODELARTS_OPERATOR_CACHE": str(tmp_path / "c")}
    result = subprocess.run(
        [str(bare_path / "bash"), str(BUILD)], capture_output=True, text=True, env=env, timeout=30, check=False
    )
    assert result.returncode == 75, result.stderr
    assert "cannot build the image here: no Docker engine, and podman runc mmdebstrap missing" in result.stderr
    assert "(installing them needs root)" in result.stderr
    assert result.stdout == "", "no image reference is printed"
    assert not (tmp_path / "c").exists(), "nothing is cached when nothing can be built"
