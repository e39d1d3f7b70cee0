"""Tier 1: the handler layer's own logic, without a cluster (the e2e tier runs the handlers for real)."""

from __future__ import annotations

import logging
from typing import Any

import kopf

from modelarts_operator.handlers import DELETION_IN_PROGRESS_MARKER, IndexClaims, current_status, pool_claims
from modelarts_operator.reconcile.view import DisplayNameClaim
from modelarts_operator.runner import _RoutineToDebugFilter
from modelarts_operator.runtime import ObjectRuntime, ObjectRuntimes
from modelarts_operator.settings import OperatorSettings


def body(status: dict[str, Any] | None = None) -> kopf.Body:
    return kopf.Body({"metadata": {"name": "p", "namespace": "ns"}, "spec": {}, "status": status or {}})


def claims(spec: dict[str, Any], status: dict[str, Any], name: str = "pool-a") -> dict[tuple[str, ...], Any]:
    memo = kopf.Memo(config=OperatorSettings(project_id="default-project"))
    return pool_claims(namespace="ns", name=name, spec=kopf.Spec(kopf.Body({"spec": spec})),
                       status=kopf.Status(kopf.Body({"status": status})),
                       meta=kopf.Meta(kopf.Body({"metadata": {"creationTimestamp": "t0"}})), memo=memo)


def test_index_keys_recorded_pools_and_wanted_display_names() -> None:
    assert claims({}, {"poolName": "p-1"}) == {
        ("pool", "p-1"): "ns/pool-a",
        ("display", "default-project", "pool-a"): DisplayNameClaim("ns/pool-a", "t0", True),
    }
    assert claims({"displayName": "other", "projectId": "p2"}, {}) == {
        ("display", "p2", "other"): DisplayNameClaim("ns/pool-a", "t0", False),
    }
    # Adopting objects claim only the pool they recorded, never a display name.
    assert claims({"poolName": "legacy"}, {}) == {}


def test_index_claims_answers_from_the_index() -> None:
    index = {("pool", "p-1"): ["ns/a"], ("display", "proj", "x"): [DisplayNameClaim("ns/a", "t0", True)]}
    answered = IndexClaims(index)  # type: ignore[arg-type]
    assert answered.pool_owners("p-1") == {"ns/a"} and answered.pool_owners("p-2") == set()
    assert answered.display_name_owners("proj", "x")[0].key == "ns/a"


def test_status_cache_wins_until_the_watch_stream_catches_up() -> None:
    runtime = ObjectRuntime(status={"phase": "Running"})
    assert current_status(body({"phase": "Creating"}), runtime) == {"phase": "Running"}
    assert current_status(body({"phase": "Running"}), runtime) == {"phase": "Running"}
    assert runtime.status is None, "caught up: the stream is authoritative again"
    assert current_status(body({"phase": "Deleting"}), runtime) == {"phase": "Deleting"}


def test_runtimes_are_per_uid_and_forgotten() -> None:
    runtimes = ObjectRuntimes()
    assert runtimes.get("u1") is runtimes.get("u1")
    assert runtimes.peek("u2") is None
    runtimes.forget("u1")
    assert len(runtimes) == 0


def test_routine_kopf_lines_become_debug() -> None:
    routine = logging.LogRecord("kopf.objects", logging.ERROR, "", 0,
                                f"Handler 'x' failed temporarily: {DELETION_IN_PROGRESS_MARKER}: pool p", None, None)
    real = logging.LogRecord("kopf.objects", logging.ERROR, "", 0, "Handler 'x' failed temporarily: boom", None, None)
    log_filter = _RoutineToDebugFilter()
    log_filter.filter(routine)
    assert routine.levelno == logging.DEBUG
    assert log_filter.filter(real) and real.levelno == logging.ERROR


async def test_spec_change_wakes_the_daemon_on_the_loop() -> None:
    """kopf runs a plain ``def`` handler in a worker thread, where ``asyncio.Event.set()`` is unsafe and does not
    wake the loop; the event handler must be a coroutine so kopf awaits it on the loop itself."""
    import asyncio
    import inspect

    from modelarts_operator.handlers import modelartspool_event

    assert inspect.iscoroutinefunction(modelartspool_event)
    runtimes = ObjectRuntimes()
    runtime = runtimes.get("uid-1")
    runtime.seen_generation = 1
    waiter = asyncio.ensure_future(runtime.wake.wait())
    obj = kopf.Body({"metadata": {"uid": "uid-1", "generation": 2}})
    await modelartspool_event(body=obj, uid="uid-1", memo=kopf.Memo(runtimes=runtimes))
    await asyncio.wait_for(waiter, timeout=1)


async def test_a_deleted_object_takes_its_series_along() -> None:
    """However the object went (even with its finalizer stripped by hand), its per-object series go with it."""
    from modelarts_operator.handlers import modelartspool_event
    from modelarts_operator.metrics import Metrics, PoolReport

    metrics = Metrics()
    metrics.report_pool("ns", "a", PoolReport(phase="Deleting", deletion_started=1.0, deletion_stalled=True))
    metrics.report_pool("ns", "b", PoolReport(phase="Running"))
    body = kopf.Body({"metadata": {"uid": "uid-a", "namespace": "ns", "name": "a", "generation": 1}})
    memo = kopf.Memo(runtimes=ObjectRuntimes(), metrics=metrics)
    await modelartspool_event(body=body, uid="uid-a", memo=memo, type="MODIFIED")
    assert set(metrics.pool_reports()) == {("ns", "a"), ("ns", "b")}
    await modelartspool_event(body=body, uid="uid-a", memo=memo, type="DELETED")
    assert set(metrics.pool_reports()) == {("ns", "b")}
