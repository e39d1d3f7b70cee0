"""Print the "measured vs target" table of docs/performance.md from a results file of ``bench/run.py``.

    .venv/bin/python bench/report.py bench/results/latest.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

NONE = "-"  # no target for this line


def _mark(ok: bool) -> str:
    return "met" if ok else "**missed**"


def rows(results: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(what, target, measured, verdict) per line of the table."""
    settings = results["operator_settings"]
    poll = settings["transition_poll_seconds"]
    table: list[tuple[str, str, str, str]] = []
    for run in results["scenarios"]["deletion"]:
        n, ds = run["n"], run["delete_seconds"]
        label = f"deletion n={n}, {ds:g} s"
        reaction = run["reaction_seconds"]["p95"]
        marked = run.get("reaction_from_mark_seconds", {}).get("p95")
        limit = 1.0 if n == 1 else 5.0 if n == 500 else None
        measured = f"{reaction:.2f} s" + (f" ({marked:.2f} s after the API server marked it)" if marked is not None
                                           else "")
        table.append((f"{label}: reaction p95", f"<= {limit:g} s" if limit else NONE, measured,
                      _mark(reaction <= limit) if limit else NONE))
        lag = run["completion_lag_seconds"]["p95"]
        table.append((f"{label}: completion lag p95", f"<= {poll + 1:g} s", f"{lag:.2f} s", _mark(lag <= poll + 1)))
        gets = run["gets_per_pool"]
        terraform = run["terraform_gets_per_pool"]
        table.append((f"{label}: GETs per pool (p50 / p95)", f"< {terraform} (Terraform)",
                      f"{gets['p50']:g} / {gets['p95']:g}", _mark(gets["p95"] < terraform)))
        table.append((f"{label}: calls within the limiter's rate", "yes",
                      f"busiest 1 s: {run['rate']['max_calls_in_1s']}, 10 s: {run['rate']['max_calls_in_10s']}; "
                      f"{run['throttled']} throttled", _mark(run["rate"]["within_limit"])))
    steady = results["scenarios"].get("steady")
    if steady:
        label = f"steady n={steady['n']}, {steady['minutes']:g} min"
        per_interval = steady["gets_per_pool_per_interval"]["max"]
        table.append((f"{label}: GETs per pool per {steady['stable_poll_seconds']:g} s interval", "<= 1",
                      f"{per_interval:g} (interval p50 {steady['get_interval_seconds']['p50']:.1f} s, min "
                      f"{steady['get_interval_seconds']['min']:.1f} s)", _mark(per_interval <= 1)))
        table.append((f"{label}: ModelArts calls per minute", NONE, f"{steady['calls_per_minute']:g}", NONE))
        writes = steady["status_writes_per_minute"]
        table.append((f"{label}: status writes per minute", "0", f"{writes:g}", _mark(writes == 0)))
        cpu = f"{steady['cpu_seconds']:g} s ({steady['cpu_seconds_per_minute']:g} s/min)"
        table.append((f"{label}: CPU", NONE, cpu, NONE))
        rss = steady["peak_rss_mb"]
        table.append((f"{label}: peak RSS", "<= 150 MB", f"{rss:g} MiB", _mark(rss <= 150)))
    restart = results["scenarios"].get("restart")
    if restart:
        label = f"restart n={restart['n']}"
        table.append((f"{label}: settled", NONE, f"{restart['settled_seconds']:g} s", NONE))
        table.append((f"{label}: calls / status writes", NONE, f"{restart['calls']} / {restart['status_writes']}",
                      NONE))
        table.append((f"{label}: calls within the limiter's rate", "yes",
                      f"busiest 1 s: {restart['rate']['max_calls_in_1s']}", _mark(restart["rate"]["within_limit"])))
        replaced = restart.get("replaced_process_peak_rss_mb")
        if replaced is not None:
            table.append(("peak RSS of the process that created the pools", "<= 150 MB", f"{replaced:g} MiB",
                          _mark(replaced <= 150)))
    return table


def main() -> int:
    results = json.loads(Path(sys.argv[1]).read_text())
    print("| scenario | target | measured | |")
    print("|---|---|---|---|")
    for what, target, measured, verdict in rows(results):
        print(f"| {what} | {target} | {measured} | {verdict} |")
    for skipped in results.get("skipped", []):
        print(f"\nskipped: {skipped}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
