"""Many teams, one operator: each attack of the multi-tenant security review, tried as a tenant would — a
ServiceAccount token bound only to the chart's tenant role in its own namespace — on the real API server, with
the operator and the emulator as processes and a second loopback listener standing in for an attacker's host.
Each must fail with nothing sent where it should not go and no pool touched; the platform's happy paths work.

The platform's set-up: ModelArtsProjects bind namespaces to the (emulated) project, their Secret lives in a
platform namespace; the operator's own credentials (with a security token) serve only ``platform-*`` namespaces;
tenant Secrets are allowed (labelled); the allow-list names the emulator and one "broken proxy" exactly.
"""

from __future__ import annotations

import gzip
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from chart_helpers import CHART, Helm
from kube import Kubectl, KubectlError, wait_for

from devcluster import DevCluster
from stack import EmulatorProcess, OperatorProcess

FLAVOR = "modelarts.vm.cpu.8ud"
PLATFORM_TOKEN = "PLATFORM-STS-SECURITY-TOKEN-E2E"
RUN = uuid.uuid4().hex[:6]
TEAM_A, TEAM_A2, TEAM_B, TEAM_C, TEAM_H = (
    f"{team}-{RUN}" for team in ("team-a", "team-a2", "team-b", "team-c", "team-h")
)
PLATFORM = f"platform-secrets-{RUN}"


# --- listeners ----------------------------------------------------------------------------------------------


class Recorder(ThreadingHTTPServer):
    """Records every request; what it answers depends on ``behaviour``."""

    daemon_threads = True

    def __init__(self, behaviour: Callable[[BaseHTTPRequestHandler], None]) -> None:
        self.received: list[dict[str, Any]] = []
        self.behaviour = behaviour
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:
                pass

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                recorder.received.append({"method": self.command, "path": self.path, "headers": dict(self.headers)})
                recorder.behaviour(self)

            do_GET = do_POST = do_PATCH = do_DELETE = _any

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


def not_modelarts(handler: BaseHTTPRequestHandler) -> None:
    body = b"<html>not here</html>"
    handler.send_response(404)
    handler.send_header("Content-Type", "text/html")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


BOMB = gzip.compress(b'{"apiVersion":"v2","kind":"PoolList","items":[],"m":"' + b"0" * (200 * 1024 * 1024) + b'"}', 9)
DEEP = b"[" * 200_000 + b"]" * 200_000


def broken_proxy(handler: BaseHTTPRequestHandler) -> None:
    """A "ModelArts" the platform allow-listed that went bad: a gzip bomb for lists, JSON nested 200 000 deep for
    the rest."""
    body, encoding = (
        (BOMB, "gzip") if handler.command == "GET" and handler.path.split("?")[0].endswith("/pools") else (DEEP, None)
    )
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    if encoding:
        handler.send_header("Content-Encoding", encoding)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


@pytest.fixture(scope="module")
def attacker() -> Iterator[Recorder]:
    server = Recorder(not_modelarts)
    yield server
    server.shutdown()


@pytest.fixture(scope="module")
def proxy() -> Iterator[Recorder]:
    server = Recorder(broken_proxy)
    yield server
    server.shutdown()


# --- the platform ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    process = EmulatorProcess.start(
        tmp_path_factory.mktemp("emulator"), create_seconds=1, delete_seconds=2, scale_seconds=1
    )
    yield process
    process.stop()


def project(name: str, selector: dict[str, Any], endpoint: str, project_id: str, adoption: str) -> dict[str, Any]:
    return {
        "apiVersion": "modelarts.operator.dev/v1alpha1",
        "kind": "ModelArtsProject",
        "metadata": {"name": name},
        "spec": {
            "projectId": project_id,
            "region": "cn-north-4",
            "endpoint": endpoint,
            "adoption": adoption,
            "credentialsSecretRef": {"namespace": PLATFORM, "name": "modelarts-project"},
            "namespaceSelector": {"matchLabels": selector},
        },
    }


