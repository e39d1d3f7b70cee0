"""The behaviours public clients show on the real cloud (modelarts-api.md §10), served by the emulator's own
fidelity features rather than hand-made faults: read-after-create lag, a creation that fails in the cloud,
the gateway's access-key lockout, a prepaid pool that refuses DELETE, and the documented bucket shape."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from emulator_helpers import eventually
from pydantic import SecretStr
from reconcile_helpers import BINDING, SPEC, TIMING, GetReader, RecordingSink, StaticClaims, make_object

from modelarts_emulator.config import Behaviour, EmulatorConfig, Gateway, Timings
from modelarts_emulator.control_client import AsyncControlClient
from modelarts_emulator.server import RunningEmulator
from modelarts_operator.controller.cloud import LockoutGuard
from modelarts_operator.controller.observer import ObservedReader, PoolListObserver
from modelarts_operator.modelarts import errors
from modelarts_operator.modelarts.auth import AkSkAuth, Credentials
from modelarts_operator.modelarts.client import ModelArtsClient
from modelarts_operator.modelarts.retry import RetryPolicy
from modelarts_operator.reconcile.deletion import PoolDeletion
from modelarts_operator.reconcile.sync import PoolSync
from modelarts_operator.reconcile.view import PoolReader

FAST = Timings(create_seconds=0.6, delete_seconds=1.0, scale_seconds=0.6)


async def sync(
    client: ModelArtsClient, sink: RecordingSink, reader: PoolReader | None = None, **object_args: Any
) -> Any:
    return await PoolSync(
        client,
        reader or GetReader(client),
        make_object(sink, **object_args),
        BINDING,
        sink,
        StaticClaims(),
        TIMING,
        visibility_grace_seconds=60.0,
    ).run()


async def step(
    client: ModelArtsClient, sink: RecordingSink, reader: PoolReader | None = None, **object_args: Any
) -> Any:
    return await PoolDeletion(
        client,
        reader or GetReader(client),
        make_object(sink, **object_args),
        BINDING,
        sink,
        StaticClaims(),
        TIMING,
        visibility_grace_seconds=60.0,
    ).step()


@pytest.mark.parametrize(
    "emulator_config", [EmulatorConfig(timings=FAST, behaviour=Behaviour(visibility_delay_seconds=2.0))]
)
async def test_read_after_create_lag_never_recreates_nor_loses_the_pool(
    client: ModelArtsClient, control: AsyncControlClient, emulator: RunningEmulator, emulator_config: EmulatorConfig
) -> None:
    observer = PoolListObserver(key=(emulator.url, emulator.project_id, "0", "k"), client=client, page_size=100)
    reader = ObservedReader(observer, client, wait_seconds=5.0, writes={})
    wake = asyncio.Event()
    sink = RecordingSink()
    await sync(client, sink, reader)
    name = sink.status["poolName"]
    observer.subscribe("ml/team-a-pool", name, 0.2, wake)
    missed = 0

    async def running() -> bool:
        nonlocal missed
        await sync(client, sink, reader)
        missed += "does not show pool" in sink.condition("Ready")["message"]
        return sink.status.get("phase") == "Running"

    await eventually(running, bool, within=15.0, interval=0.1)
    assert missed > 0, "the lag was seen (and waited out)"
    assert len(await control.requests(method="POST")) == 1 and len(await control.pools()) == 1
    assert sink.status["poolName"] == name and "PoolGone" not in sink.reasons()
    await observer.stop()


@pytest.mark.parametrize(
    "emulator_config", [EmulatorConfig(timings=Timings(create_seconds=30, delete_seconds=1, scale_seconds=1))]
)
async def test_a_failed_creation_is_shown_not_retried_and_deleting_releases_it(
    client: ModelArtsClient, control: AsyncControlClient, emulator_config: EmulatorConfig
) -> None:
    sink = RecordingSink()
    await sync(client, sink)
    name = sink.status["poolName"]
    await control.set_creation(name, "fail", message="insufficient quota for modelarts.vm.cpu.8ud")
    await sync(client, sink)
    ready, synced = sink.condition("Ready"), sink.condition("Synced")
    assert (ready["reason"], synced["reason"]) == ("CreationFailed", "CreationFailed")
    assert "insufficient quota" in ready["message"] and sink.status["phase"] == "CreationFailed"
    assert "CreationFailed" in sink.reasons()
    await control.clear_requests()
    for _ in range(3):
        result = await sync(client, sink)
        assert result.retry_after == TIMING.max_backoff_seconds
    assert await control.requests() == [], "no retry loop: nothing is sent until the spec changes"
    done = await step(client, sink)
    assert done.done and "failed to be created" in done.message and "Released" in sink.reasons()


@pytest.mark.parametrize(
    "emulator_config", [EmulatorConfig(timings=FAST, behaviour=Behaviour(resources_shape="object"))]
)
async def test_the_documented_single_object_shape_is_mirrored_also_while_deleting(
    client: ModelArtsClient, emulator_config: EmulatorConfig
) -> None:
    sink = RecordingSink()

    async def running() -> bool:
        await sync(client, sink, spec={**SPEC, "resources": [{"flavor": "modelarts.vm.cpu.8ud", "count": 1}]})
        return sink.status.get("phase") == "Running"

    await eventually(running, bool, within=10.0)
    assert sink.status["nodes"]["available"] == 1
    seen: list[int] = []

    async def deleted() -> bool:
        done = await step(client, sink)
        seen.append(sink.status.get("nodes", {}).get("deleting", 0))
        assert "MalformedResponse" not in sink.reasons()
        return bool(done.done)

    await eventually(deleted, bool, within=10.0, interval=0.1)
    assert 1 in seen, "the draining node was mirrored (the documented shape is read)"


@pytest.mark.parametrize(
    "emulator_config", [EmulatorConfig(timings=FAST, gateway=Gateway(lockout_after=5, lockout_seconds=300))]
)
async def test_refused_credentials_are_not_retried_into_a_gateway_lockout(
    http: httpx.AsyncClient, control: AsyncControlClient, emulator: RunningEmulator, emulator_config: EmulatorConfig
) -> None:
    """One 401 stops every caller using that key for the lockout window: a hundred objects do not make the five
    failures that lock the key at the gateway (which would refuse even the corrected key for 5 minutes)."""
    guard = LockoutGuard(window_seconds=300, probe_timeout=10)
    wrong = Credentials(access_key=emulator.access_key, secret_key=SecretStr("not-the-secret"))

    def guarded_client() -> ModelArtsClient:
        key = "wrong"

        async def before(operation: str) -> None:
            guard.check(key, operation)

        def observe(operation: str, code: str, seconds: float) -> None:
            guard.observed(key, code)

        return ModelArtsClient(
            http,
            endpoint=emulator.url,
            project_id=emulator.project_id,
            auth=AkSkAuth(wrong),
            retry=RetryPolicy(max_attempts=1),
            before_request=before,
            observer=observe,
        )

    outcomes = []
    for _ in range(100):
        try:
            await guarded_client().list_pools()
        except errors.Unauthorized as exc:
            outcomes.append(str(exc))
    assert len(await control.requests()) == 1, "one refused call, then none for the window"
    assert any("no call uses them before" in o for o in outcomes)
    assert await control.locked_access_keys() == {}, "the gateway never saw five failures"


@pytest.mark.parametrize("emulator_config", [EmulatorConfig(timings=FAST)])
async def test_a_prepaid_pool_refusing_delete_stalls_with_the_clouds_message(
    client: ModelArtsClient, control: AsyncControlClient, emulator_config: EmulatorConfig
) -> None:
    created = await control.create_pool(
        {
            "apiVersion": "v2",
            "kind": "Pool",
            "metadata": {
                "labels": {"os.modelarts/name": "prepaid-pool"},
                "annotations": {
                    "os.modelarts/billing.mode": "1",
                    "os.modelarts/period.type": "2",
                    "os.modelarts/period.num": "1",
                },
            },
            "spec": {
                "type": "Logical",
                "scope": ["Train"],
                "resources": [{"flavor": "modelarts.vm.cpu.8ud", "count": 1}],
            },
        },
        ready=True,
    )
    sink = RecordingSink()
    adopted = {"poolName": created["metadata"]["name"], "managementPolicy": "Full"}
    await sync(client, sink, spec=adopted)
    done = await step(client, sink, spec=adopted)
    assert not done.done
    stalled = sink.condition("Deleting")
    assert stalled["reason"] == "DeletionStalled" and "unsubscribe" in stalled["message"].lower()
    assert len(await control.pools()) == 1
