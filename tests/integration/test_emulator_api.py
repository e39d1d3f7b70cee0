"""The /v2 pools API over real HTTP with real signatures: lifecycle, validation, conflicts, PATCH rules, list."""

from __future__ import annotations

from typing import Any

import httpx
from emulator_helpers import SignedClient, eventually, pool_body

from modelarts_emulator.control_client import AsyncControlClient
from modelarts_emulator.server import RunningEmulator

FLAVOR = "modelarts.vm.cpu.8ud"


def nodes(response: httpx.Response, state: str) -> int:
    return sum(item["count"] for item in response.json()["status"]["resources"].get(state, []))


def phase(response: httpx.Response) -> Any:
    return response.json()["status"].get("phase") if response.status_code == 200 else response.status_code


async def test_full_lifecycle(api: SignedClient) -> None:
    created = await api.create(pool_body("pool-life", count=2))
    assert created.status_code == 200
    assert created.json()["status"] == {"resources": {}}
    name = created.json()["metadata"]["name"]
    assert name == f"pool-life-{api.project_id}"

    first = await api.get(name)
    assert phase(first) == "Creating" and nodes(first, "creating") == 2
    running = await eventually(lambda: api.get(name), lambda r: phase(r) == "Running")
    assert nodes(running, "available") == 2 and nodes(running, "creating") == 0

    scaled = await api.patch(name, {"spec": {"resources": [{"flavor": FLAVOR, "count": 3}]}})
    assert scaled.status_code == 200
    assert scaled.json()["spec"]["resources"][0]["count"] == 3
    assert phase(scaled) == "Running"
    assert scaled.json()["status"]["resources"]["creating"] == [{"flavor": FLAVOR, "count": 1, "maxCount": 3}]
    await eventually(lambda: api.get(name), lambda r: nodes(r, "available") == 3 and nodes(r, "creating") == 0)

    shrunk = await api.patch(name, {"spec": {"resources": [{"flavor": FLAVOR, "count": 1}]}})
    assert nodes(shrunk, "deleting") == 2
    await eventually(lambda: api.get(name), lambda r: nodes(r, "deleting") == 0 and nodes(r, "available") == 1)

    snapshot = await api.delete(name)
    assert snapshot.status_code == 200
    assert snapshot.json()["metadata"]["deletionTimestamp"]
    assert phase(snapshot) == "Running"
    deleting = await api.get(name)
    assert phase(deleting) == "Deleting" and nodes(deleting, "deleting") == 1
    gone = await eventually(lambda: api.get(name), lambda r: r.status_code == 404)
    assert gone.json() == {"error_code": "ModelArts.50015001", "error_msg": "pool not found"}
    again = await api.delete(name)
    assert again.status_code == 404 and again.json()["error_code"] == "ModelArts.50015001"


async def test_deleting_count_goes_down(api: SignedClient) -> None:
    name = (await api.create(pool_body("pool-drain", count=8))).json()["metadata"]["name"]
    await eventually(lambda: api.get(name), lambda r: phase(r) == "Running")
    await api.delete(name)
    seen: list[int] = []

    async def probe() -> httpx.Response:
        response = await api.get(name)
        if response.status_code == 200:
            seen.append(nodes(response, "deleting"))
        return response

    await eventually(probe, lambda r: r.status_code == 404, interval=0.02)
    assert seen == sorted(seen, reverse=True)
    assert len(set(seen)) >= 3, seen  # a poller sees intermediate counts, not a jump from 8 to gone
    assert seen[0] == 8


async def test_second_delete_returns_snapshot_again(api: SignedClient) -> None:
    name = (await api.create(pool_body("pool-twice"))).json()["metadata"]["name"]
    assert (await api.delete(name)).status_code == 200
    again = await api.delete(name)
    assert again.status_code == 200 and phase(again) == "Deleting"


async def test_duplicate_display_name_conflicts(api: SignedClient) -> None:
    assert (await api.create(pool_body("pool-dup"))).status_code == 200
    conflict = await api.create(pool_body("pool-dup", count=5))
    assert conflict.status_code == 409
    assert conflict.json() == {"error_code": "ModelArts.50015000", "error_msg": "Pool already exists."}
    assert conflict.headers["X-Request-Id"]


async def test_invalid_create_bodies(api: SignedClient) -> None:
    no_network = pool_body("pool-nonet")
    del no_network["spec"]["network"]
    cases: list[tuple[Any, str]] = [
        (no_network, "spec.network is required"),
        (pool_body("pool-typo", pool_type="Dedicated"), "spec.type"),
        (pool_body("Bad_Name"), "os.modelarts/name"),
        (pool_body("pool-zero", count=0), "count"),
    ]
    for body, fragment in cases:
        response = await api.create(body)
        assert response.status_code == 400, body
        assert response.json()["error_code"] == "ModelArts.50004000"
        assert fragment in response.json()["error_msg"]
    not_json = await api.request("POST", api.pools_path(), content=b"{nope")
    assert not_json.status_code == 400 and not_json.json()["error_code"] == "ModelArts.50004000"


