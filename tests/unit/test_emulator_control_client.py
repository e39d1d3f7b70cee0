"""The control client's two faces offer the same API, and both read answers and errors the same way."""

from __future__ import annotations

import inspect
import json

import httpx
import pytest

from modelarts_emulator.control_client import AsyncControlClient, ControlClient, ControlError


def public_methods(cls: type) -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(member)
        for name, member in vars(cls).items()
        if callable(member) and not name.startswith("_") and name not in ("close", "send")
    }


def test_sync_and_async_clients_offer_the_same_methods_and_parameters() -> None:
    sync, async_ = public_methods(ControlClient), public_methods(AsyncControlClient)
    assert sync.keys() == async_.keys()
    for name in sync:
        assert sync[name].parameters == async_[name].parameters, name
        assert inspect.iscoroutinefunction(getattr(AsyncControlClient, name)), name


def recording_transport(seen: list[httpx.Request]) -> httpx.MockTransport:
    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path.endswith("/pools/missing"):
            return httpx.Response(404, json={"error_code": "ModelArts.50015001", "error_msg": "pool not found"})
        if request.url.path.endswith("/faults") and request.method == "POST":
            return httpx.Response(201, json={"id": "1", **json.loads(request.content)})
        if request.url.path.endswith("/requests"):
            return httpx.Response(200, json={"requests": [{"method": "GET"}]})
        return httpx.Response(200, json={})

    return httpx.MockTransport(answer)


async def test_both_send_the_same_requests_and_read_the_same_answers() -> None:
    sync_seen: list[httpx.Request] = []
    async_seen: list[httpx.Request] = []
    url = "http://127.0.0.1:1/"
    with httpx.Client(transport=recording_transport(sync_seen)) as http, ControlClient(url, http=http) as sync:
        assert sync.add_fault(method="GET", status=503, times=2) == {
            "id": "1",
            "method": "GET",
            "status": 503,
            "times": 2,
        }
        assert sync.requests(method="GET") == [{"method": "GET"}]
        sync.set_deletion("p", "fail", status=403)
        with pytest.raises(ControlError) as missing:
            sync.remove_pool("missing")
    async with (
        httpx.AsyncClient(transport=recording_transport(async_seen)) as async_http,
        AsyncControlClient(url, http=async_http) as aio,
    ):
        assert await aio.add_fault(method="GET", status=503, times=2) == {
            "id": "1",
            "method": "GET",
            "status": 503,
            "times": 2,
        }
        assert await aio.requests(method="GET") == [{"method": "GET"}]
        await aio.set_deletion("p", "fail", status=403)
        with pytest.raises(ControlError) as async_missing:
            await aio.remove_pool("missing")
    assert [(r.method, str(r.url), r.content) for r in sync_seen] == [
        (r.method, str(r.url), r.content) for r in async_seen
    ]
    assert str(sync_seen[1].url) == "http://127.0.0.1:1/_emulator/requests?method=GET"
    assert json.loads(sync_seen[2].content) == {"mode": "fail", "status": 403}  # unset options are not sent
    for error in (missing.value, async_missing.value):
        assert (error.status, error.error_code, error.error_msg) == (404, "ModelArts.50015001", "pool not found")
