"""The /_emulator/ control API: recorded requests, forced phases, failing and stalled deletion, drift, reset."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from emulator_helpers import SignedClient, eventually, pool_body

from modelarts_emulator.control_client import AsyncControlClient, ControlError


def phase(response: httpx.Response) -> object:
    return response.json()["status"]["phase"] if response.status_code == 200 else response.status_code


def deleting(response: httpx.Response) -> int:
    return sum(item["count"] for item in response.json()["status"]["resources"].get("deleting", []))


async def make_pool(api: SignedClient, display: str, count: int = 2) -> str:
    response = await api.create(pool_body(display, count=count))
    assert response.status_code == 200, response.text
    name: str = response.json()["metadata"]["name"]
    return name


async def test_healthz_needs_no_auth(http: httpx.AsyncClient, control: AsyncControlClient) -> None:
    response = await http.get(f"{control.url}/healthz")  # a bare request: no signature, no client
    assert response.status_code == 200 and response.json() == {"status": "ok"}
    assert await control.healthz() == {"status": "ok"}


async def test_recorded_requests_and_filters(api: SignedClient, control: AsyncControlClient) -> None:
    name = await make_pool(api, "pool-rec")
    await api.get(name)
    await api.patch(name, {"spec": {"scope": ["Infer"]}})
    await api.list([("workspaceId", "0")])
    entries = await control.requests()
    assert [e["operation"] for e in entries] == ["create", "show", "patch", "list"]
    create, _, patch, listing = entries
    assert create["pool_name"] == name and create["status"] == 200 and create["method"] == "POST"
    assert create["body"]["metadata"]["labels"]["os.modelarts/name"] == "pool-rec"
    assert patch["content_type"] == "application/merge-patch+json"
    assert patch["body"] == {"spec": {"scope": ["Infer"]}}
    assert listing["query"] == {"workspaceId": "0"}
    assert [e["operation"] for e in await control.requests(method="PATCH")] == ["patch"]
    assert [e["operation"] for e in await control.requests(path_regex=r"/pools/")] == ["show", "patch"]
    assert [e["operation"] for e in await control.requests(operation="list")] == ["list"]
    assert all("Authorization" not in str(e) and api.secret_key not in str(e) for e in entries)
    await control.clear_requests()
    assert await control.requests() == []


async def test_control_calls_are_not_recorded(control: AsyncControlClient) -> None:
    await control.pools()
    await control.faults()
    assert await control.requests() == []


async def test_force_phase(api: SignedClient, control: AsyncControlClient) -> None:
    name = await make_pool(api, "pool-abn")
    await eventually(lambda: api.get(name), lambda r: phase(r) == "Running")
    await control.force_phase(name, "Abnormal", "node down")
    response = await api.get(name)
    assert phase(response) == "Abnormal" and response.json()["status"]["message"] == "node down"
    await control.force_phase(name, None)
    assert phase(await api.get(name)) == "Running"


async def test_deletion_fail_then_normal(api: SignedClient, control: AsyncControlClient) -> None:
    name = await make_pool(api, "pool-fail")
    await control.set_deletion(
        name, "fail", status=403, error_code="ModelArts.6101", error_msg="The pool has dependent resources."
    )
    refused = await api.delete(name)
    assert refused.status_code == 403
    assert refused.json() == {"error_code": "ModelArts.6101", "error_msg": "The pool has dependent resources."}
    assert phase(await api.get(name)) != "Deleting"
    await control.set_deletion(name, "normal")
    assert (await api.delete(name)).status_code == 200
    await eventually(lambda: api.get(name), lambda r: r.status_code == 404)


async def test_deletion_stall_then_normal(api: SignedClient, control: AsyncControlClient) -> None:
    name = await make_pool(api, "pool-stall", count=3)
    await control.set_deletion(name, "stall")
    assert (await api.delete(name)).status_code == 200
    first = await api.get(name)
    assert phase(first) == "Deleting" and deleting(first) == 3
    # Watch it for longer than delete-seconds (1 s): it stays, nothing drains.
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:
        response = await api.get(name)
        assert phase(response) == "Deleting" and deleting(response) == 3
        await asyncio.sleep(0.1)
    await control.set_deletion(name, "normal")
    await eventually(lambda: api.get(name), lambda r: r.status_code == 404)


async def test_remove_out_of_band(api: SignedClient, control: AsyncControlClient) -> None:
    name = await make_pool(api, "pool-gone")
    await control.remove_pool(name)
    assert (await api.get(name)).status_code == 404
    with pytest.raises(ControlError) as missing:
        await control.remove_pool(name)
    assert missing.value.status == 404 and missing.value.error_code == "ModelArts.50015001"


async def test_drift_patch(api: SignedClient, control: AsyncControlClient) -> None:
    name = await make_pool(api, "pool-drift")
    await eventually(lambda: api.get(name), lambda r: phase(r) == "Running")
    drift = {
        "spec": {"resources": [{"flavor": "modelarts.vm.cpu.8ud", "count": 5}]},
        "metadata": {"annotations": {"os.modelarts/description": "changed in the console"}},
    }
    await control.patch_pool(name, drift)
    seen = await api.get(name)
    assert seen.json()["spec"]["resources"][0]["count"] == 5
    assert seen.json()["metadata"]["annotations"]["os.modelarts/description"] == "changed in the console"
    assert await control.requests(method="PATCH") == []  # the operator's API log shows no PATCH


async def test_out_of_band_create_ready(control: AsyncControlClient, api: SignedClient) -> None:
    created = await control.create_pool(pool_body("pool-console"), ready=True)
    assert phase(await api.get(created["metadata"]["name"])) == "Running"


async def test_reset(api: SignedClient, control: AsyncControlClient) -> None:
    await make_pool(api, "pool-reset")
    await control.add_fault(method="DELETE", status=500)
    await control.reset()
    assert await control.pools() == []
    assert await control.faults() == []
    assert await control.requests() == []
    assert (await api.list()).json()["items"] == []


async def test_pools_dump_shows_view_and_internals(api: SignedClient, control: AsyncControlClient) -> None:
    name = await make_pool(api, "pool-dump")
    (pool,) = await control.pools()
    assert pool["name"] == name
    assert pool["view"]["status"]["phase"] == "Creating"
    assert pool["internal"]["nodes"][0]["state"] == "creating"
