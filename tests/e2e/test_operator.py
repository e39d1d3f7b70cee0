"""The operator end to end: real kube-apiserver + etcd, kubectl, the operator process, the emulator process.

Driven the way users drive it: ``kubectl apply/get/patch/delete``. Every wait is on a condition with a timeout.
"""

from __future__ import annotations

import json
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
TRANSITION_POLL = "0.5"
STABLE_POLL = "2"


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    process = EmulatorProcess.start(
        tmp_path_factory.mktemp("emulator"), create_seconds=2, delete_seconds=4, scale_seconds=2
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
        transition_poll_seconds=TRANSITION_POLL,
        stable_poll_seconds=STABLE_POLL,
        max_backoff_seconds="3",
        deletion_stall_seconds="3",
        tenant_secrets="true",
        # Longer than any wait here: a refused key's lock must never be what a fixed Secret waits for.
        credentials_lockout_seconds="3600",
    )
    process.start()
    yield process
    process.stop()
    print(process.log.read_text()[-4000:])


@pytest.fixture
def credentials(kubectl: Kubectl, namespace: str, emulator: EmulatorProcess) -> str:
    kubectl.credentials_secret(namespace, "modelarts-credentials", emulator.access_key, emulator.secret_key)
    return "modelarts-credentials"


def pool_manifest(name: str, namespace: str, *, count: int = 2, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "modelarts.operator.dev/v1alpha1",
        "kind": "ModelArtsPool",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "type": "Logical",
            "scope": ["Train", "Infer"],
            "resources": [{"flavor": FLAVOR, "count": count}],
            "credentialsSecretRef": {"name": "modelarts-credentials"},
            **spec,
        },
    }
    return body


def adoption_manifest(name: str, namespace: str, pool_name: str, policy: str = "Full") -> dict[str, Any]:
    """Only what adoption needs: the pool's name and what the operator may do with it (the team's own
    credentials may adopt with Full). Nothing else is declared, so nothing is changed."""
    return {
        "apiVersion": "modelarts.operator.dev/v1alpha1",
        "kind": "ModelArtsPool",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "poolName": pool_name,
            "managementPolicy": policy,
            "credentialsSecretRef": {"name": "modelarts-credentials"},
        },
    }


def get(kubectl: Kubectl, namespace: str, name: str) -> dict[str, Any] | None:
    result = kubectl("get", "mapool", name, "-n", namespace, "-o", "json", check=False)
    return json.loads(result.stdout) if result.returncode == 0 else None


def status_of(kubectl: Kubectl, namespace: str, name: str) -> dict[str, Any]:
    obj = get(kubectl, namespace, name)
    return (obj or {}).get("status") or {}


def condition(status: dict[str, Any], condition_type: str) -> dict[str, Any]:
    return next((c for c in status.get("conditions", []) if c["type"] == condition_type), {})


def wait_status(
    kubectl: Kubectl, namespace: str, name: str, predicate: Any, what: str, timeout: float = 60.0
) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        status = status_of(kubectl, namespace, name)
        return status if predicate(status) else None

    return wait_for(check, timeout=timeout, what=what)


def columns(kubectl: Kubectl, namespace: str, name: str, *extra: str) -> dict[str, str]:
    """``kubectl get mapool NAME`` as the user reads it: header → value."""
    lines = kubectl("get", "mapool", name, "-n", namespace, *extra).stdout.strip().splitlines()
    header, row = lines[0].split(), lines[1].split(None, len(lines[0].split()) - 1)
    return dict(zip(header, row, strict=False))


def running_with(available: int) -> Any:
    return lambda s: (
        s.get("phase") == "Running"
        and s.get("nodes", {}).get("available") == available
        and s.get("nodes", {}).get("creating") == 0
    )


