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