@pytest.fixture(scope="module")
def platform(kubectl: Kubectl, crd: str, helm: Helm, emulator: EmulatorProcess, proxy: Recorder) -> Iterator[None]:
    for namespace, labels in (
        (TEAM_A, {"team": f"a-{RUN}"}),
        (TEAM_A2, {"team": f"a-{RUN}"}),
        (TEAM_B, {"team": f"b-{RUN}"}),
        (TEAM_C, {}),
        (TEAM_H, {"team": f"h-{RUN}"}),
        (PLATFORM, {}),
    ):
        kubectl.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace, "labels": labels}})
    kubectl.credentials_secret(PLATFORM, "modelarts-project", emulator.access_key, emulator.secret_key, marked=False)
    kubectl.apply(
        project(f"proj-a-{RUN}", {"team": f"a-{RUN}"}, emulator.url, emulator.project_id, "Full"),
        project(f"proj-b-{RUN}", {"team": f"b-{RUN}"}, emulator.url, emulator.project_id, "Forbidden"),
        project(f"proj-h-{RUN}", {"team": f"h-{RUN}"}, proxy.url, emulator.project_id, "Forbidden"),
    )
    # The chart's tenant roles, exactly as shipped.
    roles = helm("template", "t", str(CHART), "--show-only", "templates/tenant-roles.yaml").stdout
    kubectl("apply", "-f", "-", stdin=roles)
    yield
    kubectl("delete", "maproject", f"proj-a-{RUN}", f"proj-b-{RUN}", f"proj-h-{RUN}", "--ignore-not-found", check=False)
    for namespace in (TEAM_A, TEAM_A2, TEAM_B, TEAM_C, TEAM_H, PLATFORM):
        kubectl("delete", "namespace", namespace, "--wait=false", check=False)


@pytest.fixture(scope="module")
def operator(
    tmp_path_factory: pytest.TempPathFactory,
    controlplane: DevCluster,
    emulator: EmulatorProcess,
    proxy: Recorder,
    platform: None,
) -> Iterator[OperatorProcess]:
    process = OperatorProcess.configure(
        tmp_path_factory.mktemp("operator"),
        controlplane.kubeconfig,
        emulator,
        base_env=controlplane.env(),
        access_key=emulator.access_key,
        secret_key=emulator.secret_key,
        security_token=PLATFORM_TOKEN,
        default_credentials_namespaces="platform-*",
        tenant_secrets="true",
        allowed_endpoints=f"{emulator.url},{proxy.url}",  # exactly these two: not the attacker's port
        transition_poll_seconds="0.5",
        stable_poll_seconds="2",
        max_backoff_seconds="3",
        request_timeout_seconds="5",
    )
    process.start()
    yield process
    process.stop()
    print(process.log.read_text(errors="replace")[-6000:])


def tenant(kubectl: Kubectl, tmp_path: Path, name: str, *, status_write: bool = False) -> Kubectl:
    """A ServiceAccount of team-b bound only to the chart's tenant-edit role (plus status write, as a careless
    wildcard role would grant), as a kubectl of its own."""
    kubectl("create", "serviceaccount", name, "-n", TEAM_B, check=False)
    binding: dict[str, Any] = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": f"{name}-tenant", "namespace": TEAM_B},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": "t-modelarts-operator-tenant-edit",
        },
        "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": TEAM_B}],
    }
    kubectl.apply(binding)
    if status_write:
        role = {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": "status-writer", "namespace": TEAM_B},
            "rules": [
                {
                    "apiGroups": ["modelarts.operator.dev"],
                    "resources": ["modelartspools/status"],
                    "verbs": ["get", "patch", "update"],
                }
            ],
        }
        kubectl.apply(
            role,
            {
                **binding,
                "metadata": {"name": f"{name}-status", "namespace": TEAM_B},
                "roleRef": {**binding["roleRef"], "kind": "Role", "name": "status-writer"},
            },
        )
    token = kubectl("create", "token", name, "-n", TEAM_B, "--duration=1h").stdout.strip()
    as_tenant = kubectl.with_token(token, tmp_path / f"{name}.kubeconfig")
    wait_for(
        lambda: (
            as_tenant(
                "auth", "can-i", "create", "modelartspools.modelarts.operator.dev", "-n", TEAM_B, check=False
            ).stdout.strip()
            == "yes"
        ),
        timeout=30,
        what="the tenant's RBAC",
    )
    return as_tenant


# --- helpers -----------------------------------------------------------------------------------------------


def pool(name: str, namespace: str, count: int = 1, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"type": "Logical", "scope": ["Train"], "resources": [{"flavor": FLAVOR, "count": count}]}
    body.update(spec)
    return {
        "apiVersion": "modelarts.operator.dev/v1alpha1",
        "kind": "ModelArtsPool",
        "metadata": {"name": name, "namespace": namespace},
        "spec": body,
    }


