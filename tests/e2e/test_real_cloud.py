"""The real cloud's manners, end to end: the emulator answers 404 for a new pool for 10 s (read-after-create lag,
as public clients see it, modelarts-api.md §10), and a creation can fail in the cloud. The operator must never
create a pool twice nor lose one, show a failed creation, and release its object cleanly."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from kube import Kubectl, wait_for

from devcluster import DevCluster
from stack import EmulatorProcess, OperatorProcess

FLAVOR = "modelarts.vm.cpu.8ud"
VISIBILITY_DELAY = 10


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    # Creation takes longer than the lag, so a pool can still be failed while it is Creating.
    process = EmulatorProcess.start(
        tmp_path_factory.mktemp("emulator"),
        create_seconds=15,
        delete_seconds=3,
        scale_seconds=2,
        extra_args=["--visibility-delay-seconds", str(VISIBILITY_DELAY)],
    )
    yield process
    process.stop()


@pytest.fixture(scope="module")
def operator(
    tmp_path_factory: pytest.TempPathFactory, controlplane: DevCluster, emulator: EmulatorProcess, crd: None
) -> Iterator[OperatorProcess]:
    process = OperatorProcess.configure(
        tmp_path_factory.mktemp("operator"),
        controlplane.kubeconfig,
        emulator,
        base_env=controlplane.env(),
        transition_poll_seconds="0.5",
        stable_poll_seconds="2",
        max_backoff_seconds="3",
        tenant_secrets="true",
    )
    process.start()
    yield process
    process.stop()
    print(process.log.read_text(errors="replace")[-5000:])


@pytest.fixture
def credentials(kubectl: Kubectl, namespace: str, emulator: EmulatorProcess) -> None:
    kubectl.credentials_secret(namespace, "modelarts-credentials", emulator.access_key, emulator.secret_key)


def pool(name: str, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "modelarts.operator.dev/v1alpha1",
        "kind": "ModelArtsPool",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "type": "Logical",
            "scope": ["Train"],
            "resources": [{"flavor": FLAVOR, "count": 1}],
            "credentialsSecretRef": {"name": "modelarts-credentials"},
        },
    }


def status(kubectl: Kubectl, namespace: str, name: str) -> dict[str, Any]:
    result = kubectl("get", "mapool", name, "-n", namespace, "-o", "json", check=False)
    return (json.loads(result.stdout).get("status") or {}) if result.returncode == 0 else {}


def condition(s: dict[str, Any], kind: str) -> dict[str, Any]:
    return next((c for c in s.get("conditions") or [] if c["type"] == kind), {})


def events(kubectl: Kubectl, namespace: str, name: str) -> list[str]:
    items = kubectl.json("get", "events", "-n", namespace, "--field-selector", f"involvedObject.name={name}")
    return [e["reason"] for e in items["items"]]


@pytest.mark.usefixtures("operator", "credentials")
def test_a_pool_hidden_by_read_after_create_lag_is_neither_recreated_nor_lost(
    kubectl: Kubectl, namespace: str, emulator: EmulatorProcess
) -> None:
    kubectl.apply(pool("lagging", namespace))
    recorded = wait_for(
        lambda: status(kubectl, namespace, "lagging").get("poolName"), timeout=30, what="the pool name recorded"
    )
    names: set[str] = set()

    def running() -> bool:
        current = status(kubectl, namespace, "lagging")
        names.add(current.get("poolName") or "")
        return current.get("phase") == "Running" and condition(current, "Ready").get("status") == "True"

    wait_for(running, timeout=90, what="Running after the lag and the creation")
    assert names == {recorded}, "the recorded pool was never dropped for another"
    assert len(emulator.control.requests(method="POST")) == 1, "exactly one POST"
    assert len(emulator.control.pools_named("lagging")) == 1, "exactly one pool"
    assert "PoolGone" not in events(kubectl, namespace, "lagging")
    kubectl("delete", "mapool", "lagging", "-n", namespace, "--timeout=90s")
    assert emulator.control.pools_named("lagging") == []


@pytest.mark.usefixtures("operator", "credentials")
def test_a_failed_creation_is_shown_and_deleting_the_object_releases_it(
    kubectl: Kubectl, namespace: str, emulator: EmulatorProcess
) -> None:
    kubectl.apply(pool("doomed", namespace))
    name = wait_for(
        lambda: status(kubectl, namespace, "doomed").get("poolName"), timeout=30, what="the pool name recorded"
    )
    emulator.control.set_creation(name, "fail", message="Insufficient resources for flavor modelarts.vm.cpu.8ud")
    failed = wait_for(
        lambda: (
            (s := status(kubectl, namespace, "doomed"))
            and condition(s, "Ready").get("reason") == "CreationFailed"
            and s
        ),
        timeout=90,
        what="Ready=False CreationFailed",
    )
    assert "Insufficient resources" in condition(failed, "Ready")["message"]
    assert condition(failed, "Synced")["reason"] == "CreationFailed"
    assert "CreationFailed" in events(kubectl, namespace, "doomed")
    posts = len(emulator.control.requests(method="POST"))
    kubectl("delete", "mapool", "doomed", "-n", namespace, "--timeout=90s")
    assert len(emulator.control.requests(method="POST")) == posts, "not retried in a loop"
    # Only the failed record is left (kept 3 days, listed under status=failed): nothing that runs or bills.
    assert [p["view"]["status"].get("phase") for p in emulator.control.pools_named("doomed")] == ["CreationFailed"]
