"""The shared pool list's loop: when a list fails, the next one waits; it never spins.

Found on the local control plane: after a healthy list, a project's credentials were refused, and the lockout
guard refused every later list before sending anything. Such a call returns without ever suspending, and the
next list was due at once (the wait was counted from the last *successful* list), so the observer's loop never
gave the event loop back: the operator stopped answering /healthz and every other object stalled.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import httpx
from modelarts_fakes import pool_json

from modelarts_operator.controller.observer import LIST_RETRY_SECONDS, PoolListObserver
from modelarts_operator.modelarts.auth import TokenAuth
from modelarts_operator.modelarts.client import ModelArtsClient
from modelarts_operator.modelarts.errors import CredentialsLocked


class FrozenClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def listed(observer: PoolListObserver, condition: Callable[[], bool]) -> None:
    """Wait (bounded) until a list call has ended with ``condition`` true."""
    async with asyncio.timeout(5), observer._listed:
        await observer._listed.wait_for(condition)


async def test_a_list_refused_before_sending_is_retried_later_not_at_once() -> None:
    calls: list[str] = []

    async def before_request(operation: str) -> None:
        calls.append(operation)
        if len(calls) > 10:
            raise RuntimeError("the observer lists in a tight loop")
        if len(calls) > 1:  # what the lockout guard does: refuse without sending, without suspending
            raise CredentialsLocked("refused moments ago", operation=operation, status_code=401)

    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=json.dumps({"items": []})))
    clock = FrozenClock()
    async with httpx.AsyncClient(transport=transport) as http:
        client = ModelArtsClient(
            http,
            endpoint="https://modelarts.cn-north-4.myhuaweicloud.com",
            project_id="p",
            auth=TokenAuth("token"),
            before_request=before_request,
        )
        observer = PoolListObserver(key=("e", "p", "0", "k"), client=client, page_size=10, clock=clock)
        observer.subscribe("ns/a", "pool-a", 60.0, asyncio.Event())
        await listed(observer, lambda: observer.snapshot is not None)
        clock.now += 60.0  # the next list is due
        observer._changed.set()
        await listed(observer, lambda: observer.last_error is not None or len(calls) > 2)
        for _ in range(50):  # give the loop every chance to spin
            await asyncio.sleep(0)
        assert len(calls) == 2, f"{len(calls)} list calls: the observer did not wait after a failure"
        assert observer._due() == LIST_RETRY_SECONDS
        await observer.stop()


async def test_an_observer_nobody_needs_makes_no_call() -> None:
    calls: list[str] = []

    async def before_request(operation: str) -> None:
        calls.append(operation)

    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=json.dumps({"items": []})))
    clock = FrozenClock()
    async with httpx.AsyncClient(transport=transport) as http:
        client = ModelArtsClient(
            http,
            endpoint="https://modelarts.cn-north-4.myhuaweicloud.com",
            project_id="p",
            auth=TokenAuth("token"),
            before_request=before_request,
        )
        observer = PoolListObserver(key=("e", "p", "0", "k"), client=client, page_size=10, clock=clock)
        observer.subscribe("ns/a", "pool-a", 5.0, asyncio.Event())
        await listed(observer, lambda: observer.snapshot is not None)
        observer.unsubscribe("ns/a")  # the object now uses other credentials
        clock.now += 3600.0  # long past any interval
        observer._changed.set()
        for _ in range(50):
            await asyncio.sleep(0)
        assert calls == ["list"]
        # Someone asking for a fresh answer still gets a list.
        snapshot = await observer.fresh(after=clock.now - 1, wait_seconds=5.0)
        assert snapshot is not None and calls == ["list", "list"]
        await observer.stop()


async def test_a_pool_gone_from_the_list_calls_its_deleting_object_back_once_before_the_wake() -> None:
    listing = {"kind": "PoolList", "items": [pool_json(name="pool-a"), pool_json(name="pool-b")]}
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=json.dumps(listing)))
    async with httpx.AsyncClient(transport=transport) as http:
        client = ModelArtsClient(
            http, endpoint="https://modelarts.cn-north-4.myhuaweicloud.com", project_id="p", auth=TokenAuth("t")
        )
        observer = PoolListObserver(key=("e", "p", "0", "k"), client=client, page_size=10, clock=FrozenClock())
        gone: list[str] = []
        wake_a, wake_b = asyncio.Event(), asyncio.Event()

        def on_gone() -> None:
            assert not wake_a.is_set(), "the object must count as waiting before it can run"
            gone.append("ns/a")

        observer.subscribe("ns/a", "pool-a", 5.0, wake_a, on_gone)
        observer.subscribe("ns/b", "pool-b", 5.0, wake_b)  # not deleting: nothing to confirm
        await observer._list_once()
        assert observer.last_error is None, observer.last_error
        assert gone == [] and observer.interests["ns/a"].delivered is not None
        wake_a.clear()
        wake_b.clear()
        listing["items"] = []
        await observer._list_once()
        assert gone == ["ns/a"] and wake_a.is_set() and wake_b.is_set()
        await observer._list_once()  # still gone: nothing new to say
        assert gone == ["ns/a"]
        await observer.stop()


async def test_lists_come_sooner_while_pools_deleted_together_are_ending() -> None:
    names = ["pool-a", "pool-b", "pool-c"]
    listing = {"kind": "PoolList", "items": [pool_json(name=name) for name in names]}
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=json.dumps(listing)))
    async with httpx.AsyncClient(transport=transport) as http:
        client = ModelArtsClient(
            http, endpoint="https://modelarts.cn-north-4.myhuaweicloud.com", project_id="p", auth=TokenAuth("t")
        )
        observer = PoolListObserver(key=("e", "p", "0", "k"), client=client, page_size=10, clock=FrozenClock())
        for name in names:
            observer.subscribe(f"ns/{name}", name, 5.0, asyncio.Event(), on_gone=lambda: None)
        observer.subscribe("ns/stable", "pool-x", 60.0, asyncio.Event())  # not deleting
        await observer._list_once()
        assert observer._interval() == 5.0  # all still there
        listing["items"] = [pool_json(name="pool-c")]
        await observer._list_once()
        assert observer._interval() == 2.5  # two ended, one to go: look again sooner
        await observer._list_once()
        assert observer._interval() == 5.0  # nothing ended since: back to the interval
        listing["items"] = []
        await observer._list_once()
        assert observer._interval() == 5.0  # the last one ended: nobody left to wait for
        await observer.stop()


async def test_lists_come_sooner_near_the_end_the_projects_recent_deletions_predict() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=json.dumps({"items": []})))
    async with httpx.AsyncClient(transport=transport) as http:
        client = ModelArtsClient(
            http, endpoint="https://modelarts.cn-north-4.myhuaweicloud.com", project_id="p", auth=TokenAuth("t")
        )
        clock = FrozenClock()
        observer = PoolListObserver(key=("e", "p", "0", "k"), client=client, page_size=10, clock=clock)
        observer.subscribe("ns/a", "pool-a", 5.0, asyncio.Event(), on_gone=lambda: None, deleting_since=clock.now)
        clock.now += 100.0
        assert observer._interval() == 5.0  # nothing learnt yet: no prediction
        for seconds in (118.0, 125.0, 121.0):
            observer.deletion_took(seconds)  # typical: 121 s
        assert observer._interval() == 5.0  # 21 s before the predicted end
        clock.now += 12.0
        assert observer._interval() == 2.5  # within two intervals before it (a recorded time includes seeing it)
        clock.now += 13.0
        assert observer._interval() == 2.5  # just past it
        clock.now += 10.0
        assert observer._interval() == 5.0  # long past: back to the interval
        await observer.stop()
