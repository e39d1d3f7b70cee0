"""docs/performance.md's table is what ``bench/report.py`` makes of the sample it names: no hand-edited number."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
import report  # noqa: E402

DOC = ROOT / "docs" / "performance.md"


def test_the_measured_table_is_the_reports_table_of_the_committed_sample() -> None:
    text = DOC.read_text()
    measured = text[text.index("## Measured") :]
    sample = re.search(r"\]\(\.\./(bench/results/sample-[0-9-]+\.json)\)", measured)
    assert sample, "docs/performance.md must link the sample its table comes from"
    results = json.loads((ROOT / sample.group(1)).read_text())
    lines = [f"| {what} | {target} | {value} | {verdict} |" for what, target, value, verdict in report.rows(results)]
    assert len(lines) > 20
    table = [line for line in measured.splitlines() if line.startswith("| ") and line.count("|") == 5][1:]
    assert table[: len(lines)] == lines