@pytest.mark.usefixtures("operator", "credentials")
def test_create_scale_delete_with_kubectl(kubectl: Kubectl, namespace: str, emulator: EmulatorProcess) -> None:
    kubectl.apply(pool_manifest("train-pool", namespace))
    obj = wait_for(lambda: get(kubectl, namespace, "train-pool"), timeout=10, what="object")
    assert "modelarts.operator.dev/pool-deletion" in wait_for(
        lambda: (get(kubectl, namespace, "train-pool") or {}).get("metadata", {}).get("finalizers"),
        timeout=30,
        what="finalizer",
    )
    creating = wait_status(
        kubectl,
        namespace,
        "train-pool",
        lambda s: s.get("phase") == "Creating" or s.get("nodes", {}).get("creating"),
        "the Creating phase mirrored",
        timeout=30,
    )
    assert creating["poolName"]
    wait_status(kubectl, namespace, "train-pool", running_with(2), "Running with 2 nodes")
    shown = columns(kubectl, namespace, "train-pool")
    assert shown["PHASE"] == "Running" and shown["AVAILABLE"] == "2" and shown["READY"] == "True"
    wide = columns(kubectl, namespace, "train-pool", "-o", "wide")
    assert wide["POOL"] == creating["poolName"] and wide["TYPE"] == "Logical" and wide["SYNCED"] == "True"

    kubectl(
        "patch",
        "mapool",
        "train-pool",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        json.dumps({"spec": {"resources": [{"flavor": FLAVOR, "count": 3}]}}),
    )
    wait_status(kubectl, namespace, "train-pool", running_with(3), "scaled up to 3")
    kubectl(
        "patch",
        "mapool",
        "train-pool",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        json.dumps({"spec": {"resources": [{"flavor": FLAVOR, "count": 1}]}}),
    )
    wait_status(
        kubectl,
        namespace,
        "train-pool",
        lambda s: running_with(1)(s) and s["nodes"]["deleting"] == 0,
        "scaled down to 1",
    )

    kubectl("delete", "mapool", "train-pool", "-n", namespace, "--wait=false")
    deleting = wait_status(
        kubectl,
        namespace,
        "train-pool",
        lambda s: s.get("phase") == "Deleting",
        "the Deleting phase mirrored",
        timeout=30,
    )
    assert condition(deleting, "Deleting")["status"] == "True"
    assert get(kubectl, namespace, "train-pool") is not None, "the object stays while the pool exists"
    wait_for(lambda: get(kubectl, namespace, "train-pool") is None, timeout=60, what="object gone")
    assert emulator.control.pools_named("train-pool") == []
    del obj


@pytest.mark.usefixtures("operator", "credentials")
def test_deleting_count_shrinks_while_draining(kubectl: Kubectl, namespace: str, emulator: EmulatorProcess) -> None:
    kubectl.apply(pool_manifest("drain-pool", namespace, count=4))
    wait_status(kubectl, namespace, "drain-pool", running_with(4), "Running with 4 nodes")
    kubectl("delete", "mapool", "drain-pool", "-n", namespace, "--wait=false")
    seen: list[int] = []

    def drained() -> bool:
        obj = get(kubectl, namespace, "drain-pool")
        if obj is None:
            return True
        status = obj.get("status") or {}
        if status.get("phase") == "Deleting":
            seen.append(status["nodes"]["deleting"])
        return False

    wait_for(drained, timeout=60, what="object gone", interval=0.3)
    distinct = sorted(set(seen), reverse=True)
    assert len(distinct) >= 2, f"DELETING should be seen going down, saw {seen}"
    assert seen == sorted(seen, reverse=True)
    assert emulator.control.pools_named("drain-pool") == []


@pytest.mark.usefixtures("operator", "credentials")
def test_retain_keeps_the_pool(kubectl: Kubectl, namespace: str, emulator: EmulatorProcess) -> None:
    kubectl.apply(pool_manifest("kept-pool", namespace, count=1, deletionPolicy="Retain"))
    wait_status(kubectl, namespace, "kept-pool", running_with(1), "Running")
    kubectl("delete", "mapool", "kept-pool", "-n", namespace, "--timeout=60s")
    assert len(emulator.control.pools_named("kept-pool")) == 1
    events = kubectl("get", "events", "-n", namespace, "--field-selector", "reason=Retained").stdout
    assert "retained" in events


