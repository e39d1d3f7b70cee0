"""Fault injection over HTTP: status and error body, Retry-After, delay, times, dropped connections."""

from __future__ import annotations

import time

import httpx
import pytest
from emulator_helpers import SignedClient, pool_body

from modelarts_emulator.control_client import AsyncControlClient, ControlError


async def test_status_and_error_body(api: SignedClient, control: AsyncControlClient) -> None:
    fault = await control.add_fault(
        method="GET", path_regex=r"/pools$", status=503, error_code="ModelArts.50005000", error_msg="try later"
    )
    response = await api.list()
    assert response.status_code == 503
    assert response.json() == {"error_code": "ModelArts.50005000", "error_msg": "try later"}
    assert response.headers["X-Request-Id"]
    (entry,) = await control.requests()
    assert entry["fault"] == fault["id"] and entry["status"] == 503
    assert entry["error_code"] == "ModelArts.50005000" and entry["dropped"] is False
    # Only the matching method and path: a create goes through.
    assert (await api.create(pool_body("pool-ok"))).status_code == 200
    assert (await api.get(f"pool-ok-{api.project_id}")).status_code == 200


async def test_defaults_for_throttling(api: SignedClient, control: AsyncControlClient) -> None:
    await control.add_fault(status=429, retry_after=3, times=1)
    response = await api.list()
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "3"
    # The gateway's current code and words (modelarts-api.md section 10; APIG.0308 is the older spelling).
    assert response.json() == {
        "error_code": "APIGW.0308",
        "error_msg": "The throttling threshold has been reached: policy user over ratelimit,limit:100,time:1 minute",
    }


async def test_times_limits_the_fault(api: SignedClient, control: AsyncControlClient) -> None:
    await control.add_fault(method="GET", status=500, times=2)
    statuses = [(await api.list()).status_code for _ in range(3)]
    assert statuses == [500, 500, 200]
    assert await control.faults() == []


async def test_forever_until_removed(api: SignedClient, control: AsyncControlClient) -> None:
    fault = await control.add_fault(method="get", status=502)
    assert [(await api.list()).status_code for _ in range(3)] == [502, 502, 502]
    (listed,) = await control.faults()
    assert listed["hits"] == 3 and listed["times"] is None
    await control.remove_fault(fault["id"])
    assert (await api.list()).status_code == 200


async def test_fault_before_auth(http: httpx.AsyncClient, control: AsyncControlClient, api: SignedClient) -> None:
    await control.add_fault(status=429, times=1)
    assert (await http.get(api.url + api.pools_path())).status_code == 429  # unsigned, yet throttled


async def test_delay_only_delays_the_real_answer(api: SignedClient, control: AsyncControlClient) -> None:
    await control.add_fault(method="GET", delay_seconds=0.5, times=1)
    started = time.monotonic()
    response = await api.list()
    assert time.monotonic() - started >= 0.5
    assert response.status_code == 200


async def test_delay_makes_a_client_time_out(api: SignedClient, control: AsyncControlClient) -> None:
    await control.add_fault(method="GET", delay_seconds=2, status=500, times=1)
    with pytest.raises(httpx.ReadTimeout):
        await api.http.get(api.url + api.pools_path(), timeout=0.3)


async def test_drop_connection(api: SignedClient, control: AsyncControlClient) -> None:
    await control.add_fault(method="POST", drop_connection=True, times=1)
    with pytest.raises(httpx.RemoteProtocolError):
        await api.create(pool_body("pool-drop"))
    (entry,) = await control.requests(method="POST")
    assert entry["dropped"] is True and entry["status"] is None
    # The dropped create never reached the world; the next one does.
    assert (await api.create(pool_body("pool-drop"))).status_code == 200


async def test_invalid_fault_rules(control: AsyncControlClient) -> None:
    for rule in ({"path_regex": "("}, {}, {"status": 99}, {"status": "500"}):
        with pytest.raises(ControlError) as refused:
            await control.add_fault(**rule)
        assert refused.value.status == 400, rule


async def test_clear_faults(api: SignedClient, control: AsyncControlClient) -> None:
    await control.add_fault(status=500)
    await control.add_fault(status=501)
    assert len(await control.faults()) == 2
    await control.clear_faults()
    assert await control.faults() == []
    assert (await api.list()).status_code == 200
