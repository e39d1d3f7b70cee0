"""Chaos: 50 pools through create → scale → delete while the operator is SIGKILLed at random moments and about
10% of ModelArts answers are faults (5xx, 429 with Retry-After, slow answers, dropped connections); and pools
deleted while every pool list (``GET /pools``, the shared observer's only read) fails, with the same kills.

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
    process = EmulatorProcess.start(
        tmp_path_factory.mktemp("chaos-emulator"), create_seconds=2, delete_seconds=3, scale_seconds=2
    )
    yield process
    process.stop()


@pytest.fixture(scope="module")
def operator(
    tmp_path_factory: pytest.TempPathFactory, controlplane: DevCluster, emulator: EmulatorProcess, crd: None
) -> Iterator[OperatorProcess]:
    # Short intervals so that the test ends in minutes; a rate limit high enough for 50 pools at those
    # intervals yet low enough that the emulator's request log (10 000 entries) keeps every request.
    process = OperatorProcess.configure(
        tmp_path_factory.mktemp("chaos-operator"),
        controlplane.kubeconfig,
        emulator,
        base_env=controlplane.env(),
        transition_poll_seconds="0.5",
        stable_poll_seconds="5",
        max_backoff_seconds="3",
        deletion_stall_seconds="10",
        request_timeout_seconds="10",
        rate_limit="20",
        rate_burst="40",
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
        "spec": {
            "type": "Logical",
            "scope": ["Train"],
            "resources": [{"flavor": FLAVOR, "count": count}],
            "credentialsSecretRef": {"name": "modelarts-credentials"},
            "deletionPolicy": "Retain" if retain else "Delete",
        },
    }


def objects(kubectl: Kubectl, namespace: str) -> dict[str, dict[str, Any]]:
    listed = json.loads(kubectl("get", "mapool", "-n", namespace, "-o", "json").stdout)["items"]
    return {item["metadata"]["name"]: item for item in listed}


def all_running_with(kubectl: Kubectl, namespace: str, names: list[str], nodes: int) -> bool:
    found = objects(kubectl, namespace)

    def settled(name: str) -> bool:
        status = (found.get(name) or {}).get("status") or {}
        counts = status.get("nodes") or {}
        return (
            status.get("phase") == "Running"
            and counts.get("available") == nodes
            and counts.get("creating") == 0
            and counts.get("deleting") == 0
        )

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


def test_fifty_pools_survive_kills_and_faults(
    kubectl: Kubectl, namespace: str, emulator: EmulatorProcess, operator: OperatorProcess, seed: int
) -> None:
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
        wait_for(
            lambda: all_running_with(kubectl, namespace, names, 1),
            timeout=PHASE_TIMEOUT,
            what="50 pools Running with 1 node",
            interval=1.0,
        )
        created = time.monotonic()
        apply_all(2)
        wait_for(
            lambda: all_running_with(kubectl, namespace, names, 2),
            timeout=PHASE_TIMEOUT,
            what="50 pools scaled to 2 nodes",
            interval=1.0,
        )
        scaled = time.monotonic()
        kubectl("delete", "mapool", "--all", "-n", namespace, "--wait=false")
        wait_for(
            lambda: not objects(kubectl, namespace),
            timeout=PHASE_TIMEOUT,
            what="every object gone (none stranded with the finalizer)",
            interval=1.0,
        )
        deleted = time.monotonic()
    assert chaos.error is None, f"the chaos thread failed: {chaos.error!r}"
    emulator.control.clear_faults()

    requests = emulator.control.requests()
    assert len(requests) < 10_000, "the emulator's request log overflowed; the POST count below would be wrong"
    survived = collections.Counter(rule_kind[r["fault"]] for r in requests if r["fault"] is not None)
    by_status = collections.Counter("dropped" if r["dropped"] else str(r["status"]) for r in requests)
    print(
        f"operator kills: {chaos.kills}; phases: create {created - started:.0f}s, scale {scaled - created:.0f}s, "
        f"delete {deleted - scaled:.0f}s"
    )
    print(
        f"ModelArts requests: {len(requests)}; faults injected and survived: {dict(survived)} "
        f"({sum(survived.values()) / max(len(requests), 1):.0%}); "
        f"answers by status: {dict(sorted(by_status.items()))}"
    )

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
    posted = collections.Counter(
        display_name_of(r) for r in requests if r["operation"] == "create" and r["status"] == 200
    )
    assert posted == {name: 1 for name in names}, f"successful POSTs per display name: {posted}"
    assert chaos.kills >= 3, "too few operator kills to call this chaos"
    assert set(survived) == set(FAULTS), f"every kind of fault should have fired at least once: {survived}"


LIST_FAULT_OBJECTS = 20
# The list keeps failing at least this long, so that the operator is killed at least once meanwhile (its first
# kill comes at most LIFE_SECONDS[1] after the chaos starts).
LIST_FAULT_SECONDS = LIFE_SECONDS[1] + DOWNTIME_SECONDS[1] + 2.0


def pools_by_display(emulator: EmulatorProcess) -> dict[str, dict[str, Any]]:
    """The emulator's pools (deleting ones too, until they are gone) by display name."""
    return {p["view"]["metadata"]["labels"].get(DISPLAY_LABEL): p for p in emulator.control.pools()}


