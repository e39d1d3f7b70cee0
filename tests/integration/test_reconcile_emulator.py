"""The reconcile logic against the emulator over real HTTP with real signatures (no Kubernetes here); the fakes
are in ``reconcile_helpers.py``."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import httpx
import pytest
from emulator_helpers import SignedClient, eventually, pool_body
from pydantic import SecretStr
from reconcile_helpers import BINDING, SPEC, TIMING, GetReader, RecordingSink, StaticClaims, make_object

from modelarts_emulator.config import EmulatorConfig, Timings
from modelarts_emulator.control_client import AsyncControlClient
from modelarts_emulator.server import RunningEmulator
from modelarts_operator.modelarts.auth import AkSkAuth, Credentials
from modelarts_operator.modelarts.client import ModelArtsClient
from modelarts_operator.reconcile.binding import Binding
from modelarts_operator.reconcile.deletion import DeletePool, PoolDeletion, Release, decide
from modelarts_operator.reconcile.sync import PoolSync
from modelarts_operator.reconcile.timing import Timing
from modelarts_operator.reconcile.view import DisplayNameClaim
from modelarts_operator.resource.status import ModelArtsPoolStatus


async def sync(
    client: ModelArtsClient,
    sink: RecordingSink,
    claims: StaticClaims | None = None,
    *,
    binding: Binding = BINDING,
    grace: float = 600.0,
    **object_args: Any,
) -> Any:
    return await PoolSync(
        client,
        GetReader(client),
        make_object(sink, **object_args),
        binding,
        sink,
        claims or StaticClaims(),
        TIMING,
        visibility_grace_seconds=grace,
    ).run()


def deletion(
    client: ModelArtsClient,
    sink: RecordingSink,
    claims: StaticClaims | None = None,
    timing: Timing = TIMING,
    **object_args: Any,
) -> PoolDeletion:
    return PoolDeletion(
        client, GetReader(client), make_object(sink, **object_args), BINDING, sink, claims or StaticClaims(), timing
    )


async def sync_until(client: ModelArtsClient, sink: RecordingSink, predicate: Any, **object_args: Any) -> None:
    async def attempt() -> bool:
        await sync(client, sink, **object_args)
        return bool(predicate(sink.status))

    await eventually(attempt, bool, within=10.0)


async def creates(control: AsyncControlClient) -> int:
    return len(await control.requests(method="POST"))


async def test_create_records_pool_then_mirrors_until_running(
    client: ModelArtsClient, control: AsyncControlClient
) -> None:
    sink = RecordingSink()
    await sync(client, sink)
    assert "createRequestedAt" in sink.status, "intent must be recorded before the POST"
    pool_name = sink.status["poolName"]
    assert pool_name and "Created" in sink.reasons()
    await sync_until(client, sink, lambda s: s.get("phase") == "Running" and s["nodes"]["available"] == 2)
    assert sink.condition("Ready")["status"] == "True"
    assert sink.condition("Synced")["status"] == "True"
    assert sink.status["cloud"]["displayName"] == "team-a-pool"
    assert await creates(control) == 1


async def test_stable_pool_costs_no_status_write(client: ModelArtsClient) -> None:
    sink = RecordingSink()
    await sync_until(client, sink, lambda s: s.get("phase") == "Running" and s["nodes"]["creating"] == 0)
    await sync(client, sink)  # settles lastSyncTime/observedGeneration
    writes = sink.status_writes
    for _ in range(3):
        result = await sync(client, sink)
        assert result.observe_every > TIMING.transition_seconds and result.retry_after is None  # stable: slow
    assert sink.status_writes == writes


async def test_crash_after_post_recovers_instead_of_creating_twice(
    client: ModelArtsClient, control: AsyncControlClient
) -> None:
    sink = RecordingSink()
    await sync(client, sink)
    pool_name = sink.status["poolName"]
    # The write after POST was lost (a crash between POST and the write): only the intent, written before the
    # POST, is left.
    sink.status = {"createRequestedAt": sink.status["createRequestedAt"]}
    await sync(client, sink)
    assert sink.status["poolName"] == pool_name
    assert "Recovered" in sink.reasons()
    assert await creates(control) == 1


async def test_unanswered_create_is_found_not_repeated(
    client: ModelArtsClient, control: AsyncControlClient, emulator: RunningEmulator
) -> None:
    # ModelArts creates the pool but the answer never arrives in time: the POST must not be sent again.
    await control.add_fault(method="POST", path_regex="/pools$", delay_seconds=3.0, times=1)
    sink = RecordingSink()
    result = await sync(client, sink)
    assert result.failed and sink.condition("Synced")["reason"] == "CloudError"
    assert "poolName" not in sink.status

    async def created() -> bool:
        return len(await control.pools()) == 1

    await eventually(created, bool, within=10.0)
    await sync(client, sink)
    assert sink.status["poolName"] == (await control.pools())[0]["name"]
    assert await creates(control) == 1


async def test_foreign_pool_with_same_display_name_is_not_taken(
    client: ModelArtsClient, api: SignedClient, control: AsyncControlClient
) -> None:
    response = await api.create(pool_body("team-a-pool"))
    assert response.status_code == 200, response.text
    sink = RecordingSink()
    result = await sync(client, sink)
    assert result.failed
    assert sink.condition("Synced")["reason"] == "DisplayNameTaken"
    assert "poolName" not in sink.status
    assert len(await control.pools()) == 1


async def test_older_object_with_same_display_name_wins_without_a_cloud_call(
    client: ModelArtsClient, control: AsyncControlClient
) -> None:
    rival = DisplayNameClaim(key="other/team-a-pool", creation_timestamp="2025-01-01T00:00:00Z", has_pool=False)
    sink = RecordingSink()
    await sync(client, sink, StaticClaims(display={"team-a-pool": [rival]}))
    assert sink.condition("Synced")["reason"] == "DisplayNameTaken"
    assert await creates(control) == 0


async def test_ready_names_the_latest_refusal_not_an_earlier_one(client: ModelArtsClient) -> None:
    # Seen on the control plane: a pool first NotBound, then bound by a namespace label, then refused for its
    # display name kept Ready's old "not served by any ModelArtsProject" message.
    sink = RecordingSink()
    stale = "namespace ml is not served by any ModelArtsProject"
    sink.status = {
        "conditions": [
            {
                "type": "Synced",
                "status": "False",
                "reason": "NotBound",
                "message": stale,
                "lastTransitionTime": "2026-01-01T00:00:00Z",
            },
            {
                "type": "Ready",
                "status": "False",
                "reason": "Pending",
                "message": stale,
                "lastTransitionTime": "2026-01-01T00:00:00Z",
            },
        ]
    }
    rival = DisplayNameClaim(key="other/team-a-pool", creation_timestamp="2025-01-01T00:00:00Z", has_pool=True)
    await sync(client, sink, StaticClaims(display={"team-a-pool": [rival]}))
    assert sink.condition("Synced")["reason"] == "DisplayNameTaken"
    assert sink.condition("Ready")["message"] == sink.condition("Synced")["message"]


async def test_scale_is_one_merge_patch_of_what_changed(client: ModelArtsClient, control: AsyncControlClient) -> None:
    sink = RecordingSink()
    await sync_until(client, sink, lambda s: s.get("phase") == "Running" and s["nodes"]["creating"] == 0)
    scaled = {**SPEC, "resources": [{"flavor": "modelarts.vm.cpu.8ud", "count": 4}]}
    await sync(client, sink, spec=scaled, generation=2)
    patches = await control.requests(method="PATCH")
    assert len(patches) == 1
    assert "Updated" in sink.reasons()
    await sync_until(
        client, sink, lambda s: s["nodes"]["available"] == 4 and s["nodes"]["creating"] == 0, spec=scaled, generation=2
    )
    assert sink.status["observedGeneration"] == 2
    assert len(await control.requests(method="PATCH")) == 1


async def test_drift_is_reported_and_corrected(client: ModelArtsClient, control: AsyncControlClient) -> None:
    sink = RecordingSink()
    await sync_until(client, sink, lambda s: s.get("phase") == "Running" and s["nodes"]["creating"] == 0)
    name = sink.status["poolName"]
    console_edit = {"spec": {"resources": [{"flavor": "modelarts.vm.cpu.8ud", "count": 1, "maxCount": 1}]}}
    await control.patch_pool(name, console_edit)
    await sync(client, sink)
    assert "Drifted" in sink.reasons()
    pool = next(p["view"] for p in await control.pools() if p["name"] == name)
    assert pool["spec"]["resources"][0]["count"] == 2


async def test_pool_deleted_out_of_band_is_replaced(client: ModelArtsClient, control: AsyncControlClient) -> None:
    sink = RecordingSink()
    # Seen Running and past the grace for new pools: a 404 now is a disappearance, not read-after-create lag.
    await sync_until(client, sink, lambda s: s.get("phase") == "Running")
    first = sink.status["poolName"]
    await control.remove_pool(first)
    await sync(client, sink, grace=0.001)
    assert "PoolGone" in sink.reasons() and "poolName" not in sink.status
    await sync(client, sink, grace=0.001)
    assert sink.status["poolName"]
    assert len(await control.pools()) == 1


async def test_adoption_mirrors_and_refuses_a_managed_pool(client: ModelArtsClient, api: SignedClient) -> None:
    response = await api.create(pool_body("legacy-pool"))
    name = response.json()["metadata"]["name"]
    sink = RecordingSink()
    await sync(client, sink, spec={"poolName": name, "managementPolicy": "Full"})
    assert sink.status["poolName"] == name and "Adopted" in sink.reasons() and sink.status["adopted"] is True

    other = RecordingSink()
    await sync(
        client,
        other,
        StaticClaims(pools={name: {"ml/first-owner"}}),
        spec={"poolName": name, "managementPolicy": "Full"},
        name="second",
    )
    assert other.condition("Synced")["reason"] == "AdoptionConflict"
    assert "poolName" not in other.status


async def test_invalid_request_waits_for_a_spec_change(client: ModelArtsClient, control: AsyncControlClient) -> None:
    dedicate_without_network = {**SPEC, "type": "Dedicate"}  # the CRD refuses this; here the cloud does
    sink = RecordingSink()
    result = await sync(client, sink, spec=dedicate_without_network)
    assert result.retry_after == TIMING.max_backoff_seconds, "no hot retry: the spec has to change"
    condition = sink.condition("Synced")
    assert condition["reason"] == "InvalidRequest" and "ModelArts.50004000" in condition["message"]


async def delete_until_done(client: ModelArtsClient, sink: RecordingSink, **object_args: Any) -> list[dict[str, Any]]:
    """Step the deletion until done; returns every status seen."""
    seen: list[dict[str, Any]] = []

    async def attempt() -> bool:
        step = await deletion(client, sink, **object_args).step()
        seen.append(dict(sink.status))
        return step.done

    await eventually(attempt, bool, within=15.0, interval=0.1)
    return seen


async def test_deletion_mirrors_draining_until_404(client: ModelArtsClient, control: AsyncControlClient) -> None:
    sink = RecordingSink()
    await sync_until(client, sink, lambda s: s.get("phase") == "Running" and s["nodes"]["creating"] == 0)
    seen = await delete_until_done(client, sink)
    deleting_counts = [s["nodes"]["deleting"] for s in seen if s.get("phase") == "Deleting"]
    assert deleting_counts, "the Deleting phase must be mirrored"
    assert deleting_counts == sorted(deleting_counts, reverse=True)
    assert any(s["conditions"] and s["deletion"]["requestedAt"] for s in seen)
    assert "Deleted" in sink.reasons()
    assert await control.pools() == []
    assert len(await control.requests(method="DELETE")) == 1


async def test_lost_record_of_a_delete_does_not_send_another(
    client: ModelArtsClient, control: AsyncControlClient
) -> None:
    """The status write after the DELETE was lost (API server down, or the replica died before writing): the pool
    is visibly Deleting, so the next step (or the next leader) watches it instead of deleting it again."""
    sink = RecordingSink()
    await sync_until(client, sink, lambda s: s.get("phase") == "Running" and s["nodes"]["creating"] == 0)
    await control.set_deletion(sink.status["poolName"], "stall")
    before = dict(sink.status)
    await deletion(client, sink).step()
    assert len(await control.requests(method="DELETE")) == 1
    sink.status = before  # the write of deletion.requestedAt never reached the API server
    for _ in range(3):
        step = await deletion(client, sink).step()
        assert not step.done
    assert len(await control.requests(method="DELETE")) == 1
    assert sink.condition("Deleting")["reason"] == "DeletionInProgress"


async def test_refused_deletion_stalls_and_keeps_trying(client: ModelArtsClient, control: AsyncControlClient) -> None:
    sink = RecordingSink()
    await sync(client, sink)
    await control.add_fault(
        method="DELETE", status=403, error_code="ModelArts.0203", error_msg="no permission to delete pool", times=2
    )
    for _ in range(2):
        step = await deletion(client, sink).step()
        assert not step.done and step.retry_after is not None and step.retry_after > 0
    condition = sink.condition("Deleting")
    assert condition["reason"] == "DeletionStalled" and "no permission to delete pool" in condition["message"]
    assert sink.status["deletion"]["failures"] == 2
    assert "DeletionStalled" in sink.reasons()
    await delete_until_done(client, sink)
    assert await control.pools() == []


async def test_stalled_deletion_is_reported(client: ModelArtsClient, control: AsyncControlClient) -> None:
    sink = RecordingSink()
    await sync(client, sink)
    await control.set_deletion(sink.status["poolName"], "stall")

    async def stalled() -> bool:
        await deletion(client, sink).step()
        reason: str = sink.condition("Deleting")["reason"]
        return reason == "DeletionStalled"

    await eventually(stalled, bool, within=10.0, interval=0.2)
    assert "has not progressed" in sink.condition("Deleting")["message"]
    assert len(await control.pools()) == 1


def test_retain_and_never_created_release_without_the_cloud() -> None:
    sink = RecordingSink()
    retained = replace(
        make_object(sink, {**SPEC, "deletionPolicy": "Retain"}), status=ModelArtsPoolStatus(pool_name="p-1")
    )
    decision = decide(retained, BINDING)
    assert isinstance(decision, Release) and decision.retained and "retained" in decision.message
    assert decision.event_reason == "Retained"
    assert decide(make_object(sink), BINDING) == Release("no pool was created for this object")
    sink.status["createRequestedAt"] = "2026-01-01T00:00:00Z"
    assert decide(make_object(sink), BINDING) == DeletePool(), "a create may have reached ModelArts"


async def test_only_refused_credentials_ask_for_the_secret_again(
    client: ModelArtsClient, control: AsyncControlClient
) -> None:
    """A timeout or a 5xx says nothing about the Secret; re-reading it on every failure made a thousand objects
    sharing one Secret re-read it together whenever the operator was overloaded."""
    await control.add_fault(method="POST", status=503, times=1)
    unavailable = await sync(client, RecordingSink())
    assert unavailable.failed and not unavailable.credentials_refused
    await control.add_fault(method="POST", drop_connection=True, times=1)
    dropped = await sync(client, RecordingSink())
    assert dropped.failed and not dropped.credentials_refused
    await control.add_fault(method="POST", status=401, times=1)
    refused = await sync(client, RecordingSink())
    assert refused.failed and refused.credentials_refused


@pytest.mark.parametrize(
    "emulator_config", [EmulatorConfig(timings=Timings(create_seconds=0.3, delete_seconds=6.0, scale_seconds=0.3))]
)
async def test_draining_pool_is_polled_less_often_than_every_interval(
    client: ModelArtsClient, control: AsyncControlClient, emulator_config: EmulatorConfig
) -> None:
    """With the next look at half the predicted rest, a 6 s drain of 6 nodes costs fewer GETs than polling every
    0.4 s would (15), and the 404 is still seen within about one interval."""
    timing = replace(TIMING, transition_seconds=0.4)
    sink = RecordingSink()
    await sync_until(
        client,
        sink,
        lambda s: s.get("phase") == "Running" and s["nodes"]["available"] == 6,
        spec={**SPEC, "resources": [{"flavor": "modelarts.vm.cpu.8ud", "count": 6}]},
    )
    await control.clear_requests()
    started = asyncio.get_running_loop().time()
    while True:
        step = await deletion(client, sink, timing=timing).step()
        if step.done:
            break
        await asyncio.sleep(step.retry_after if step.retry_after is not None else step.observe_every)
    elapsed = asyncio.get_running_loop().time() - started
    gets = len(await control.requests(method="GET"))
    assert gets < 12, f"{gets} GETs for a 6 s deletion"
    assert elapsed < 6.0 + 2 * timing.transition_seconds + 1.0


async def test_deleting_before_the_pool_was_recorded_finds_it_but_never_another_objects(
    client: ModelArtsClient, control: AsyncControlClient
) -> None:
    sink = RecordingSink()
    await sync(client, sink)
    pool_name = sink.status["poolName"]
    # Crash after POST, before the status write: only the intent (written before the POST) is left.
    sink.status = {"createRequestedAt": sink.status["createRequestedAt"]}
    # Another object already manages that pool: the deletion must not touch it.
    claimed = StaticClaims(pools={pool_name: {"other/owner"}})
    step = await deletion(client, sink, claimed).step()
    assert step.done and await control.requests(method="DELETE") == []
    # Nobody else manages it: it is found and deleted instead of leaked.
    step = await deletion(client, sink).step()
    assert not step.done and sink.status["poolName"] == pool_name
    assert len(await control.requests(method="DELETE")) == 1


async def test_a_cloud_error_before_any_pool_says_ready_false_too(emulator: RunningEmulator) -> None:
    # Refused credentials on the very first create left Ready unset: kubectl's READY column was empty.
    auth = AkSkAuth(Credentials(access_key=emulator.access_key, secret_key=SecretStr("wrong-secret-key")))
    async with httpx.AsyncClient() as http:
        refused = ModelArtsClient(http, endpoint=emulator.url, project_id=emulator.project_id, auth=auth)
        sink = RecordingSink()
        result = await sync(refused, sink)
    assert result.failed and result.credentials_refused
    assert sink.condition("Synced")["reason"] == "Unauthorized"
    assert sink.condition("Ready")["status"] == "False"
    assert sink.condition("Ready")["message"] == sink.condition("Synced")["message"]