def status(kubectl: Kubectl, namespace: str, name: str) -> dict[str, Any]:
    result = kubectl("get", "mapool", name, "-n", namespace, "-o", "json", check=False)
    if result.returncode != 0:
        return {}
    found: dict[str, Any] = json.loads(result.stdout).get("status") or {}
    return found


def condition(s: dict[str, Any], kind: str) -> dict[str, Any]:
    return next((c for c in s.get("conditions") or [] if c["type"] == kind), {})


def wait_reason(
    kubectl: Kubectl, namespace: str, name: str, kind: str, reason: str, timeout: float = 45
) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        current = status(kubectl, namespace, name)
        return current if condition(current, kind).get("reason") == reason else None

    return wait_for(reached, timeout=timeout, what=f"{namespace}/{name} {kind}={reason}")


def running(kubectl: Kubectl, namespace: str, name: str, nodes: int = 1) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        current = status(kubectl, namespace, name)
        ready = current.get("phase") == "Running" and (current.get("nodes") or {}).get("available") == nodes
        return current if ready else None

    return wait_for(reached, timeout=60, what=f"{namespace}/{name} Running with {nodes} nodes")


def gone(kubectl: Kubectl, namespace: str, name: str, timeout: float = 60) -> None:
    wait_for(
        lambda: kubectl("get", "mapool", name, "-n", namespace, check=False).returncode != 0,
        timeout=timeout,
        what=f"{namespace}/{name} released",
    )


def victim(emulator: EmulatorProcess, display: str, count: int = 8) -> str:
    """Another team's pool, made in the console: no object manages it."""
    created = emulator.control.create_pool(
        {
            "apiVersion": "v2",
            "kind": "Pool",
            "metadata": {"labels": {"os.modelarts/name": display}},
            "spec": {"type": "Logical", "scope": ["Train"], "resources": [{"flavor": FLAVOR, "count": count}]},
        },
        ready=True,
    )
    return str(created["metadata"]["name"])


def untouched(emulator: EmulatorProcess, name: str, nodes: int) -> None:
    calls = emulator.control.requests()
    assert not [c for c in calls if c["pool_name"] == name and c["method"] in ("PATCH", "DELETE")], (
        "the victim's pool was changed or deleted"
    )
    (pool_view,) = [p["view"] for p in emulator.control.pools() if p["name"] == name]
    assert sum(r["count"] for r in pool_view["spec"]["resources"]) == nodes


def reasons(kubectl: Kubectl, namespace: str, name: str) -> list[str]:
    events = kubectl.json("get", "events", "-n", namespace, "--field-selector", f"involvedObject.name={name}")
    return [e["reason"] for e in events["items"]]


# --- the attacks ---------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("platform")
def test_a_tenant_may_manage_pools_in_its_namespace_and_nothing_else(kubectl: Kubectl, tmp_path: Path) -> None:
    as_tenant = tenant(kubectl, tmp_path, "plain")

    def can(*args: str) -> bool:
        return as_tenant("auth", "can-i", *args, check=False).stdout.strip() == "yes"

    pools = "modelartspools.modelarts.operator.dev"
    for verb in ("create", "get", "list", "watch", "patch", "delete"):
        assert can(verb, pools, "-n", TEAM_B), verb
    assert not can("patch", pools, "--subresource=status", "-n", TEAM_B), "status would point objects at any pool"
    assert not can("create", pools, "-n", TEAM_A), "another team's namespace"
    for verb in ("get", "list", "create", "patch"):
        assert not can(verb, "modelartsprojects.modelarts.operator.dev"), verb
    assert not can("get", "secrets", "-n", TEAM_B)
    assert not can("get", "secrets", "-n", PLATFORM)


@pytest.mark.usefixtures("operator")
def test_adopting_another_teams_pool_is_refused_and_deleting_the_object_leaves_it(
    kubectl: Kubectl, emulator: EmulatorProcess, tmp_path: Path
) -> None:
    as_tenant = tenant(kubectl, tmp_path, "adopter")
    name = victim(emulator, f"prod-{RUN}")
    for policy in ("Full", "ObserveOnly"):
        as_tenant.apply(pool(f"grab-{policy.lower()}", TEAM_B, poolName=name, managementPolicy=policy))
        refused = wait_reason(kubectl, TEAM_B, f"grab-{policy.lower()}", "Synced", "AdoptionForbidden")
        assert "poolName" not in refused and "does not allow adopting" in condition(refused, "Synced")["message"]
    as_tenant("delete", "mapool", "grab-full", "grab-observeonly", "-n", TEAM_B, "--wait=false")
    gone(kubectl, TEAM_B, "grab-full")
    gone(kubectl, TEAM_B, "grab-observeonly")
    untouched(emulator, name, 8)


