"""The README and docs/ keep their promises: the two commands first, every link resolving, every setting,
emulator flag, condition reason and chart value documented where the README says it is."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest
import yaml

from modelarts_emulator.cli import configure_parser
from modelarts_operator.reconcile import conditions
from modelarts_operator.settings import OperatorSettings

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md"))
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def text(page: str) -> str:
    return (DOCS / page).read_text()


def anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors: lowercase, punctuation dropped, spaces to hyphens."""
    found = set()
    for line in markdown.splitlines():
        if line.startswith("#") and not line.startswith("#!"):
            heading = line.lstrip("#").strip().lower()
            found.add(re.sub(r"[^\w\- ]", "", heading).replace(" ", "-"))
    return found


def test_readme_starts_with_the_two_commands() -> None:
    first_block = README.read_text().split("```")[1]
    commands = [line.split("#")[0].strip() for line in first_block.strip().splitlines()]
    assert commands == ["make demo", "make test"]


def test_the_readme_links_every_docs_page() -> None:
    linked = {target.split("#")[0] for target in LINK.findall(README.read_text())}
    assert {f"docs/{page.name}" for page in PAGES} <= linked


@pytest.mark.parametrize("page", [README, *PAGES], ids=lambda p: p.name)
def test_relative_links_and_anchors_resolve(page: Path) -> None:
    broken = []
    # Code blocks hold shell and YAML, not links.
    prose = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    for target in LINK.findall(prose):
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        if not resolved.exists():
            broken.append(target)
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved.read_text()):
            broken.append(target)
    assert broken == []


def test_every_setting_is_documented() -> None:
    page = text("configuration.md")
    missing = [
        f"MODELARTS_{name.upper()}"
        for name in OperatorSettings.model_fields
        if f"`MODELARTS_{name.upper()}`" not in page
    ]
    assert missing == []


def test_every_emulator_flag_is_documented() -> None:
    parser = argparse.ArgumentParser()
    configure_parser(parser)
    flags = [flag for action in parser._actions for flag in action.option_strings if flag.startswith("--")]
    page = text("emulator.md")
    assert [flag for flag in flags if f"`{flag}`" not in page and flag != "--help"] == []


def test_every_condition_reason_is_documented() -> None:
    page = text("resource.md")
    reasons = {
        value
        for name, value in vars(conditions).items()
        if name.startswith(("READY_", "SYNCED", "DELETION_")) and isinstance(value, str)
    }
    assert sorted(reason for reason in reasons if f"`{reason}`" not in page) == []


def test_every_chart_value_is_documented() -> None:
    values = yaml.safe_load((ROOT / "deploy" / "helm" / "modelarts-operator" / "values.yaml").read_text())
    page = text("install.md")
    assert [key for key in values if f"`{key}`" not in page and f"`{key}." not in page] == []