@pytest.mark.usefixtures("operator", "credentials")
def test_adopt_existing_pool_then_delete_per_policy(
    kubectl: Kubectl, namespace: str, emulator: EmulatorProcess
) -> None:
    body = {
        "apiVersion": "v2",
        "kind": "Pool",
        "metadata": {"labels": {"os.modelarts/name": "legacy-pool"}},
        "spec": {"type": "Logical", "scope": ["Train"], "resources": [{"flavor": FLAVOR, "count": 1}]},
    }
    created = emulator.control.create_pool(body)
    pool_name = created["metadata"]["name"]
    kubectl.apply(adoption_manifest("adopter", namespace, pool_name))
    adopted = wait_status(kubectl, namespace, "adopter", running_with(1), "adopted pool mirrored")
    assert adopted["poolName"] == pool_name
    # A second object may not manage the same pool.
    kubectl.apply(adoption_manifest("intruder", namespace, pool_name))
    refused = wait_status(
        kubectl, namespace, "intruder", lambda s: condition(s, "Synced").get("reason") == "AdoptionConflict", "conflict"
    )
    assert "adopter" in condition(refused, "Synced")["message"]
    kubectl("delete", "mapool", "intruder", "-n", namespace, "--timeout=60s")
    assert len(emulator.control.pools_named("legacy-pool")) == 1, "the refused adopter must not delete the pool"
    kubectl("delete", "mapool", "adopter", "-n", namespace, "--timeout=90s")
    assert emulator.control.pools_named("legacy-pool") == []


@pytest.mark.usefixtures("operator", "credentials")
def test_refused_delete_stalls_until_the_cause_is_fixed(
    kubectl: Kubectl, namespace: str, emulator: EmulatorProcess
) -> None:
    kubectl.apply(pool_manifest("guarded-pool", namespace, count=1))
    status = wait_status(kubectl, namespace, "guarded-pool", running_with(1), "Running")
    emulator.control.set_deletion(
        status["poolName"],
        "fail",
        status=403,
        error_code="ModelArts.0203",
        error_msg="dependent resources still use the pool",
    )
    kubectl("delete", "mapool", "guarded-pool", "-n", namespace, "--wait=false")
    stalled = wait_status(
        kubectl,
        namespace,
        "guarded-pool",
        lambda s: condition(s, "Deleting").get("reason") == "DeletionStalled",
        "stalled",
    )
    assert "dependent resources still use the pool" in condition(stalled, "Deleting")["message"]
    time.sleep(0)  # the object must still be there after several retries:
    wait_status(
        kubectl,
        namespace,
        "guarded-pool",
        lambda s: s.get("deletion", {}).get("failures", 0) >= 2,
        "retried with backoff",
    )
    assert get(kubectl, namespace, "guarded-pool") is not None
    emulator.control.set_deletion(status["poolName"], "normal")
    wait_for(lambda: get(kubectl, namespace, "guarded-pool") is None, timeout=60, what="object gone")
    assert emulator.control.pools_named("guarded-pool") == []


@pytest.mark.usefixtures("operator", "credentials")
def test_stable_pool_gets_no_status_writes(kubectl: Kubectl, namespace: str) -> None:
    kubectl.apply(pool_manifest("quiet-pool", namespace, count=1))
    wait_status(kubectl, namespace, "quiet-pool", running_with(1), "Running")
    wait_status(kubectl, namespace, "quiet-pool", lambda s: condition(s, "Ready").get("status") == "True", "Ready")
    time_window = 5 * float(STABLE_POLL)
    before = (get(kubectl, namespace, "quiet-pool") or {})["metadata"]["resourceVersion"]
    deadline = time.monotonic() + time_window
    while time.monotonic() < deadline:  # several stable polls happen in this window
        obj = get(kubectl, namespace, "quiet-pool") or {}
        assert obj["metadata"]["resourceVersion"] == before, "the operator wrote to a stable object"
        time.sleep(0.5)