@pytest.mark.usefixtures("operator")
def test_a_backdated_intent_annotation_recovers_nothing(
    kubectl: Kubectl, emulator: EmulatorProcess, tmp_path: Path
) -> None:
    """The operator once kept its create intent in an annotation a tenant can write; backdating it and naming the
    victim's display name made the operator "recover" the victim's pool."""
    as_tenant = tenant(kubectl, tmp_path, "backdater")
    display = f"batch-{RUN}"
    name = victim(emulator, display)
    forged = pool("innocent", TEAM_B, displayName=display)
    forged["metadata"]["annotations"] = {"modelarts.operator.dev/create-requested-at": "2000-01-01T00:00:00Z"}
    as_tenant.apply(forged)
    refused = wait_reason(kubectl, TEAM_B, "innocent", "Synced", "DisplayNameTaken")
    assert "poolName" not in refused and "Recovered" not in reasons(kubectl, TEAM_B, "innocent")
    as_tenant("delete", "mapool", "innocent", "-n", TEAM_B, "--wait=false")
    gone(kubectl, TEAM_B, "innocent")
    untouched(emulator, name, 8)


@pytest.mark.usefixtures("operator")
def test_a_forged_status_pool_name_neither_changes_nor_deletes_the_pool(
    kubectl: Kubectl, emulator: EmulatorProcess, tmp_path: Path
) -> None:
    as_writer = tenant(kubectl, tmp_path, "writer", status_write=True)
    name = victim(emulator, f"guarded-{RUN}")
    as_writer.apply(pool("grab", TEAM_B))
    own = running(kubectl, TEAM_B, "grab")["poolName"]
    as_writer(
        "patch",
        "mapool",
        "grab",
        "-n",
        TEAM_B,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": {"poolName": name}}),
    )
    as_writer(
        "patch",
        "mapool",
        "grab",
        "-n",
        TEAM_B,
        "--type=merge",
        "-p",
        json.dumps({"spec": {"resources": [{"flavor": FLAVOR, "count": 1}], "description": "x"}}),
    )
    refused = wait_reason(kubectl, TEAM_B, "grab", "Synced", "NotOwned")
    assert (refused.get("nodes") or {}).get("available") != 8, "the victim's pool is not shown to the tenant"
    as_writer("delete", "mapool", "grab", "-n", TEAM_B, "--wait=false")
    stalled = wait_reason(kubectl, TEAM_B, "grab", "Deleting", "DeletionStalled")
    assert "not going to delete" in condition(stalled, "Deleting")["message"]
    untouched(emulator, name, 8)
    # The sanctioned way out: Retain releases the object; the pool stays.
    as_writer("patch", "mapool", "grab", "-n", TEAM_B, "--type=merge", "-p", '{"spec":{"deletionPolicy":"Retain"}}')
    gone(kubectl, TEAM_B, "grab")
    untouched(emulator, name, 8)
    emulator.control.remove_pool(own)  # the tenant's own pool, orphaned by its own forgery


