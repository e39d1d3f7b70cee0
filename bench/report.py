"""Print the "measured vs target" table of docs/performance.md from a results file of ``bench/run.py``.

    .venv/bin/python bench/report.py bench/results/latest.json

The targets are issue 12's table (``TARGETS`` in ``run.py``); lines without a target are measured for context.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

NONE = "-"  # no target for this line
Row = tuple[str, str, str, str]


def _mark(ok: bool) -> str:
    return "met" if ok else "**missed**"


def _judged(what: str, target: str, measured: str, ok: bool | None) -> Row:
    return (what, target if ok is not None else NONE, measured, _mark(ok) if ok is not None else NONE)


def deletion_rows(run: dict[str, Any], poll: float) -> list[Row]:
    n, ds = run["n"], run["delete_seconds"]
    label = f"deletion n={n}, {ds:g} s"
    big = n == 500
    single_long = n == 1 and ds >= 120
    rows: list[Row] = []
    lag = run["completion_lag_seconds"]["p95"]
    rows.append(_judged(f"{label}: completion lag p95", f"<= {poll + 1:g} s", f"{lag:.2f} s", lag <= poll + 1))
    marked = run.get("reaction_from_mark_seconds", {}).get("p95")
    reaction = run["reaction_seconds"]["p95"]
    if marked is not None:
        rows.append(
            _judged(
                f"{label}: reaction from the API server's mark p95",
                "<= 2 s",
                f"{marked:.2f} s ({reaction:.2f} s from the DELETE request)",
                marked <= 2.0 if big else None,
            )
        )
    gets = run["gets_per_pool"]
    terraform = run["terraform_gets_per_pool"]
    limit: float | None = 1.5 if big else float(terraform) if single_long else None
    target = f"<= {limit:g}" + (" (Terraform)" if single_long else "") if limit is not None else NONE
    rows.append(
        _judged(
            f"{label}: GETs per pool (p50 / p95)",
            target,
            f"{gets['p50']:g} / {gets['p95']:g}",
            gets["p95"] <= limit if limit is not None else None,
        )
    )
    reads = run.get("reads_per_pool")
    if reads is not None and reads.get("count"):
        rows.append(
            _judged(
                f"{label}: all reads per pool, own GETs + list calls / n (p95)",
                target,
                f"{reads['p95']:.2f} ({run['list_calls']} list calls)",
                reads["p95"] <= limit if limit is not None else None,
            )
        )
    writes = run.get("status_writes_per_pool")
    if writes is not None and writes.get("count"):
        rows.append(
            _judged(
                f"{label}: status writes per pool (p50 / max)", NONE, f"{writes['p50']:g} / {writes['max']:g}", None
            )
        )
    others = run.get("other_cpu_seconds")
    if others:
        spent = ", ".join(f"{name} {seconds:g}" for name, seconds in others.items())
        rows.append(
            _judged(
                f"{label}: CPU seconds, operator / the rest",
                NONE,
                f"{run['operator_cpu_seconds']:g} / {spent} (wall {run['wall_seconds']:g} s)",
                None,
            )
        )
    rows.append(
        _judged(
            f"{label}: calls within the limiter's rate",
            "yes",
            f"busiest 1 s: {run['rate']['max_calls_in_1s']}, 10 s: {run['rate']['max_calls_in_10s']}; "
            f"{run['throttled']} throttled",
            run["rate"]["within_limit"],
        )
    )
    return rows


def rows(results: dict[str, Any]) -> list[Row]:
    """(what, target, measured, verdict) per line of the table."""
    poll = results["operator_settings"]["transition_poll_seconds"]
    table: list[Row] = []
    steady = results["scenarios"].get("steady")
    if steady:
        label = f"steady n={steady['n']}, {steady['minutes']:g} min"
        table.append(
            _judged(
                f"{label}: ModelArts calls per minute",
                "<= 3",
                f"{steady['calls_per_minute']:g}",
                steady["calls_per_minute"] <= 3,
            )
        )
        writes = steady.get("status_writes", steady["status_writes_per_minute"])
        table.append(_judged(f"{label}: status writes", "0", f"{writes:g}", writes == 0))
        cpu = steady["cpu_seconds_per_minute"]
        table.append(
            _judged(f"{label}: CPU seconds per minute", "<= 1", f"{cpu:g} ({steady['cpu_seconds']:g} s)", cpu <= 1.0)
        )
        rss = steady["peak_rss_mb"]
        table.append(_judged(f"{label}: peak RSS", "<= 150 MiB", f"{rss:g} MiB", rss <= 150))
    for run in results["scenarios"]["deletion"]:
        table.extend(deletion_rows(run, poll))
    creation = results["scenarios"].get("creation")
    if creation:
        label = f"creation n={creation['n']}"
        rss = creation["peak_rss_mb"]
        table.append(_judged(f"{label}: peak RSS of the creating process", "<= 150 MiB", f"{rss:g} MiB", rss <= 150))
        table.append(
            _judged(
                f"{label}: all Running / CPU / calls / status writes",
                NONE,
                f"{creation['running_seconds']:g} s / {creation['cpu_seconds']:g} s / "
                f"{creation['calls']} / {creation['status_writes']}",
                None,
            )
        )
    restart = results["scenarios"].get("restart")
    if restart:
        label = f"restart n={restart['n']}"
        settled = restart["settled_seconds"]
        table.append(_judged(f"{label}: settled", "<= 15 s", f"{settled:g} s", settled <= 15))
        table.append(_judged(f"{label}: ModelArts calls", "<= 3", f"{restart['calls']}", restart["calls"] <= 3))
        table.append(_judged(f"{label}: status writes", NONE, f"{restart['status_writes']}", None))
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
