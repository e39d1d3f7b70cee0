"""Chaos: 50 pools through create → scale → delete while the operator is SIGKILLed at random moments and about
10% of ModelArts answers are faults (5xx, 429 with Retry-After, slow answers, dropped connections).

The invariants at the end are the product's promises: no billed pool leaked (every Delete-policy pool gone),
no pool lost (every Retain pool still there), never two pools for one display name (exactly one successful
``POST`` each), no object stranded in deletion. The random choices come from one seed, printed at the start;
``CHAOS_SEED=<n>`` replays the same choices (timing on a shared machine still varies).
"""

from __future__ import annotations

import collections
import json
import os
import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kube import Kubectl, wait_for

from devcluster import DevCluster
from stack import EmulatorProcess, OperatorProcess

ROOT = Path(__file__).resolve().parents[2]
FLAVOR = "modelarts.vm.cpu.8ud"
OBJECTS = 50
RETAIN_SHARE = 0.2
DISPLAY_LABEL = "os.modelarts/name"
# The operator is killed after a random 3-9 s of life and comes back after a random 0-1.5 s of downtime.
LIFE_SECONDS = (3.0, 9.0)
DOWNTIME_SECONDS = (0.0, 1.5)
# About 10% of /v2 requests get a fault; each kind has its own rule and a seed derived from the run's seed.
FAULTS: dict[str, dict[str, Any]] = {
    "5xx": {"status": 503, "error_msg": "Service temporarily unavailable", "probability": 0.03},
    "429": {"status": 429, "retry_after": "1", "probability": 0.03},
    "slow": {"delay_seconds": 1.5, "probability": 0.02},
    "dropped": {"drop_connection": True, "probability": 0.02},
}
PHASE_TIMEOUT = 150.0


@pytest.fixture(scope="module")
def seed() -> int:
    value = int(os.environ.get("CHAOS_SEED") or random.SystemRandom().randrange(1, 10**6))
    print(f"\nchaos seed: {value} (replay with CHAOS_SEED={value})")
    return value


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    process = EmulatorProcess.start(tmp_path_factory.mktemp("chaos-emulator"), create_seconds=2,
                                    delete_seconds=3, scale_seconds=2)
    yield process
    process.stop()


@pytest.fixture(scope="module")
def operator(tmp_path_factory: pytest.TempPathFactory, controlplane: DevCluster, emulator: EmulatorProcess,
             crd: None) -> Iterator[OperatorProcess]:
    # Short intervals so that the test ends in minutes; a rate limit high enough for 50 pools at those
    # intervals yet low enough that the emulator's request log (10 000 entries) keeps every request.
    process = OperatorProcess.configure(
        tmp_path_factory.mktemp("chaos-operator"), controlplane.kubeconfig, emulator, base_env=controlplane.env(),
        transition_poll_seconds="0.5", stable_poll_seconds="5", max_backoff_seconds="3",
        deletion_stall_seconds="10", request_timeout_seconds="10", rate_limit="20", rate_burst="40",
        tenant_secrets="true",
    )
    process.start()
    yield process
    process.stop()


def manifest(name: str, namespace: str, count: int, retain: bool) -> dict[str, Any]:
    return {
        "apiVersion": "modelarts.operator.dev/v1alpha1",
        "kind": "ModelArtsPool",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"type": "Logical", "scope": ["Train"], "resources": [{"flavor": FLAVOR, "count": count}],
                 "credentialsSecretRef": {"name": "modelarts-credentials"},
                 "deletionPolicy": "Retain" if retain else "Delete"},
    }


def objects(kubectl: Kubectl, namespace: str) -> dict[str, dict[str, Any]]:
    listed = json.loads(kubectl("get", "mapool", "-n", namespace, "-o", "json").stdout)["items"]
    return {item["metadata"]["name"]: item for item in listed}


def all_running_with(kubectl: Kubectl, namespace: str, names: list[str], nodes: int) -> bool:
    found = objects(kubectl, namespace)

    def settled(name: str) -> bool:
        status = (found.get(name) or {}).get("status") or {}
        counts = status.get("nodes") or {}
        return (status.get("phase") == "Running" and counts.get("available") == nodes
                and counts.get("creating") == 0 and counts.get("deleting") == 0)

    return all(settled(name) for name in names)