@pytest.mark.usefixtures("operator")
def test_a_foreign_endpoint_receives_nothing(
    kubectl: Kubectl, emulator: EmulatorProcess, attacker: Recorder, tmp_path: Path
) -> None:
    as_tenant = tenant(kubectl, tmp_path, "deputy")
    # Through the namespace's project: the project decides the endpoint.
    as_tenant.apply(pool("leak", TEAM_B, endpoint=attacker.url))
    leak = wait_reason(kubectl, TEAM_B, "leak", "Synced", "InvalidSpec")
    assert "cannot override" in condition(leak, "Synced")["message"]
    # With a team Secret (labelled, the team's own): the allow-list decides.
    kubectl.credentials_secret(TEAM_B, "team-b-own", "TEAMBOWNACCESSKEY000", "team-b-secret")
    as_tenant.apply(
        pool("leak2", TEAM_B, endpoint=attacker.url, projectId="anything", credentialsSecretRef={"name": "team-b-own"})
    )
    leak2 = wait_reason(kubectl, TEAM_B, "leak2", "Synced", "InvalidSpec")
    assert "not an allowed ModelArts endpoint" in condition(leak2, "Synced")["message"]
    # A Secret nobody marked for the operator (the tenant cannot even read it) is not used.
    kubectl.credentials_secret(TEAM_B, "someone-elses", "UNMARKEDACCESSKEY000", "not-for-you", marked=False)
    as_tenant.apply(
        pool(
            "leak3", TEAM_B, projectId="anything", endpoint=emulator.url, credentialsSecretRef={"name": "someone-elses"}
        )
    )
    leak3 = wait_reason(kubectl, TEAM_B, "leak3", "Synced", "InvalidSpec")
    assert "not labelled modelarts.operator.dev/credentials=true" in condition(leak3, "Synced")["message"]
    # A project and an endpoint together do not even reach the operator.
    with pytest.raises(KubectlError, match="takes projectId, region, endpoint and credentials from it"):
        as_tenant.apply(pool("leak4", TEAM_B, projectRef={"name": f"proj-b-{RUN}"}, endpoint=attacker.url))
    assert attacker.received == [], "nothing may be sent to a host the platform did not allow"
    for name in ("leak", "leak2", "leak3"):
        as_tenant("delete", "mapool", name, "-n", TEAM_B, "--wait=false")
        gone(kubectl, TEAM_B, name)
    text = kubectl("get", "events", "-n", TEAM_B, "-o", "yaml").stdout
    assert "team-b-secret" not in text and "not-for-you" not in text and PLATFORM_TOKEN not in text


@pytest.mark.usefixtures("operator")
def test_a_project_id_outside_the_project_is_refused_before_any_call(
    kubectl: Kubectl, emulator: EmulatorProcess, tmp_path: Path
) -> None:
    as_tenant = tenant(kubectl, tmp_path, "mover")
    other = "f" * 32
    as_tenant.apply(pool("elsewhere", TEAM_B, projectId=other))
    refused = wait_reason(kubectl, TEAM_B, "elsewhere", "Synced", "InvalidSpec")
    assert f"cannot override spec.projectId {other}" in condition(refused, "Synced")["message"]
    assert not [c for c in emulator.control.requests() if other in c["path"]]
    as_tenant("delete", "mapool", "elsewhere", "-n", TEAM_B, "--wait=false")
    gone(kubectl, TEAM_B, "elsewhere")


@pytest.mark.usefixtures("operator")
def test_a_namespace_nobody_serves_gets_no_credentials(kubectl: Kubectl, emulator: EmulatorProcess) -> None:
    """The operator's own credentials (with their security token) serve only the platform's namespaces."""
    kubectl.apply(pool("orphan", TEAM_C))
    refused = wait_reason(kubectl, TEAM_C, "orphan", "Synced", "NotBound")
    message = condition(refused, "Synced")["message"]
    assert f"namespace {TEAM_C} is not served by any ModelArtsProject" in message
    assert "spec.namespaceSelector" in message, "it says which setting to ask the platform for"
    assert not [c for c in emulator.control.requests() if (c.get("body") or {}) and "orphan" in json.dumps(c["body"])]
    kubectl("delete", "mapool", "orphan", "-n", TEAM_C, "--wait=false")
    gone(kubectl, TEAM_C, "orphan")


@pytest.mark.usefixtures("operator")
def test_hostile_answers_do_not_hurt_the_other_tenants(
    kubectl: Kubectl, emulator: EmulatorProcess, proxy: Recorder, operator: OperatorProcess
) -> None:
    """A project whose (allow-listed) endpoint went bad: gzip bombs and deeply nested JSON. Its pool reports it;
    another team's pool is created as usual meanwhile, and the operator's memory stays bounded."""
    kubectl.apply(pool("hostile", TEAM_H))
    started = time.monotonic()
    kubectl.apply(pool("bystander", TEAM_A))
    running(kubectl, TEAM_A, "bystander")
    bystander_seconds = time.monotonic() - started

    def reported() -> dict[str, Any] | None:
        current = status(kubectl, TEAM_H, "hostile")
        return current if condition(current, "Synced").get("reason") in ("MalformedResponse", "CloudError") else None

    refused = wait_for(reported, timeout=60, what="the hostile project's pool to report the bad answers")
    assert (
        "nested too deeply" in condition(refused, "Synced")["message"]
        or "larger than" in (condition(refused, "Synced")["message"])
    )
    project_ready = wait_for(
        lambda: next(
            (
                c
                for c in (kubectl.json("get", "maproject", f"proj-h-{RUN}").get("status") or {}).get("conditions") or []
                if c["type"] == "Ready" and c["status"] == "False"
            ),
            None,
        ),
        timeout=90,
        what="the hostile project Ready=False",
    )
    assert "larger than" in project_ready["message"] or "not JSON" in project_ready["message"]
    assert proxy.received, "the proxy was asked (it is allow-listed)"
    assert operator.process is not None and operator.process.poll() is None, "the operator survived"
    status_file = Path(f"/proc/{operator.process.pid}/status").read_text()
    peak_kib = int(next(line.split()[1] for line in status_file.splitlines() if line.startswith("VmHWM:")))
    assert peak_kib < 400 * 1024, f"peak RSS {peak_kib // 1024} MiB (a 200 MiB bomb was served)"
    print(f"bystander Running in {bystander_seconds:.1f}s; operator peak RSS {peak_kib // 1024} MiB")
    kubectl("delete", "mapool", "bystander", "-n", TEAM_A, "--wait=false")
    kubectl.apply({**pool("hostile", TEAM_H), "spec": {**pool("hostile", TEAM_H)["spec"], "deletionPolicy": "Retain"}})
    kubectl("delete", "mapool", "hostile", "-n", TEAM_H, "--wait=false")
    gone(kubectl, TEAM_A, "bystander")
    gone(kubectl, TEAM_H, "hostile")


