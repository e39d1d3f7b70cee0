"""The API server request slots of ``KubeApi``: bounded, in order, urgent requests before Events, and a cancelled
waiter never loses a slot."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from modelarts_operator.controller import kube
from modelarts_operator.controller.kube import KubeApi
from modelarts_operator.slots import Slots as _Slots


async def _hold(slots: _Slots, name: str, order: list[str], release: asyncio.Event, *, background: bool) -> None:
    async with slots.slot(background=background):
        order.append(name)
        await release.wait()


async def test_waiters_get_slots_urgent_first_then_in_order() -> None:
    slots, release = _Slots(1), asyncio.Event()
    order: list[str] = []
    first = asyncio.create_task(_hold(slots, "first", order, release, background=False))
    await asyncio.sleep(0)
    waiters = [
        asyncio.create_task(_hold(slots, name, order, release, background=name.startswith("event")))
        for name in ("event-1", "write-1", "event-2", "write-2")
    ]
    await asyncio.sleep(0)
    assert order == ["first"]  # one slot: everybody else waits
    release.set()
    await asyncio.gather(first, *waiters)
    assert order == ["first", "write-1", "write-2", "event-1", "event-2"]


async def test_a_cancelled_waiter_gives_its_turn_away() -> None:
    slots, release = _Slots(1), asyncio.Event()
    order: list[str] = []
    first = asyncio.create_task(_hold(slots, "first", order, release, background=False))
    await asyncio.sleep(0)
    cancelled = asyncio.create_task(_hold(slots, "cancelled", order, release, background=False))
    last = asyncio.create_task(_hold(slots, "last", order, release, background=True))
    await asyncio.sleep(0)
    cancelled.cancel()
    release.set()
    await asyncio.gather(first, last)
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    assert order == ["first", "last"]
    async with asyncio.timeout(1):  # the slot came back: a new request goes at once
        async with slots.slot(background=False):
            pass


async def test_no_more_requests_in_flight_than_connections() -> None:
    in_flight, peak = 0, 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        return httpx.Response(201, json={})

    api = KubeApi(httpx.AsyncClient(base_url="https://api.test", transport=httpx.MockTransport(handler)))
    event = {"metadata": {"namespace": "team", "name": "e"}}
    await asyncio.gather(*(api.post_event(event) for _ in range(5 * kube.CONNECTIONS)))
    await api.aclose()
    assert peak == kube.CONNECTIONS