class Chaos:
    """SIGKILLs the operator after a random life time and starts it again, until stopped."""

    def __init__(self, operator: OperatorProcess, rng: random.Random) -> None:
        self.operator = operator
        self.rng = rng
        self.kills = 0
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="chaos", daemon=True)

    def __enter__(self) -> Chaos:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=90)
        if self.operator.process is None or self.operator.process.poll() is not None:
            self.operator.start()

    def _run(self) -> None:
        try:
            while not self._stop.wait(self.rng.uniform(*LIFE_SECONDS)):
                self.operator.kill()
                self.kills += 1
                self._stop.wait(self.rng.uniform(*DOWNTIME_SECONDS))
                self.operator.start()
        except BaseException as exc:  # reported by the test, not lost in a thread
            self.error = exc


def display_name_of(entry: dict[str, Any]) -> str | None:
    body = entry.get("body")
    if not isinstance(body, dict):
        return None
    labels = (body.get("metadata") or {}).get("labels") or {}
    return labels.get(DISPLAY_LABEL)


def test_fifty_pools_survive_kills_and_faults(kubectl: Kubectl, namespace: str, emulator: EmulatorProcess,
                                             operator: OperatorProcess, seed: int) -> None:
    rng = random.Random(seed)
    names = [f"chaos-pool-{i:02d}" for i in range(OBJECTS)]
    retained = set(rng.sample(names, int(OBJECTS * RETAIN_SHARE)))
    kubectl.credentials_secret(namespace, "modelarts-credentials", emulator.access_key, emulator.secret_key)
    emulator.control.clear_requests()
    rule_kind: dict[str, str] = {}
    for kind, rule in FAULTS.items():
        added = emulator.control.add_fault(path_regex="^/v2/", seed=rng.randrange(2**31), **rule)
        rule_kind[added["id"]] = kind

    def apply_all(count: int) -> None:
        docs = [manifest(n, namespace, count, n in retained) for n in names]
        kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all(docs))

    started = time.monotonic()
    with Chaos(operator, random.Random(rng.randrange(2**31))) as chaos:
        apply_all(1)
        wait_for(lambda: all_running_with(kubectl, namespace, names, 1), timeout=PHASE_TIMEOUT,
                 what="50 pools Running with 1 node", interval=1.0)
        created = time.monotonic()
        apply_all(2)
        wait_for(lambda: all_running_with(kubectl, namespace, names, 2), timeout=PHASE_TIMEOUT,
                 what="50 pools scaled to 2 nodes", interval=1.0)
        scaled = time.monotonic()
        kubectl("delete", "mapool", "--all", "-n", namespace, "--wait=false")
        wait_for(lambda: not objects(kubectl, namespace), timeout=PHASE_TIMEOUT,
                 what="every object gone (none stranded with the finalizer)", interval=1.0)
        deleted = time.monotonic()
    assert chaos.error is None, f"the chaos thread failed: {chaos.error!r}"
    emulator.control.clear_faults()

    requests = emulator.control.requests()
    assert len(requests) < 10_000, "the emulator's request log overflowed; the POST count below would be wrong"
    survived = collections.Counter(rule_kind[r["fault"]] for r in requests if r["fault"] is not None)
    by_status = collections.Counter("dropped" if r["dropped"] else str(r["status"]) for r in requests)
    print(f"operator kills: {chaos.kills}; phases: create {created - started:.0f}s, scale {scaled - created:.0f}s, "
          f"delete {deleted - scaled:.0f}s")
    print(f"ModelArts requests: {len(requests)}; faults injected and survived: {dict(survived)} "
          f"({sum(survived.values()) / max(len(requests), 1):.0%}); "
          f"answers by status: {dict(sorted(by_status.items()))}")

    pools = emulator.control.pools()
    by_display = collections.Counter(p["view"]["metadata"]["labels"].get(DISPLAY_LABEL) for p in pools)
    assert all(count == 1 for count in by_display.values()), f"a display name exists twice: {by_display}"
    leaked = sorted(set(by_display) - retained)
    assert not leaked, f"pools of deleted Delete-policy objects still exist: {leaked}"
    lost = sorted(retained - set(by_display))
    assert not lost, f"Retain pools were deleted: {lost}"
    for pool in pools:
        assert pool["internal"]["deletion"] is None, f"a Retain pool is being deleted: {pool['name']}"
        assert pool["view"]["status"]["phase"] == "Running", pool["view"]["status"]

    # A 200 is a pool made: a slow-answer fault only delays the real answer (the client may even have given up).
    posted = collections.Counter(display_name_of(r) for r in requests
                                 if r["operation"] == "create" and r["status"] == 200)
    assert posted == {name: 1 for name in names}, f"successful POSTs per display name: {posted}"
    assert chaos.kills >= 3, "too few operator kills to call this chaos"
    assert set(survived) == set(FAULTS), f"every kind of fault should have fired at least once: {survived}"