# --- what the platform wants to work -------------------------------------------------------------------


@pytest.mark.usefixtures("operator")
def test_one_project_serves_two_namespaces(kubectl: Kubectl) -> None:
    kubectl.apply(pool("train", TEAM_A), pool("infer", TEAM_A2))
    first, second = running(kubectl, TEAM_A, "train"), running(kubectl, TEAM_A2, "infer")
    assert first["project"] == second["project"] == f"proj-a-{RUN}"
    shown = wait_for(
        lambda: (p := kubectl.json("get", "maproject", f"proj-a-{RUN}")).get("status", {}).get("pools") == 2 and p,
        timeout=60,
        what="the project counting its two pools",
    )
    assert condition(shown["status"], "Ready")["status"] == "True"
    columns = kubectl("get", "maproject", f"proj-a-{RUN}").stdout.splitlines()
    assert columns[0].split() == ["NAME", "PROJECT", "REGION", "READY", "POOLS", "AGE"]
    assert columns[1].split()[3:5] == ["True", "2"]
    kubectl("delete", "mapool", "train", "-n", TEAM_A, "--wait=false")
    kubectl("delete", "mapool", "infer", "-n", TEAM_A2, "--wait=false")
    gone(kubectl, TEAM_A, "train")
    gone(kubectl, TEAM_A2, "infer")


@pytest.mark.usefixtures("operator")
def test_observe_only_adoption_then_deleting_the_object_keeps_the_pool(
    kubectl: Kubectl, emulator: EmulatorProcess
) -> None:
    name = victim(emulator, f"legacy-{RUN}", count=3)
    kubectl.apply(pool("watcher", TEAM_A, count=2, poolName=name, managementPolicy="ObserveOnly"))
    observed = running(kubectl, TEAM_A, "watcher", nodes=3)
    assert observed["adopted"] is True and condition(observed, "Synced")["reason"] == "ObserveOnly"
    kubectl("delete", "mapool", "watcher", "-n", TEAM_A, "--wait=false")
    gone(kubectl, TEAM_A, "watcher")
    assert "Released" in reasons(kubectl, TEAM_A, "watcher")
    untouched(emulator, name, 3)


@pytest.mark.usefixtures("operator")
def test_full_adoption_where_the_project_allows_it(kubectl: Kubectl, emulator: EmulatorProcess) -> None:
    name = victim(emulator, f"handover-{RUN}", count=1)
    kubectl.apply(pool("owner", TEAM_A, count=2, poolName=name, managementPolicy="Full"))
    running(kubectl, TEAM_A, "owner", nodes=2)  # the spec's count applied: adopted with Full
    assert [c for c in emulator.control.requests() if c["pool_name"] == name and c["method"] == "PATCH"]
    kubectl("delete", "mapool", "owner", "-n", TEAM_A, "--wait=false")
    gone(kubectl, TEAM_A, "owner")
    assert not [p for p in emulator.control.pools() if p["name"] == name], "deleted with the object"


def test_yaml_is_parsed_as_the_api_server_does() -> None:
    """A guard on the module's own helpers: the manifests it applies are plain YAML objects."""
    assert yaml.safe_load(yaml.safe_dump(pool("x", "y")))["spec"]["resources"][0]["flavor"] == FLAVOR