def test_operator_killed_mid_create_and_mid_delete(
    kubectl: Kubectl, namespace: str, credentials: str, emulator: EmulatorProcess, operator: OperatorProcess
) -> None:
    names = [f"chaos-{i}" for i in range(3)]
    kubectl.apply(*(pool_manifest(n, namespace, count=1) for n in names))
    wait_for(
        lambda: all(
            status_of(kubectl, namespace, n).get("poolName") or emulator.control.pools_named(n) for n in names[:1]
        ),
        timeout=30,
        what="a create under way",
    )
    operator.kill()
    operator.start()
    for n in names:
        wait_status(kubectl, namespace, n, running_with(1), f"{n} Running after restart")
        assert len(emulator.control.pools_named(n)) == 1, f"{n} must have exactly one pool"
    kubectl("delete", "mapool", *names, "-n", namespace, "--wait=false")
    wait_status(kubectl, namespace, names[0], lambda s: s.get("deletion", {}).get("requestedAt"), "DELETE sent")
    operator.kill()
    operator.start()
    for n in names:

        def gone(name: str = n) -> bool:
            return get(kubectl, namespace, name) is None

        wait_for(gone, timeout=90, what=f"{n} gone")
        assert emulator.control.pools_named(n) == []


@pytest.mark.usefixtures("operator")
@pytest.mark.usefixtures("credentials")
def test_metrics_endpoint_reports_calls(operator: OperatorProcess, kubectl: Kubectl, namespace: str) -> None:
    # Its own pool: an earlier test may have restarted the operator, and counters start again with a process.
    kubectl.apply(pool_manifest("counted-pool", namespace, count=1))
    wait_status(kubectl, namespace, "counted-pool", running_with(1), "Running")
    text = operator.metrics()
    # Pools are observed through the project's shared list; creates are counted by operation too.
    assert 'modelarts_requests_total{code="200",operation="list"}' in text
    assert 'modelarts_requests_total{code="200",operation="create"}' in text
    assert "modelarts_request_duration_seconds_bucket" in text
    kubectl("delete", "mapool", "counted-pool", "-n", namespace, "--timeout=90s")


def test_example_manifest_is_valid(kubectl: Kubectl, namespace: str, crd: None) -> None:
    example = ROOT / "examples" / "pool.yaml"
    if not example.exists():
        pytest.fail("examples/pool.yaml is missing")
    docs = [d for d in yaml.safe_load_all(example.read_text()) if d]
    for doc in docs:
        doc.setdefault("metadata", {})["namespace"] = namespace
    kubectl("apply", "--dry-run=server", "-f", "-", stdin=yaml.safe_dump_all(docs))


@pytest.mark.usefixtures("operator", "credentials")
def test_storms_of_429_and_5xx_are_ridden_out(kubectl: Kubectl, namespace: str, emulator: EmulatorProcess) -> None:
    faults = [
        {"method": "POST", "path_regex": "/pools$", "status": 500, "times": 2},
        {
            "method": "GET",
            "path_regex": "/pools",
            "status": 429,
            "error_code": "APIG.0308",
            "error_msg": "The throttling threshold has been reached",
            "retry_after": "1",
            "times": 6,
        },
        {"method": "GET", "path_regex": "/pools", "status": 503, "times": 4},
        {"method": "DELETE", "path_regex": "/pools/", "status": 502, "times": 3},
    ]
    emulator.control.clear_requests()
    for fault in faults:
        emulator.control.add_fault(**fault)
    try:
        kubectl.apply(pool_manifest("stormy-pool", namespace, count=1))
        wait_status(kubectl, namespace, "stormy-pool", running_with(1), "Running despite the storm", timeout=90)
        assert len(emulator.control.pools_named("stormy-pool")) == 1, "retries must not create a second pool"
        kubectl("delete", "mapool", "stormy-pool", "-n", namespace, "--wait=false")
        wait_for(lambda: get(kubectl, namespace, "stormy-pool") is None, timeout=90, what="object gone")
        assert emulator.control.pools_named("stormy-pool") == []
        answered = [r["status"] for r in emulator.control.requests()]
        survived = {code: answered.count(code) for code in (429, 500, 502, 503)}
        print("faults injected and survived:", survived)
        assert survived == {429: 6, 500: 2, 502: 3, 503: 4}
    finally:
        emulator.control.clear_faults()


