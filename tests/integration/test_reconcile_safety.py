"""What the reconcile logic must never do, against the emulator over real HTTP: touch a pool it does not own,
change an observed-only one, adopt against the project's policy, or take read-after-create lag for a
disappearance (neither creating a second pool nor releasing a deletion early). Plus the shared list observer:
one list call for many objects, a GET only where the list cannot answer."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from typing import Any

import pytest
from emulator_helpers import SignedClient, eventually, pool_body
from reconcile_helpers import BINDING, SPEC, TIMING, GetReader, RecordingSink, StaticClaims, make_object

from modelarts_emulator.control_client import AsyncControlClient
from modelarts_emulator.server import RunningEmulator
from modelarts_operator.controller.observer import ObservedReader, PoolListObserver
from modelarts_operator.modelarts.client import ModelArtsClient
from modelarts_operator.reconcile.binding import Binding
from modelarts_operator.reconcile.deletion import PoolDeletion, Release, decide
from modelarts_operator.reconcile.sync import PoolSync
from modelarts_operator.reconcile.view import PoolReader
from modelarts_operator.resource.project import Adoption
from modelarts_operator.resource.status import ModelArtsPoolStatus

NOT_FOUND = {"status": 404, "error_code": "ModelArts.50015001", "error_msg": "pool not found"}
EMPTY_LIST = json.dumps({"apiVersion": "v2", "kind": "PoolList", "items": []})


async def sync(
    client: ModelArtsClient,
    sink: RecordingSink,
    *,
    reader: PoolReader | None = None,
    binding: Binding = BINDING,
    claims: StaticClaims | None = None,
    **object_args: Any,
) -> Any:
    return await PoolSync(
        client,
        reader or GetReader(client),
        make_object(sink, **object_args),
        binding,
        sink,
        claims or StaticClaims(),
        TIMING,
    ).run()


def deletion(
    client: ModelArtsClient, sink: RecordingSink, *, reader: PoolReader | None = None, **object_args: Any
) -> PoolDeletion:
    return PoolDeletion(
        client, reader or GetReader(client), make_object(sink, **object_args), BINDING, sink, StaticClaims(), TIMING
    )


async def console_pool(api: SignedClient, display: str, count: int = 8) -> str:
    response = await api.create(pool_body(display, count=count, pool_type="Logical"))
    assert response.status_code == 200, response.text
    return str(response.json()["metadata"]["name"])


# --- ownership ---------------------------------------------------------------------------------------


async def test_a_forged_status_pool_name_is_neither_patched_nor_deleted(
    client: ModelArtsClient, api: SignedClient, control: AsyncControlClient
) -> None:
    """A tenant who may write status points its object at another team's 8-node pool (created before the object,
    with another display name): scaling it to 1 and deleting it are both refused, and nothing is sent."""
    victim = await console_pool(api, "team-a-prod")
    sink = RecordingSink()
    sink.status = {"poolName": victim, "observedGeneration": 1}
    await control.clear_requests()
    result = await sync(
        client, sink, spec={**SPEC, "resources": [{"flavor": "modelarts.vm.cpu.8ud", "count": 1}]}, name="innocent"
    )
    assert result.failed and sink.condition("Synced")["reason"] == "NotOwned"
    assert "was not created for this object" in sink.condition("Synced")["message"]
    step = await deletion(client, sink, name="innocent").step()
    assert not step.done
    assert "not going to delete it" in sink.condition("Deleting")["message"]
    assert await control.requests(method="PATCH") == [] and await control.requests(method="DELETE") == []
    pools = await control.pools()
    assert [p["name"] for p in pools] == [victim]
    assert pools[0]["view"]["spec"]["resources"][0]["count"] == 8


async def test_observe_only_adoption_mirrors_and_never_changes_the_pool(
    client: ModelArtsClient, api: SignedClient, control: AsyncControlClient
) -> None:
    name = await console_pool(api, "legacy-pool", count=3)
    sink = RecordingSink()
    spec = {**SPEC, "poolName": name, "managementPolicy": "ObserveOnly"}
    observe_only = replace(BINDING, adoption=Adoption.OBSERVE_ONLY)

    async def observed() -> bool:
        await sync(client, sink, spec=spec, binding=observe_only)
        return sink.status.get("phase") == "Running"

    await eventually(observed, bool, within=10.0)
    synced = sink.condition("Synced")
    assert (synced["status"], synced["reason"]) == ("True", "ObserveOnly")
    assert "not applied" in synced["message"], "the spec asks for 2 nodes, the pool has 3"
    assert sink.status["adopted"] is True and await control.requests(method="PATCH") == []
    decision = decide(make_object(sink, spec), observe_only)
    assert isinstance(decision, Release) and "managementPolicy ObserveOnly" in decision.message


@pytest.mark.parametrize(
    ("policy", "allowed"),
    [("ObserveOnly", Adoption.FORBIDDEN), ("Full", Adoption.FORBIDDEN), ("Full", Adoption.OBSERVE_ONLY)],
)
async def test_adoption_beyond_the_projects_policy_is_refused_before_any_call(
    client: ModelArtsClient, api: SignedClient, control: AsyncControlClient, policy: str, allowed: Adoption
) -> None:
    name = await console_pool(api, "legacy-pool")
    await control.clear_requests()
    sink = RecordingSink()
    result = await sync(
        client, sink, spec={"poolName": name, "managementPolicy": policy}, binding=replace(BINDING, adoption=allowed)
    )
    assert result.failed and sink.condition("Synced")["reason"] == "AdoptionForbidden"
    assert "poolName" not in sink.status and await control.requests() == []


# --- read-after-create lag and failed creation --------------------------------------------------------


async def test_a_new_pool_answering_404_is_not_created_again(
    client: ModelArtsClient, control: AsyncControlClient
) -> None:
    """Read-after-create lag: GET and both lists miss the new pool for a while. The name is kept, nothing is
    POSTed again, and the pool is mirrored once ModelArts shows it."""
    sink = RecordingSink()
    await sync(client, sink)
    name = sink.status["poolName"]
    await control.add_fault(method="GET", path_regex=f"/pools/{name}$", times=3, **NOT_FOUND)
    await control.add_fault(
        method="GET", path_regex="/pools$", status=200, body=EMPTY_LIST, content_type="application/json", times=6
    )
    for _ in range(3):
        result = await sync(client, sink)
        assert sink.status["poolName"] == name and not result.failed
        assert "does not show pool" in sink.condition("Ready")["message"]

    async def running() -> bool:
        await sync(client, sink)
        return sink.status.get("phase") == "Running"

    await eventually(running, bool, within=10.0)
    assert len(await control.requests(method="POST")) == 1 and len(await control.pools()) == 1
    assert "PoolGone" not in sink.reasons()


async def test_deleting_a_pool_hidden_by_lag_keeps_the_finalizer_until_it_is_really_gone(
    client: ModelArtsClient, control: AsyncControlClient
) -> None:
    sink = RecordingSink()
    await sync(client, sink)  # created; never seen through GET or list yet
    name = sink.status["poolName"]
    await control.add_fault(method="DELETE", path_regex=f"/pools/{name}$", times=2, **NOT_FOUND)
    await control.add_fault(method="GET", path_regex=f"/pools/{name}$", times=2, **NOT_FOUND)
    await control.add_fault(
        method="GET", path_regex="/pools$", status=200, body=EMPTY_LIST, content_type="application/json", times=4
    )
    step = await deletion(client, sink).step()
    assert not step.done, "a 404 for a pool never seen may be lag: releasing now could leak it"
    assert "does not show pool" in sink.condition("Deleting")["message"]
    for _ in range(40):
        step = await deletion(client, sink).step()
        if step.done:
            break
        await asyncio.sleep(0.1)
    assert step.done and "Deleted" in sink.reasons()
    assert await control.pools() == [], "the pool was deleted, not leaked"


# --- the shared list ------------------------------------------------------------------------------------


async def test_many_objects_share_one_list_and_get_only_to_confirm_a_404(
    client: ModelArtsClient, api: SignedClient, control: AsyncControlClient, emulator: RunningEmulator
) -> None:
    names = [await console_pool(api, f"shared-{i}", count=1) for i in range(5)]
    observer = PoolListObserver(key=(emulator.url, emulator.project_id, "0", "k"), client=client, page_size=2)
    wakes = {name: asyncio.Event() for name in names}
    for name in names:
        observer.subscribe(name, name, 0.2, wakes[name])
    await control.clear_requests()
    writes: dict[str, tuple[float, bool]] = {}
    readers = [ObservedReader(observer, client, wait_seconds=5.0, writes=writes) for _ in names]
    sightings = await asyncio.gather(*(reader.look(name) for reader, name in zip(readers, names, strict=True)))
    assert all(s.pool is not None and s.pool.name == n for s, n in zip(sightings, names, strict=True))
    calls = await control.requests()
    assert {c["operation"] for c in calls} == {"list"}, "no GET while the list can answer"
    # One listing for all five objects: the first page, and (if the server pages) the pages it chained to.
    assert "continue" not in calls[0]["query"] and all("continue" in c["query"] for c in calls[1:])
    # One pool vanishes: only its object is woken, and its reader confirms the 404 with one GET.
    for event in wakes.values():
        event.clear()
    await control.remove_pool(names[0])
    await asyncio.wait_for(wakes[names[0]].wait(), timeout=5)
    assert not any(wakes[n].is_set() for n in names[1:])
    sighting = await readers[0].look(names[0])
    assert sighting.pool is None and not sighting.confirmed
    assert await readers[0].confirm(names[0]) is None
    gets = await control.requests(operation="show")
    assert len(gets) == 1
    await observer.stop()


async def test_when_the_list_fails_each_object_reads_its_own_pool(
    client: ModelArtsClient, api: SignedClient, control: AsyncControlClient, emulator: RunningEmulator
) -> None:
    name = await console_pool(api, "fallback", count=1)
    observer = PoolListObserver(key=(emulator.url, emulator.project_id, "0", "k"), client=client, page_size=50)
    await control.add_fault(method="GET", path_regex="/pools$", status=503)
    reader = ObservedReader(observer, client, wait_seconds=5.0, writes={})
    sighting = await reader.look(name)
    assert sighting.pool is not None and sighting.confirmed, "answered by a GET"
    assert not observer.healthy
    await observer.stop()


async def test_right_after_a_patch_the_next_look_is_a_get(
    client: ModelArtsClient, control: AsyncControlClient, emulator: RunningEmulator
) -> None:
    sink = RecordingSink()
    observer = PoolListObserver(key=(emulator.url, emulator.project_id, "0", "k"), client=client, page_size=50)
    reader = ObservedReader(observer, client, wait_seconds=5.0, writes={})
    wake = asyncio.Event()

    async def running() -> bool:
        await sync(client, sink, reader=reader)
        if sink.status.get("poolName"):  # what the worker does after each pass
            observer.subscribe("ml/team-a-pool", sink.status["poolName"], 0.2, wake)
        return sink.status.get("phase") == "Running" and sink.status["nodes"]["creating"] == 0

    await eventually(running, bool, within=10.0)
    await control.clear_requests()
    scaled = {**SPEC, "resources": [{"flavor": "modelarts.vm.cpu.8ud", "count": 3}]}
    await sync(client, sink, reader=reader, spec=scaled, generation=2)
    await sync(client, sink, reader=reader, spec=scaled, generation=2)
    operations = [c["operation"] for c in await control.requests()]
    assert operations.count("patch") == 1, operations
    after_patch = operations[operations.index("patch") + 1 :]
    assert after_patch and after_patch[0] == "show", f"the look after our own PATCH is a GET: {operations}"
    await observer.stop()


def test_status_is_typed_end_to_end() -> None:
    status = ModelArtsPoolStatus.model_validate({"poolName": "p", "nodes": {"available": 2}, "unknown": "dropped"})
    assert status.pool_name == "p" and status.nodes is not None and status.nodes.available == 2


async def test_a_refused_first_create_leaves_no_intent_to_recover_a_same_named_pool(
    client: ModelArtsClient, api: SignedClient, control: AsyncControlClient
) -> None:
    """Another team's pool holds the display name (created moments ago): the first POST gets 409. Retrying must
    not treat that pool as ours (it was found within the clock-skew allowance of an intent recorded before a
    POST that created nothing)."""
    victim = await console_pool(api, "team-a-pool")
    sink = RecordingSink()
    for _ in range(3):
        result = await sync(client, sink)
        assert result.failed and sink.condition("Synced")["reason"] == "DisplayNameTaken"
        assert "poolName" not in sink.status and "createRequestedAt" not in sink.status
    assert "Recovered" not in sink.reasons()
    assert [p["name"] for p in await control.pools()] == [victim]
