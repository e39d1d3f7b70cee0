"""DELETEs first (``controller/urgency.py``): status writes and Events wait while deleted objects still have a
``DELETE`` to send, never longer than the cap, and a worker never waits for itself."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from modelarts_operator.controller.events import EventPoster
from modelarts_operator.controller.urgency import DeletesFirst
from modelarts_operator.controller.worker import FINALIZER, PoolWorker


async def test_calm_returns_at_once_when_no_delete_is_waiting() -> None:
    first = DeletesFirst(max_defer_seconds=60)
    async with asyncio.timeout(1):
        await first.calm()


async def test_calm_waits_until_every_marked_object_has_sent_its_delete() -> None:
    first = DeletesFirst(max_defer_seconds=60)
    first.marked("a")
    first.marked("b")
    waiting = asyncio.create_task(first.calm())
    await asyncio.sleep(0.01)
    first.done("a")
    await asyncio.sleep(0.01)
    assert not waiting.done()  # "b" still has its DELETE to send
    first.done("b")
    async with asyncio.timeout(1):
        await waiting
    assert first.waiting == 0


async def test_calm_never_waits_longer_than_the_cap() -> None:
    first = DeletesFirst(max_defer_seconds=0.05)
    first.marked("stuck")
    async with asyncio.timeout(1):
        await first.calm()  # the marked object never reports: the write goes anyway
    assert first.waiting == 1
    first.done("never-marked")  # harmless
    assert first.waiting == 1


class RecordingKube:
    def __init__(self) -> None:
        self.posted: list[dict[str, Any]] = []

    async def post_event(self, event: dict[str, Any]) -> None:
        self.posted.append(event)


async def test_events_are_stamped_when_posted_but_sent_after_the_pending_deletes() -> None:
    first = DeletesFirst(max_defer_seconds=60)
    kube = RecordingKube()
    poster = EventPoster(kube, "me", wait=first.calm)  # type: ignore[arg-type]
    first.marked("other")
    poster.post({"namespace": "ns", "name": "p", "uid": "u"}, warning=False, reason="Deleted", message="gone")
    await asyncio.sleep(0.05)
    assert kube.posted == []
    first.done("other")
    await poster.drain()
    assert [e["reason"] for e in kube.posted] == ["Deleted"]


def deleting_body(uid: str, *, ours: bool = True) -> dict[str, Any]:
    return {
        "metadata": {
            "name": uid,
            "namespace": "ns",
            "uid": uid,
            "resourceVersion": "3",
            "deletionTimestamp": "2026-11-29T00:00:00Z",
            "finalizers": [FINALIZER] if ours else ["someone.else/finalizer"],
        },
        "spec": {},
        "status": {},
    }


def worker_with(first: DeletesFirst, uid: str, **context: Any) -> PoolWorker:
    return PoolWorker(context=SimpleNamespace(deletes_first=first, **context), uid=uid)  # type: ignore[arg-type]


def test_a_deleted_object_holding_our_finalizer_counts_as_waiting_until_its_first_deletion_pass() -> None:
    first = DeletesFirst()
    worker_with(first, "a").observe_event(deleting_body("a"))
    worker_with(first, "b").observe_event(deleting_body("b", ours=False))  # not ours to delete: no DELETE coming
    assert first.waiting == 1 and first.is_waiting("a")


async def test_the_first_deletion_pass_stops_holding_back_writes_whatever_its_outcome() -> None:
    first = DeletesFirst(max_defer_seconds=60)
    worker = worker_with(
        first,
        "a",
        timing=SimpleNamespace(backoff=lambda failures: 3600.0),
        metrics=SimpleNamespace(count_reconcile_error=lambda reason: None, report_pool=lambda *args: None),
    )
    worker.observe_event(deleting_body("a"))

    async def failing_pass(body: dict[str, Any]) -> float | None:
        raise RuntimeError("boom")

    worker._pass = failing_pass  # type: ignore[method-assign]
    task = asyncio.create_task(worker.run())
    async with asyncio.timeout(1):
        await first.calm()
    assert first.waiting == 0
    # Later events of the same object (our own writes echoed) do not mark it again.
    worker.observe_event({**deleting_body("a"), "metadata": {**deleting_body("a")["metadata"], "resourceVersion": "4"}})
    assert first.waiting == 0
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_deletion_pass_write_releases_its_own_mark_and_waits_for_the_others() -> None:
    first = DeletesFirst(max_defer_seconds=60)
    mine = worker_with(first, "a")
    mine.observe_event(deleting_body("a"))
    first.marked("b")
    mine._deleting_now, mine._pass_tick = True, first.tick()
    write = asyncio.create_task(mine._before_write())
    await asyncio.sleep(0.01)
    assert not first.is_waiting("a") and not write.done()  # "b" still has its DELETE to send
    first.done("b")
    async with asyncio.timeout(1):
        await write


async def test_a_sync_pass_write_of_an_object_marked_meanwhile_does_not_wait_for_itself() -> None:
    first = DeletesFirst(max_defer_seconds=60)
    worker = worker_with(first, "a")
    worker.observe_event(deleting_body("a"))  # marked while a sync pass was running
    first.marked("b")
    worker._deleting_now = False
    async with asyncio.timeout(1):
        await worker._before_write()
    assert first.is_waiting("a")  # its DELETE is still to come


async def test_other_writes_wait_for_the_pending_deletes() -> None:
    first = DeletesFirst(max_defer_seconds=60)
    first.marked("b")
    worker = worker_with(first, "a")
    write = asyncio.create_task(worker._before_write())
    await asyncio.sleep(0.01)
    assert not write.done()
    first.done("b")
    async with asyncio.timeout(1):
        await write


async def test_a_write_waiting_in_a_deletion_pass_goes_at_once_when_its_own_pool_vanishes_and_the_mark_stays() -> None:
    """A heartbeat write of a deleting object waits for the others; the list then shows its pool gone: the write
    must not wait for itself, and the confirmation after the pass still counts as waiting."""
    first = DeletesFirst(max_defer_seconds=60)
    worker = worker_with(first, "a")
    first.marked("b")
    worker._deleting_now, worker._pass_tick = True, first.tick()
    write = asyncio.create_task(worker._before_write())
    await asyncio.sleep(0.01)
    assert not write.done()
    worker._confirm_next()  # the pool list no longer shows the pool
    async with asyncio.timeout(1):
        await write
    first.done("a", marked_before=worker._pass_tick)  # the end of that pass
    assert first.is_waiting("a")  # the confirmation is the next pass
    first.done("a", marked_before=first.tick())  # ...which clears it
    assert not first.is_waiting("a")


async def test_echoes_of_writes_during_the_first_deletion_pass_do_not_mark_the_object_again() -> None:
    first = DeletesFirst(max_defer_seconds=60)
    worker = worker_with(first, "a")
    worker.observe_event(deleting_body("a"))
    worker._deleting_now, worker._pass_tick = True, first.tick()
    await worker._before_write()  # its status write after the DELETE
    echo = deleting_body("a")
    echo["metadata"]["resourceVersion"] = "9"
    worker.observe_event(echo)
    assert first.waiting == 0


async def test_many_waiting_writes_all_go_when_the_last_delete_is_sent() -> None:
    first = DeletesFirst(max_defer_seconds=60)
    for who in ("x", "y"):
        first.marked(who)
    writes = [asyncio.create_task(first.calm(f"w{i}")) for i in range(50)]
    events = [asyncio.create_task(first.calm()) for _ in range(5)]
    await asyncio.sleep(0.01)
    first.done("x")
    await asyncio.sleep(0.01)
    assert not any(task.done() for task in writes + events)
    first.done("y")
    async with asyncio.timeout(1):
        await asyncio.gather(*writes, *events)
    assert first._own == {} and first._calm is None
