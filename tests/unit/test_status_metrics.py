"""What an object's status says for the gauges (``status_metrics.pool_report``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from modelarts_operator.metrics import NodeCounts, PoolReport
from modelarts_operator.status_metrics import pool_report


def deleting_condition(reason: str, status: str = "True") -> dict[str, Any]:
    return {
        "type": "Deleting",
        "status": status,
        "reason": reason,
        "message": "m",
        "lastTransitionTime": "2026-01-01T00:00:00Z",
    }


def test_an_object_without_a_pool_is_not_counted() -> None:
    assert pool_report({}, None) == PoolReport()
    # a phase or nodes left over without a recorded pool do not count either
    assert pool_report({"phase": "Running", "nodes": {"available": 2}}, None) == PoolReport()


def test_a_pool_reports_its_phase_and_nodes() -> None:
    status = {
        "poolName": "pool-1",
        "phase": "Running",
        "nodes": {"creating": 1, "available": 3, "abnormal": 0, "deleting": 2},
    }
    assert pool_report(status, None) == PoolReport(phase="Running", nodes=NodeCounts(1, 3, 0, 2))


def test_malformed_node_counts_are_zero() -> None:
    status = {
        "poolName": "pool-1",
        "phase": "Running",
        "nodes": {"creating": "7", "available": -3, "abnormal": True, "deleting": None},
    }
    assert pool_report(status, None).nodes == NodeCounts()
    assert pool_report({"poolName": "pool-1", "nodes": [1, 2]}, None).nodes == NodeCounts()


def test_deletion_started_is_the_objects_deletion_timestamp() -> None:
    report = pool_report({"poolName": "pool-1", "phase": "Deleting"}, "2026-03-04T05:06:07Z")
    assert report.deletion_started == datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC).timestamp()
    assert report.deletion_stalled is False


def test_stalled_only_with_the_deletion_stalled_reason_while_deleting() -> None:
    when = "2026-03-04T05:06:07Z"
    stalled = {"poolName": "p", "conditions": [deleting_condition("DeletionStalled")]}
    assert pool_report(stalled, when).deletion_stalled is True
    assert pool_report(stalled, None).deletion_stalled is False  # a leftover condition on a live object
    progressing = {"poolName": "p", "conditions": [deleting_condition("DeletionInProgress")]}
    assert pool_report(progressing, when).deletion_stalled is False
    cleared = {"poolName": "p", "conditions": [deleting_condition("DeletionStalled", status="False")]}
    assert pool_report(cleared, when).deletion_stalled is False
    # a refused deletion of an object whose pool was never recorded (e.g. an invalid endpoint) still counts
    refused = {"conditions": [deleting_condition("DeletionStalled")]}
    assert pool_report(refused, when) == PoolReport(
        deletion_started=datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC).timestamp(), deletion_stalled=True
    )