async def test_patch_needs_merge_patch_content_type(api: SignedClient) -> None:
    name = (await api.create(pool_body("pool-ctype"))).json()["metadata"]["name"]
    response = await api.patch(name, {"spec": {"scope": ["Infer"]}}, content_type="application/json")
    assert response.status_code == 400
    assert response.json() == {"error_code": "ModelArts.50004100", "error_msg": "Content type not supported"}
    ok = await api.patch(
        name, {"spec": {"scope": ["Infer"]}}, content_type="application/merge-patch+json; charset=utf-8"
    )
    assert ok.status_code == 200 and ok.json()["spec"]["scope"] == ["Infer"]


async def test_patch_immutable_fields_and_workspace_rule(api: SignedClient) -> None:
    name = (await api.create(pool_body("pool-immut"))).json()["metadata"]["name"]
    for patch in (
        {"spec": {"type": "Logical"}},
        {"spec": {"network": {"name": "other"}}},
        {"metadata": {"labels": {"os.modelarts/name": "pool-renamed"}}},
        {"metadata": {"labels": {"os.modelarts/workspace.id": "ws-1"}}, "spec": {"scope": ["Infer"]}},
    ):
        response = await api.patch(name, patch)
        assert response.status_code == 400, patch
        assert response.json()["error_code"] == "ModelArts.50004000"
    moved = await api.patch(name, {"metadata": {"labels": {"os.modelarts/workspace.id": "ws-1"}}})
    assert moved.status_code == 200
    assert moved.json()["metadata"]["labels"]["os.modelarts/workspace.id"] == "ws-1"


async def test_patch_and_get_unknown_pool(api: SignedClient) -> None:
    for response in (await api.get("nope-pool"), await api.patch("nope-pool", {}), await api.delete("nope-pool")):
        assert response.status_code == 404
        assert response.json() == {"error_code": "ModelArts.50015001", "error_msg": "pool not found"}


async def test_list_filters(api: SignedClient, control: AsyncControlClient) -> None:
    await api.create(pool_body("pool-list-a"))
    other = pool_body("pool-list-b")
    other["metadata"]["labels"]["os.modelarts/workspace.id"] = "ws-9"
    await api.create(other)

    def names(response: httpx.Response) -> list[str]:
        assert response.status_code == 200, response.text
        assert response.json()["apiVersion"] == "v2" and response.json()["kind"] == "PoolList"
        return sorted(p["metadata"]["labels"]["os.modelarts/name"] for p in response.json()["items"])

    assert names(await api.list()) == ["pool-list-a"]  # workspaceId defaults to "0"
    assert names(await api.list([("workspaceId", "ws-9")])) == ["pool-list-b"]
    assert names(await api.list([("labelSelector", "os.modelarts/name=pool-list-a")])) == ["pool-list-a"]
    assert names(await api.list([("labelSelector", "os.modelarts/name=pool-list-b")])) == []
    assert names(await api.list([("status", "creating")])) == ["pool-list-a"]
    assert names(await api.list([("status", "failed")])) == []
    bad = await api.list([("status", "gone")])
    assert bad.status_code == 400 and bad.json()["error_code"] == "ModelArts.50004000"
    pool_a = f"pool-list-a-{api.project_id}"
    await control.force_phase(pool_a, "CreationFailed")
    assert names(await api.list([("status", "failed")])) == ["pool-list-a"]


async def test_every_response_has_a_request_id(
    api: SignedClient, http: httpx.AsyncClient, emulator: RunningEmulator
) -> None:
    responses = [
        await api.list(),
        await api.get("nope"),
        await http.get(emulator.url + api.pools_path()),  # unsigned: 401
        await http.get(emulator.url + "/v2/x/unknown"),  # not an API: 404
        await http.get(emulator.url + "/_emulator/healthz"),
    ]
    ids = [response.headers.get("X-Request-Id") for response in responses]
    assert all(ids) and len(set(ids)) == len(ids)


async def test_unknown_route_is_gateway_404_not_pool_not_found(api: SignedClient) -> None:
    response = await api.request("GET", f"/v2/{api.project_id}/pools/a/nodes/b/c")
    assert response.status_code == 404
    assert response.json()["error_code"] == "APIGW.0101"


async def test_wrong_project_is_refused(api: SignedClient) -> None:
    response = await api.request("GET", "/v2/ffffffffffffffffffffffffffffffff/pools")
    assert response.status_code == 403
    assert response.json()["error_code"] == "ModelArts.0203"
