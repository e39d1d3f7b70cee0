"""The synchronous control client over real HTTP (the async one is what every other integration test uses).

The emulator runs on the test's event loop, so the blocking client runs in a worker thread.
"""

from __future__ import annotations

import asyncio

import pytest
from emulator_helpers import pool_body

from modelarts_emulator.control_client import ControlClient, ControlError
from modelarts_emulator.server import RunningEmulator


def walk(url: str) -> dict[str, object]:
    with ControlClient(url) as control:
        seen: dict[str, object] = {"healthz": control.healthz()}
        created = control.create_pool(pool_body("pool-sync"), ready=True)
        name = created["metadata"]["name"]
        seen["named"] = [pool["name"] for pool in control.pools_named("pool-sync")]
        seen["other"] = control.pools_named("pool-other")
        seen["phase"] = control.force_phase(name, "Abnormal", "node down")["status"]["phase"]
        seen["drift"] = control.patch_pool(
            name, {"spec": {"resources": [{"flavor": "modelarts.vm.cpu.8ud", "count": 3}]}}
        )["spec"]["resources"]
        seen["deletion"] = control.set_deletion(name, "stall")["status"]["phase"]
        fault = control.add_fault(method="GET", status=503)
        seen["faults"] = [f["id"] for f in control.faults()]
        control.remove_fault(fault["id"])
        seen["faults_after"] = control.faults()
        seen["requests"] = control.requests()
        control.remove_pool(name)
        with pytest.raises(ControlError) as missing:
            control.remove_pool(name)
        seen["missing"] = (missing.value.status, missing.value.error_code)
        control.reset()
        seen["after_reset"] = control.pools()
        return {"name": name, "fault": fault["id"], **seen}


async def test_sync_client_walks_every_control_route(emulator: RunningEmulator) -> None:
    seen = await asyncio.to_thread(walk, emulator.url)
    assert seen["healthz"] == {"status": "ok"}
    assert seen["named"] == [seen["name"]] and seen["other"] == []
    assert seen["phase"] == "Abnormal"
    assert seen["drift"] == [{"flavor": "modelarts.vm.cpu.8ud", "count": 3, "maxCount": 3}]
    assert seen["deletion"] == "Abnormal"  # a forced phase wins until DELETE clears it
    assert seen["faults"] == [seen["fault"]] and seen["faults_after"] == []
    assert seen["requests"] == []  # control calls are not recorded
    assert seen["missing"] == (404, "ModelArts.50015001")
    assert seen["after_reset"] == []
