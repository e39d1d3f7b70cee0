"""bench/'s restart scenario reads "every object counted Running" from the operator's own /metrics: parse what the
operator really renders (one series per namespace), not a hand-written line."""

from __future__ import annotations

import sys
from pathlib import Path

from modelarts_operator.metrics import Metrics, PoolReport

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from scenarios import running_in


def test_running_pools_are_summed_over_namespaces() -> None:
    metrics = Metrics()
    for name in ("a", "b", "c"):
        metrics.report_pool("team-a", name, PoolReport(phase="Running"))
    metrics.report_pool("team-b", "a", PoolReport(phase="Running"))
    metrics.report_pool("team-b", "b", PoolReport(phase="Creating"))
    assert running_in(metrics.render().decode()) == 4


def test_no_running_pool_counts_zero() -> None:
    metrics = Metrics()
    metrics.report_pool("team-a", "a", PoolReport(phase="Deleting"))
    assert running_in(metrics.render().decode()) == 0