def test_deletion_survives_a_failing_pool_list(
    kubectl: Kubectl, namespace: str, emulator: EmulatorProcess, operator: OperatorProcess, seed: int
) -> None:
    """The pool list fails (503) from before the deletion until every Delete-policy pool is gone from ModelArts,
    while the operator is killed at random: each object falls back to its own GET, so the pools are deleted
    anyway; no object goes before its pool is gone (a pool nobody would delete); once the list answers again no
    object is left stranded; Retain pools stay."""
    rng = random.Random(seed + 1)
    names = [f"list-fault-{i:02d}" for i in range(LIST_FAULT_OBJECTS)]
    retained = set(rng.sample(names, int(LIST_FAULT_OBJECTS * RETAIN_SHARE)))
    kubectl.credentials_secret(namespace, "modelarts-credentials", emulator.access_key, emulator.secret_key)
    emulator.control.clear_faults()
    kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all([manifest(n, namespace, 1, n in retained) for n in names]))
    wait_for(
        lambda: all_running_with(kubectl, namespace, names, 1),
        timeout=PHASE_TIMEOUT,
        what=f"{LIST_FAULT_OBJECTS} pools Running",
        interval=1.0,
    )
    display_of = {name: obj["status"]["cloud"]["displayName"] for name, obj in objects(kubectl, namespace).items()}
    assert set(display_of) == set(names)
    emulator.control.clear_requests()
    list_fault = emulator.control.add_fault(
        method="GET", path_regex="/pools$", status=503, error_msg="Service temporarily unavailable"
    )
    early: list[str] = []  # objects seen gone while their Delete-policy pool still existed

    def delete_pools_gone() -> bool:
        """Every Delete-policy pool gone from ModelArts; meanwhile, no object released before its pool."""
        left = set(objects(kubectl, namespace))  # objects first: a pool seen after this existed before it
        pools = pools_by_display(emulator)
        early.extend(
            n for n in names if n not in left and n not in retained and display_of[n] in pools and n not in early
        )
        return not any(display_of[n] in pools for n in names if n not in retained)

    with Chaos(operator, random.Random(rng.randrange(2**31))) as chaos:
        failing_since = time.monotonic()
        kubectl("delete", "mapool", "--all", "-n", namespace, "--wait=false")
        wait_for(
            lambda: delete_pools_gone() and time.monotonic() - failing_since >= LIST_FAULT_SECONDS,
            timeout=PHASE_TIMEOUT,
            what="every Delete-policy pool gone while the list fails",
            interval=0.5,
        )
        stranded_while_failing = sorted(objects(kubectl, namespace))
        emulator.control.remove_fault(list_fault["id"])
        wait_for(
            lambda: not objects(kubectl, namespace),
            timeout=PHASE_TIMEOUT,
            what="every object gone once the list answers again (none stranded with the finalizer)",
            interval=1.0,
        )
    assert chaos.error is None, f"the chaos thread failed: {chaos.error!r}"

    requests = emulator.control.requests()
    lists = [r for r in requests if r["operation"] == "list"]
    failed_lists = [r for r in lists if r["fault"] == list_fault["id"]]
    gets = [r for r in requests if r["operation"] == "show"]
    print(
        f"operator kills: {chaos.kills}; list calls: {len(lists)} ({len(failed_lists)} failed by the fault); "
        f"per-pool GETs: {len(gets)}; objects still deleting when the list recovered: {len(stranded_while_failing)}"
    )
    assert failed_lists, "the list fault never fired: the case tested nothing"
    assert chaos.kills >= 1, "the operator was never killed while the list failed"
    assert not early, f"objects released while their pool still existed in ModelArts: {early}"
    pools = pools_by_display(emulator)
    leaked = sorted(n for n in names if n not in retained and display_of[n] in pools)
    assert not leaked, f"pools of deleted Delete-policy objects still exist: {leaked}"
    lost = sorted(n for n in retained if display_of[n] not in pools)
    assert not lost, f"Retain pools were deleted: {lost}"
    for name in retained:
        pool = pools[display_of[name]]
        assert pool["internal"]["deletion"] is None, f"a Retain pool is being deleted: {pool['name']}"
    deleted = {r["path"].rsplit("/", 1)[-1] for r in requests if r["operation"] == "delete"}
    retained_pools = {pools[display_of[n]]["name"] for n in retained}
    assert not retained_pools & deleted, f"DELETE sent for Retain pools: {sorted(retained_pools & deleted)}"
