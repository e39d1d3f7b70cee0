"""Tier 1: the controller's own logic, without a cluster (the e2e tier runs it for real)."""

from __future__ import annotations

import asyncio
import inspect
import logging
from typing import Any, Protocol, cast

import kopf

from modelarts_operator.controller import claims
from modelarts_operator.controller.handlers import Controller, modelartspool_event
from modelarts_operator.controller.runner import _RoutineToDebugFilter
from modelarts_operator.controller.worker import PoolWorker
from modelarts_operator.reconcile.view import DisplayNameClaim


class EventHandler(Protocol):
    """``modelartspool_event`` as written, before kopf's decorator retypes it."""

    async def __call__(self, event: kopf.RawEvent, uid: str, memo: kopf.Memo, **kwargs: Any) -> None: ...


def index(spec: dict[str, Any], status: dict[str, Any], name: str = "pool-a") -> dict[tuple[str, ...], Any]:
    return claims.pool_claims("ns", name, spec, status, "t0")


def test_index_keys_recorded_pools_wanted_display_names_and_projects() -> None:
    assert index({}, {"poolName": "p-1", "projectId": "proj", "project": "team-a"}) == {
        ("pool", "p-1"): "ns/pool-a",
        ("display", "pool-a"): DisplayNameClaim("ns/pool-a", "t0", True, "proj"),
        ("project", "team-a"): "ns/pool-a",
    }
    assert index({"displayName": "other", "projectId": "p2"}, {}) == {
        ("display", "other"): DisplayNameClaim("ns/pool-a", "t0", False, "p2"),
    }
    # Adopting objects claim only the pool they recorded, never a display name.
    assert index({"poolName": "legacy"}, {}) == {}


def test_index_claims_answers_from_the_index_per_project() -> None:
    data: dict[tuple[str, str], list[str] | list[DisplayNameClaim]] = {
        ("pool", "p-1"): ["ns/a"],
        ("display", "x"): [
            DisplayNameClaim("ns/a", "t0", True, "proj"),
            DisplayNameClaim("ns/b", "t1", False, None),
            DisplayNameClaim("ns/c", "t2", True, "elsewhere"),
        ],
        ("project", "team-a"): ["ns/a", "ns/b"],
    }
    answered = claims.IndexClaims(data)
    assert answered.pool_owners("p-1") == {"ns/a"} and answered.pool_owners("p-2") == set()
    # The same display name in another project is no rival; an object whose project is not known yet might be.
    assert [c.key for c in answered.display_name_owners("proj", "x")] == ["ns/a", "ns/b"]
    assert answered.pools_of_project("team-a") == 2 and answered.pools_of_project("none") == 0


def test_invalid_project_specs_are_left_out_of_the_index() -> None:
    good = {"projectId": "p", "region": "cn-north-4", "credentialsSecretRef": {"namespace": "ops", "name": "s"}}
    assert set(claims.project_spec("ok", good)) == {"ok"}
    assert claims.project_spec("bad", {"projectId": "p"}) == {}


def test_routine_kopf_lines_become_debug() -> None:
    routine = logging.LogRecord(
        "kopf.objects", logging.INFO, "", 0, "Handler 'modelartspool_event' succeeded.", None, None
    )
    real = logging.LogRecord("kopf.objects", logging.ERROR, "", 0, "Handler 'x' failed temporarily: boom", None, None)
    log_filter = _RoutineToDebugFilter()
    log_filter.filter(routine)
    assert routine.levelno == logging.DEBUG
    assert log_filter.filter(real) and real.levelno == logging.ERROR


def body(rv: int, **meta: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "p", "namespace": "ns", "uid": "u1", "resourceVersion": str(rv), **meta},
        "spec": {},
        "status": {},
    }


def test_worker_keeps_the_freshest_body_and_ignores_its_own_writes_coming_back() -> None:
    worker = PoolWorker(context=None, uid="u1")  # type: ignore[arg-type]
    worker.observe_event(body(5))
    assert worker.wake.is_set() and worker.body is not None
    worker.wake.clear()
    worker._written(body(7))  # what a status write of ours returned
    worker.observe_event(body(6))  # an older event arriving late
    assert worker.body is not None and worker.body["metadata"]["resourceVersion"] == "7"
    assert not worker.wake.is_set()
    worker.observe_event(body(7))  # our own write echoed by the watch: nothing to do
    assert not worker.wake.is_set()
    worker.observe_event(body(8, generation=2))  # somebody else's change
    assert worker.wake.is_set()
    worker.observe_event(None)
    assert worker.body is None


async def test_pool_events_start_one_worker_per_object_on_the_loop() -> None:
    """kopf runs a plain ``def`` handler in a worker thread, where ``asyncio.Event.set()`` is unsafe and does not
    wake the loop; the event handler must be a coroutine so kopf awaits it on the loop itself."""
    assert inspect.iscoroutinefunction(modelartspool_event)
    started: list[str] = []

    class Quiet(Controller):
        async def _run_pool(self, worker: PoolWorker) -> None:
            started.append(worker.uid)
            await asyncio.sleep(3600)

    controller = Quiet(context=None)  # type: ignore[arg-type]
    controller.pool_event("u1", body(1))
    controller.pool_event("u1", body(2))
    await asyncio.sleep(0)
    assert started == ["u1"] and len(controller.pools) == 1
    worker = controller.pools["u1"]
    assert worker.body is not None and worker.body["metadata"]["resourceVersion"] == "2"
    controller.pool_event("u1", None)
    assert worker.body is None
    await controller.stop()


async def test_a_deleted_object_takes_its_series_along() -> None:
    """However the object went (even with its finalizer stripped by hand), its per-object series go with it."""
    import types

    from modelarts_operator.controller.context import Indices
    from modelarts_operator.metrics import Metrics, PoolReport

    metrics = Metrics()
    metrics.report_pool("ns", "a", PoolReport(phase="Deleting", deletion_started=1.0, deletion_stalled=True))
    metrics.report_pool("ns", "b", PoolReport(phase="Running"))

    class Quiet(Controller):
        async def _run_pool(self, worker: PoolWorker) -> None:
            await asyncio.sleep(3600)

    controller = Quiet(context=types.SimpleNamespace(metrics=metrics, indices=Indices()))  # type: ignore[arg-type]
    memo = kopf.Memo(controller=controller)
    obj: kopf.RawBody = {"metadata": {"uid": "uid-a", "namespace": "ns", "name": "a", "resourceVersion": "1"}}
    # kopf's decorator types the handler as its WatchingFn protocol (every kwarg kopf passes); the function
    # itself takes what it reads and **kwargs, which is all this test passes.
    handler = cast(EventHandler, modelartspool_event)
    await handler(event={"type": "MODIFIED", "object": obj}, uid="uid-a", memo=memo)
    assert set(metrics.pool_reports()) == {("ns", "a"), ("ns", "b")}
    await handler(event={"type": "DELETED", "object": obj}, uid="uid-a", memo=memo)
    assert set(metrics.pool_reports()) == {("ns", "b")}
    await controller.stop()