@pytest.mark.usefixtures("operator", "credentials")
def test_pool_removed_out_of_band_is_reported_and_replaced(
    kubectl: Kubectl, namespace: str, emulator: EmulatorProcess
) -> None:
    kubectl.apply(pool_manifest("vanishing-pool", namespace, count=1))
    first = wait_status(kubectl, namespace, "vanishing-pool", running_with(1), "Running")["poolName"]
    emulator.control.remove_pool(first)
    wait_for(
        lambda: "PoolGone" in kubectl("get", "events", "-n", namespace).stdout, timeout=30, what="a PoolGone event"
    )
    wait_status(
        kubectl,
        namespace,
        "vanishing-pool",
        lambda s: running_with(1)(s) and s.get("poolName"),
        "a replacement pool Running",
    )
    assert len(emulator.control.pools_named("vanishing-pool")) == 1
    kubectl("delete", "mapool", "vanishing-pool", "-n", namespace, "--timeout=90s")
    assert emulator.control.pools_named("vanishing-pool") == []


@pytest.mark.usefixtures("operator", "credentials")
def test_retain_is_the_way_out_of_a_stalled_deletion(
    kubectl: Kubectl, namespace: str, emulator: EmulatorProcess
) -> None:
    kubectl.apply(pool_manifest("stuck-pool", namespace, count=1))
    status = wait_status(kubectl, namespace, "stuck-pool", running_with(1), "Running")
    emulator.control.set_deletion(
        status["poolName"],
        "fail",
        status=403,
        error_code="ModelArts.50015002",
        error_msg="prepaid pool: unsubscribe it in the billing center",
    )
    kubectl("delete", "mapool", "stuck-pool", "-n", namespace, "--wait=false")
    wait_status(
        kubectl,
        namespace,
        "stuck-pool",
        lambda s: condition(s, "Deleting").get("reason") == "DeletionStalled",
        "stalled",
    )
    kubectl(
        "patch",
        "mapool",
        "stuck-pool",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        json.dumps({"spec": {"deletionPolicy": "Retain"}}),
    )
    wait_for(lambda: get(kubectl, namespace, "stuck-pool") is None, timeout=60, what="object released")
    assert len(emulator.control.pools_named("stuck-pool")) == 1, "Retain keeps the pool"
    emulator.control.remove_pool(status["poolName"])


@pytest.mark.usefixtures("operator")
def test_missing_credentials_are_reported_then_picked_up(
    kubectl: Kubectl, namespace: str, emulator: EmulatorProcess
) -> None:
    kubectl.apply(pool_manifest("early-pool", namespace, count=1))
    refused = wait_status(
        kubectl,
        namespace,
        "early-pool",
        lambda s: condition(s, "Synced").get("reason") == "InvalidSpec",
        "missing Secret reported",
    )
    assert "modelarts-credentials does not exist" in condition(refused, "Synced")["message"]
    assert emulator.control.pools_named("early-pool") == []
    kubectl.credentials_secret(namespace, "modelarts-credentials", emulator.access_key, emulator.secret_key)
    wait_status(kubectl, namespace, "early-pool", running_with(1), "Running once the Secret exists")
    text = kubectl("get", "mapool", "early-pool", "-n", namespace, "-o", "yaml").stdout
    events = kubectl("get", "events", "-n", namespace, "-o", "yaml").stdout
    assert emulator.secret_key not in text and emulator.secret_key not in events
    kubectl("delete", "mapool", "early-pool", "-n", namespace, "--timeout=90s")


@pytest.mark.usefixtures("operator")
def test_a_fixed_secret_is_used_before_the_refused_keys_lockout_ends(
    kubectl: Kubectl, namespace: str, emulator: EmulatorProcess
) -> None:
    """After a 401 the operator holds the refused key back for the lockout window (an hour here), but a Secret
    fixed meanwhile carries other credentials: they are used as soon as the Secret is read again."""
    kubectl.credentials_secret(namespace, "modelarts-credentials", emulator.access_key, "a-rotated-secret-key")
    kubectl.apply(pool_manifest("rotated-pool", namespace, count=1))
    wait_status(
        kubectl,
        namespace,
        "rotated-pool",
        lambda s: condition(s, "Synced").get("reason") == "Unauthorized",
        "the wrong key refused",
    )
    kubectl.credentials_secret(namespace, "modelarts-credentials", emulator.access_key, emulator.secret_key)
    # Within the Secret cache period plus one retry (30 s each), far from the hour of the lock.
    wait_status(kubectl, namespace, "rotated-pool", running_with(1), "Running with the fixed Secret", timeout=150)
    kubectl("delete", "mapool", "rotated-pool", "-n", namespace, "--timeout=90s")
