"""The README keeps its promises: the two commands first, every setting documented."""

from __future__ import annotations

from pathlib import Path

from modelarts_operator.settings import OperatorSettings

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_readme_starts_with_the_two_commands() -> None:
    first_block = README.split("```")[1]
    commands = [line.split("#")[0].strip() for line in first_block.strip().splitlines()]
    assert commands == ["make demo", "make test"]


def test_every_setting_is_documented() -> None:
    missing = [f"MODELARTS_{name.upper()}" for name in OperatorSettings.model_fields
               if f"`MODELARTS_{name.upper()}`" not in README]
    assert missing == []
