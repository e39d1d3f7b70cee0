"""The real cloud's habits over real HTTP with real signatures: read-after-create lag, failed creation, gateway
lockout and throttling, prepaid refusal, a second DELETE, the documented bucket shape, and list paging."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from emulator_helpers import SignedClient, eventually, pool_body

from modelarts_emulator.config import Behaviour, EmulatorConfig, Gateway, Timings
from modelarts_emulator.control_client import AsyncControlClient

FAST = Timings(create_seconds=0.6, delete_seconds=1.0, scale_seconds=0.6)
SLOW_CREATE = Timings(create_seconds=30, delete_seconds=1.0, scale_seconds=0.6)
LOCKED = "Incorrect IAM authentication information: AK access failed to reach the limit,forbidden."


def config(timings: Timings = FAST, **changes: Any) -> EmulatorConfig:
    behaviour = Behaviour(**{k: v for k, v in changes.items() if k in fields(Behaviour)})
    gateway = Gateway(**{k: v for k, v in changes.items() if k in fields(Gateway)})
    return EmulatorConfig(timings=timings, behaviour=behaviour, gateway=gateway)


def fields(cls: type) -> set[str]:
    return {item.name for item in dataclasses.fields(cls)}


async def names(api: SignedClient, query: list[tuple[str, str]] | None = None) -> list[str]:
    response = await api.list(query or [])
    assert response.status_code == 200, response.text
    return [item["metadata"]["name"] for item in response.json()["items"]]


@pytest.mark.parametrize("emulator_config", [config(visibility_delay_seconds=1.0)])
async def test_read_after_create_lag(api: SignedClient) -> None:
    created = await api.create(pool_body("pool-lag"))
    assert created.status_code == 200
    name = created.json()["metadata"]["name"]
    missing = await api.get(name)
    assert missing.status_code == 404 and missing.json()["error_code"] == "ModelArts.50015001"
    assert name not in await names(api)
    again = await api.create(pool_body("pool-lag"))
    assert again.status_code == 409 and again.json()["error_code"] == "ModelArts.50015000"
    await eventually(lambda: api.get(name), lambda r: r.status_code == 200, within=5)
    assert name in await names(api)


@pytest.mark.parametrize("emulator_config", [config(SLOW_CREATE)])
async def test_failed_creation(api: SignedClient, control: AsyncControlClient) -> None:
    name = (await api.create(pool_body("pool-doomed", count=2))).json()["metadata"]["name"]
    answered = await control.set_creation(name, "fail", message="insufficient capacity")
    assert answered["status"]["phase"] == "CreationFailed"
    assert (await api.get(name)).status_code == 404
    assert name not in await names(api)
    assert await names(api, [("status", "creating")]) == []
    failed = (await api.list([("status", "failed")])).json()["items"]
    assert [item["metadata"]["name"] for item in failed] == [name]
    assert failed[0]["status"]["phase"] == "CreationFailed"
    assert failed[0]["status"]["message"] == "insufficient capacity"
    assert failed[0]["status"]["resources"]["creationFailed"][0]["count"] == 2
    assert (await api.create(pool_body("pool-doomed"))).status_code == 200  # the display name is free again


@pytest.mark.parametrize("emulator_config", [config(lockout_after=2, lockout_seconds=1.5)])
async def test_gateway_lockout(api: SignedClient, control: AsyncControlClient) -> None:
    for _ in range(2):
        bad = await api.request("GET", api.pools_path(), secret_key="not-the-secret")
        assert bad.status_code == 401 and bad.json()["error_msg"] != LOCKED
    locked = await api.list()  # a correct signature, refused
    assert locked.status_code == 401 and locked.json() == {"error_code": "APIGW.0301", "error_msg": LOCKED}
    assert list(await control.locked_access_keys()) == [api.access_key]
    last = (await control.requests())[-1]
    assert (last["status"], last["error_code"], last["access_key"]) == (401, "APIGW.0301", None)
    await eventually(api.list, lambda r: r.status_code == 200, within=10, interval=0.2)
    assert await control.locked_access_keys() == {}


@pytest.mark.parametrize("emulator_config", [config(rate_limit_per_minute=3)])
async def test_gateway_throttling(api: SignedClient) -> None:
    assert [(await api.list()).status_code for _ in range(3)] == [200, 200, 200]
    throttled = await api.list()
    assert throttled.status_code == 429
    assert throttled.json() == {
        "error_code": "APIGW.0308",
        "error_msg": "The throttling threshold has been reached: policy user over ratelimit,limit:3,time:1 minute",
    }


async def test_unknown_access_key_is_echoed(api: SignedClient) -> None:
    response = await api.request("GET", api.pools_path(), access_key="AKNOTKNOWN0000000000")
    assert response.status_code == 401
    assert response.json()["error_msg"] == (
        "Incorrect IAM authentication information: Get secretKey failed,ak:AKNOTKNOWN0000000000,err:ak not exist"
    )


async def test_prepaid_pool_refuses_delete(api: SignedClient, control: AsyncControlClient) -> None:
    body = pool_body("pool-prepaid")
    body["metadata"]["annotations"].update(
        {"os.modelarts/billing.mode": "1", "os.modelarts/period.type": "2", "os.modelarts/period.num": "1"}
    )
    name = (await control.create_pool(body, ready=True))["metadata"]["name"]
    refused = await api.delete(name)
    assert refused.status_code == 403
    assert refused.json()["error_code"] == "ModelArts.50015002" and "unsubscribe" in refused.json()["error_msg"]
    assert (await api.get(name)).json()["status"]["phase"] == "Running"


@pytest.mark.parametrize("emulator_config", [config(second_delete="error")])
async def test_second_delete_as_an_error(api: SignedClient) -> None:
    name = (await api.create(pool_body("pool-twice"))).json()["metadata"]["name"]
    assert (await api.delete(name)).status_code == 200
    second = await api.delete(name)
    assert second.status_code == 400
    assert second.json() == {"error_code": "ModelArts.50004000", "error_msg": "The pool is being deleted."}


@pytest.mark.parametrize("emulator_config", [config(resources_shape="object")])
async def test_documented_single_object_buckets(api: SignedClient, control: AsyncControlClient) -> None:
    name = (await control.create_pool(pool_body("pool-object", count=2), ready=True))["metadata"]["name"]
    available = (await api.get(name)).json()["status"]["resources"]["available"]
    assert available == {"flavor": "modelarts.vm.cpu.8ud", "count": 2, "maxCount": 2}


async def test_status_entries_with_azs(api: SignedClient) -> None:
    azs = [{"az": "cn-north-4a", "count": 1}, {"az": "cn-north-4b", "count": 1}]
    body = pool_body("pool-zones", count=2, pool_type="Logical")
    body["spec"]["resources"][0]["azs"] = azs
    name = (await api.create(body)).json()["metadata"]["name"]
    (creating,) = (await api.get(name)).json()["status"]["resources"]["creating"]
    assert creating["azs"] == azs


async def test_dedicate_max_count_must_equal_count(api: SignedClient) -> None:
    body = pool_body("pool-physical", count=2)
    body["spec"]["resources"][0]["maxCount"] = 4
    refused = await api.create(body)
    assert refused.status_code == 400 and "maxCount must equal count" in refused.json()["error_msg"]


async def test_paging_with_limit_and_continue(api: SignedClient) -> None:
    created = sorted([(await api.create(pool_body(f"pool-page-{i}"))).json()["metadata"]["name"] for i in range(5)])
    seen: list[str] = []
    query: list[tuple[str, str]] = [("limit", "2")]
    while True:
        answer = (await api.list(query)).json()
        seen += [item["metadata"]["name"] for item in answer["items"]]
        token = answer.get("metadata", {}).get("continue")
        if token is None:
            break
        query = [("limit", "2"), ("continue", token)]
    assert seen == created
    for bad in ([("continue", "garbage")], [("limit", "0")], [("limit", "two")]):
        refused = await api.list(bad)
        assert refused.status_code == 400 and refused.json()["error_code"] == "ModelArts.50004000", bad
