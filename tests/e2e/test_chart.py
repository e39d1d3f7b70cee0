"""The Helm chart on the real control plane: lint, server-side validation, install, deletion protection, RBAC.

Uses the session control plane (``controlplane``/``kubectl`` fixtures) and the helm that ``make controlplane``
builds. The control plane has no nodes, so nothing here waits for pods: the operator itself is run on the host,
authenticated with the chart's ServiceAccount token, so exactly the chart's RBAC applies to it.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chart_helpers import (
    CHART,
    FINALIZER,
    FORBIDDEN,
    GUARD_SCRIPT,
    Helm,
    Namespaces,
    Release,
    act_as_kubelet_for_guard,
    argocd_health,
    can_i,
    install,
    kinds,
    pool,
    run_guard,
    service_account_kubectl,
    uninstall,
    wait_until_authorized,
)
from kube import Kubectl, wait_for

from devcluster import REPO_ROOT, Binaries, DevCluster

PATCH_HINT = "--type merge -p '{\"spec\":{\"deletionProtection\":false}}'"


@pytest.fixture(scope="session")
def helm(controlplane: DevCluster, controlplane_binaries: Binaries, tmp_path_factory: pytest.TempPathFactory) -> Helm:
    if controlplane_binaries.helm is None:
        pytest.fail("helm is not built: run `make controlplane`", pytrace=False)
    home = tmp_path_factory.mktemp("helm-home")
    env = controlplane.env()
    env.update(HELM_CONFIG_HOME=str(home / "config"), HELM_CACHE_HOME=str(home / "cache"),
               HELM_DATA_HOME=str(home / "data"))
    return Helm(binary=controlplane_binaries.helm, env=env)


@pytest.fixture(scope="module")
def release(helm: Helm, kubectl: Kubectl, crd: str) -> Iterator[Release]:
    """The chart installed with its defaults: cluster-wide RBAC, deletion protection, uninstall guard."""
    installed = install(helm, kubectl)
    wait_until_authorized(kubectl, installed, "-n", "default")
    yield installed
    uninstall(helm, kubectl, installed)


@pytest.fixture
def make_namespace(kubectl: Kubectl) -> Iterator[Namespaces]:
    namespaces = Namespaces(kubectl)
    yield namespaces
    for name in namespaces.created:
        kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)


# -- lint and render ------------------------------------------------------------------------------------------


def test_helm_lint_strict(helm: Helm) -> None:
    result = helm("lint", "--strict", str(CHART))
    assert "0 chart(s) failed" in result.stdout


def test_helm_lint_strict_namespaced(helm: Helm) -> None:
    helm("lint", "--strict", str(CHART), "--set", "watchNamespaces={team-a,team-b}",
         "--set", "credentials.existingSecret=modelarts-credentials", "--set", "metrics.serviceMonitor.enabled=true")


@pytest.mark.parametrize("bad", [
    "logLevel=TRACE",
    "securityContext.readOnlyRootFilesystem=false",
    "securityContext.allowPrivilegeEscalation=true",
    "podSecurityContext.runAsNonRoot=false",
    "watchNamespaces={Not_A_Namespace}",
    "unknownValue=1",
])  # fmt: skip
def test_values_schema_refuses(helm: Helm, bad: str) -> None:
    result = helm("template", "x", str(CHART), "--set", bad, check=False)
    assert result.returncode != 0 and "values don't meet the specifications of the schema" in result.stderr


def test_rendered_deployment_is_hardened(helm: Helm) -> None:
    docs = kinds(helm.template("--set", "credentials.existingSecret=modelarts-credentials",
                               "--set", "modelarts.region=cn-north-4"))
    (deployment,) = docs["Deployment"]
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = pod["containers"]
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True and security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]} and security["runAsUser"] == 65532
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert {"name": "health", "containerPort": 8081, "protocol": "TCP"} in container["ports"]
    assert {v["name"]: v["mountPath"] for v in container["volumeMounts"]} == {"tmp": "/tmp"}
    env = {e["name"]: e for e in container["env"]}
    assert env["MODELARTS_REGION"]["value"] == "cn-north-4"
    assert env["MODELARTS_ACCESS_KEY"]["valueFrom"]["secretKeyRef"] == {"name": "modelarts-credentials",
                                                                       "key": "accessKey"}
    assert env["MODELARTS_SECURITY_TOKEN"]["valueFrom"]["secretKeyRef"]["optional"] is True
    assert "MODELARTS_NAMESPACES" not in env
    assert container["resources"]["limits"]["memory"]


def test_rendered_rbac_cluster_wide_vs_namespaced(helm: Helm) -> None:
    cluster = kinds(helm.template())
    assert "Role" not in cluster
    rules = [r for role in cluster["ClusterRole"] for r in role["rules"]]
    assert not any("namespaces" in r["resources"] for r in rules), "cluster-wide kopf never lists namespaces"

    scoped = kinds(helm.template("--set", "watchNamespaces={team-a,team-b}",
                                 "--set", "rbac.credentialsSecretNames={modelarts-credentials}"))
    assert sorted(r["metadata"]["namespace"] for r in scoped["Role"]) == ["team-a", "team-b"]
    assert sorted(b["metadata"]["namespace"] for b in scoped["RoleBinding"]) == ["team-a", "team-b"]
    cluster_rules = [r for role in scoped["ClusterRole"] for r in role["rules"]]
    assert not any("secrets" in r["resources"] or "modelartspools" in r["resources"] for r in cluster_rules)
    (secret_rule,) = [r for r in scoped["Role"][0]["rules"] if "secrets" in r["resources"]]
    assert secret_rule == {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"],
                           "resourceNames": ["modelarts-credentials"]}
    (deployment,) = scoped["Deployment"]
    env = {e["name"]: e.get("value") for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["MODELARTS_NAMESPACES"] == "team-a,team-b"

    no_secrets = kinds(helm.template("--set", "rbac.readCredentialsSecrets=false"))
    assert not any("secrets" in r["resources"] for role in no_secrets["ClusterRole"] for r in role["rules"])


def test_uninstall_guard_job_runs_the_tested_script(helm: Helm) -> None:
    (job,) = kinds(helm.template("--set", "watchNamespaces={team-a}"))["Job"]
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-delete"
    assert job["metadata"]["annotations"]["argocd.argoproj.io/hook"] == "Skip", "never run by an Argo CD sync"
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["python", "-c"]
    assert container["args"] == [GUARD_SCRIPT.read_text(), "team-a"]


def test_plain_manifests_are_up_to_date(helm: Helm, tmp_path: Path) -> None:
    env = dict(helm.env, HELM=str(helm.binary))
    subprocess.run(["bash", str(REPO_ROOT / "deploy" / "render-manifests.sh"), str(tmp_path)], env=env, check=True,
                   capture_output=True, timeout=120)
    committed = REPO_ROOT / "deploy" / "manifests"
    fresh = {p.name: p.read_text() for p in tmp_path.iterdir()}
    assert fresh == {p.name: p.read_text() for p in committed.iterdir()}, "stale deploy/manifests: `make manifests`"


# -- the real API server ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("values", [
    [],
    ["--set", "watchNamespaces={default,kube-public}", "--set", "credentials.existingSecret=creds",
     "--set", "modelarts.caBundle.configMapName=ca", "--set", "rbac.credentialsSecretNames={creds}"],
], ids=["cluster-wide", "namespaced"])  # fmt: skip
def test_rendered_chart_passes_server_side_dry_run(
    helm: Helm, kubectl: Kubectl, crd: str, values: list[str], make_namespace: Namespaces
) -> None:
    namespace = make_namespace("dryrun")
    # Pod Security Admission warns about workloads whose pods would break the "restricted" profile.
    kubectl("label", "namespace", namespace, "pod-security.kubernetes.io/warn=restricted",
            "pod-security.kubernetes.io/enforce=restricted")
    rendered = helm("template", "dry", str(CHART), "--namespace", namespace, *values).stdout
    result = kubectl("apply", "--dry-run=server", "-f", "-", stdin=rendered)
    assert "PodSecurity" not in result.stderr, result.stderr
    assert "Deployment" in result.stdout or "deployment" in result.stdout
    assert "validatingadmissionpolicy" in result.stdout.lower()


def test_kustomize_base_passes_server_side_dry_run(kubectl: Kubectl, crd: str) -> None:
    # A dry run creates nothing, so the base's own Namespace would not exist for the objects in it.
    kubectl("create", "namespace", "modelarts-system", check=False)
    result = kubectl("apply", "--server-side", "--force-conflicts", "--dry-run=server",
                     "-k", str(REPO_ROOT / "deploy" / "manifests"))
    assert "deployment.apps/modelarts-operator" in result.stdout


def test_examples_pass_server_side_validation(kubectl: Kubectl, crd: str) -> None:
    for example in sorted((REPO_ROOT / "examples").glob("*.yaml")):
        kubectl("apply", "--dry-run=server", "-f", str(example))


def test_helm_install_creates_the_hardened_release(kubectl: Kubectl, release: Release) -> None:
    deployment = kubectl.json("get", "deployment", "-n", release.namespace, f"{release.name}-modelarts-operator")
    assert deployment["spec"]["strategy"]["type"] == "Recreate"
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == release.service_account
    kubectl("get", "serviceaccount", release.service_account, "-n", release.namespace)
    kubectl("get", "service", f"{release.name}-modelarts-operator-metrics", "-n", release.namespace)
    kubectl("get", "validatingadmissionpolicybinding", f"{release.name}-modelarts-operator-deletion-protection")
    notes = release.output.split("NOTES:", 1)[1]
    assert f"rollout status deployment/{release.name}-modelarts-operator" in notes
    assert "Watching: the whole cluster." in notes and "Before `helm uninstall`" in notes


def test_deletion_protection_refuses_then_allows(
    kubectl: Kubectl, release: Release, make_namespace: Namespaces
) -> None:
    namespace = make_namespace("protect")
    # Retain: if some operator happens to watch this namespace, it releases the object without a cloud call.
    kubectl.apply(pool("keep-me", namespace, deletionProtection=True, deletionPolicy="Retain"))
    kubectl.apply(pool("free-me", namespace, deletionPolicy="Retain"))

    # Policies load asynchronously; a server-side dry run goes through admission without deleting anything.
    def refused() -> str | None:
        result = kubectl("delete", "mapool", "keep-me", "-n", namespace, "--dry-run=server", check=False)
        return result.stderr if result.returncode != 0 else None

    message = wait_for(refused, timeout=30, what="the deletion-protection policy to take effect")
    assert "ValidatingAdmissionPolicy" in message
    assert f"kubectl patch mapool keep-me -n {namespace} {PATCH_HINT}" in message

    refusal = kubectl("delete", "mapool", "keep-me", "-n", namespace, "--wait=false", check=False)
    assert refusal.returncode != 0 and "deletionProtection" in refusal.stderr
    assert kubectl.json("get", "mapool", "keep-me", "-n", namespace)["metadata"].get("deletionTimestamp") is None
    # An unprotected pool next to it is not affected.
    kubectl("delete", "mapool", "free-me", "-n", namespace, "--timeout=30s")
    # Nor do bulk deletions get around it: `--all`, and a DELETE of the collection (what namespace deletion uses).
    assert kubectl("delete", "mapool", "--all", "-n", namespace, "--wait=false", check=False).returncode != 0
    collection = f"/apis/modelarts.operator.dev/v1alpha1/namespaces/{namespace}/modelartspools"
    bulk = kubectl("delete", "--raw", collection, check=False)
    assert bulk.returncode != 0 and "deletionProtection" in bulk.stderr
    assert kubectl.json("get", "mapool", "keep-me", "-n", namespace)["metadata"].get("deletionTimestamp") is None

    kubectl("patch", "mapool", "keep-me", "-n", namespace, "--type", "merge",
            "-p", '{"spec":{"deletionProtection":false}}')
    kubectl("delete", "mapool", "keep-me", "-n", namespace, "--timeout=30s")
    gone = kubectl("get", "mapool", "keep-me", "-n", namespace, check=False)
    assert gone.returncode != 0 and "NotFound" in gone.stderr


ALLOWED = [
    ("get", "modelartspools.modelarts.operator.dev"),
    ("list", "modelartspools.modelarts.operator.dev"),
    ("watch", "modelartspools.modelarts.operator.dev"),
    ("patch", "modelartspools.modelarts.operator.dev"),
    ("patch", "modelartspools.modelarts.operator.dev/status"),
    ("create", "events"),
    ("create", "events.events.k8s.io"),
    ("get", "secrets"),
]
DENIED = [
    ("delete", "modelartspools.modelarts.operator.dev"),
    ("create", "modelartspools.modelarts.operator.dev"),
    ("update", "modelartspools.modelarts.operator.dev"),
    ("deletecollection", "modelartspools.modelarts.operator.dev"),
    ("update", "modelartspools.modelarts.operator.dev/status"),
    ("list", "secrets"),
    ("watch", "secrets"),
    ("create", "secrets"),
    ("get", "configmaps"),
    ("create", "pods"),
    ("delete", "events"),
    ("create", "leases.coordination.k8s.io"),
    ("create", "kopfpeerings.kopf.dev"),
]


def test_service_account_rbac_cluster_wide(kubectl: Kubectl, release: Release, make_namespace: Namespaces) -> None:
    namespace = make_namespace("rbac")
    allowed = {f"{verb} {res}" for verb, res in ALLOWED if can_i(kubectl, release, verb, res, "-n", namespace)}
    assert allowed == {f"{verb} {res}" for verb, res in ALLOWED}
    denied = {f"{verb} {res}" for verb, res in DENIED if not can_i(kubectl, release, verb, res, "-n", namespace)}
    assert denied == {f"{verb} {res}" for verb, res in DENIED}
    # Cluster-scoped: the CRD scan is allowed; anything else is not.
    for verb in ("get", "list", "watch"):
        assert can_i(kubectl, release, verb, "customresourcedefinitions.apiextensions.k8s.io")
    assert not can_i(kubectl, release, "update", "customresourcedefinitions.apiextensions.k8s.io")
    assert not can_i(kubectl, release, "list", "namespaces")
    assert not can_i(kubectl, release, "list", "secrets", "--all-namespaces")
    assert not can_i(kubectl, release, "*", "*", "--all-namespaces")


def test_service_account_rbac_namespaced(
    helm: Helm, kubectl: Kubectl, crd: str, make_namespace: Namespaces
) -> None:
    watched, other = make_namespace("watched"), make_namespace("other")
    scoped = install(helm, kubectl, "--set", f"watchNamespaces={{{watched}}}",
                     "--set", "rbac.credentialsSecretNames={modelarts-credentials}",
                     "--set", "deletionProtection.enabled=false", "--set", "uninstallGuard.enabled=false")
    try:
        wait_until_authorized(kubectl, scoped, "-n", watched)
        assert can_i(kubectl, scoped, "get", "secrets/modelarts-credentials", "-n", watched)
        assert not can_i(kubectl, scoped, "get", "secrets/other-secret", "-n", watched)
        assert not can_i(kubectl, scoped, "list", "modelartspools.modelarts.operator.dev", "-n", other)
        assert not can_i(kubectl, scoped, "get", "secrets/modelarts-credentials", "-n", other)
        assert can_i(kubectl, scoped, "watch", "namespaces")
    finally:
        uninstall(helm, kubectl, scoped)


def test_uninstall_guard_refuses_while_pools_hold_the_finalizer(
    kubectl: Kubectl, release: Release, tmp_path: Path, make_namespace: Namespaces
) -> None:
    """The pre-delete hook's script, with the chart's ServiceAccount: refuses while a pool needs the operator."""
    namespace = make_namespace("guard")
    sa = service_account_kubectl(kubectl, release, tmp_path / "sa.kubeconfig")
    assert run_guard(sa, namespace).returncode == 0

    held = pool("held", namespace, deletionPolicy="Retain")
    held["metadata"]["finalizers"] = [FINALIZER]
    kubectl.apply(held)
    refused = run_guard(sa, namespace)
    assert refused.returncode == 1
    assert f"{namespace}/held" in refused.stdout and "deletionPolicy" in refused.stdout
    assert f"{namespace}/held" in run_guard(sa).stdout, "cluster-wide mode lists every namespace"

    kubectl("patch", "mapool", "held", "-n", namespace, "--type", "json",
            "-p", '[{"op": "remove", "path": "/metadata/finalizers"}]')
    assert run_guard(sa, namespace).returncode == 0
    kubectl("delete", "mapool", "held", "-n", namespace, "--timeout=30s")


def test_helm_uninstall_is_refused_by_the_guard_until_the_pools_are_gone(
    helm: Helm, kubectl: Kubectl, crd: str, tmp_path: Path, make_namespace: Namespaces
) -> None:
    """The whole Helm path: helm runs the pre-delete Job before deleting anything, and its verdict decides."""
    guarded = install(helm, kubectl, "--set", "deletionProtection.enabled=false")
    try:
        namespace = make_namespace("guarded")
        held = pool("held", namespace, deletionPolicy="Retain")
        held["metadata"]["finalizers"] = [FINALIZER]
        kubectl.apply(held)
        wait_until_authorized(kubectl, guarded, "-n", namespace)
        sa = service_account_kubectl(kubectl, guarded, tmp_path / "sa.kubeconfig")
        deployment = f"deployment/{guarded.name}-modelarts-operator"

        refused = helm.start("uninstall", guarded.name, "--namespace", guarded.namespace, "--timeout", "60s")
        first = act_as_kubelet_for_guard(kubectl, sa, guarded, None)
        out, _ = refused.communicate(timeout=90)
        assert refused.returncode != 0 and "uninstall-guard failed" in out, out
        kubectl("get", deployment, "-n", guarded.namespace)  # nothing was deleted
        kubectl("get", "serviceaccount", guarded.service_account, "-n", guarded.namespace)

        kubectl("patch", "mapool", "held", "-n", namespace, "--type", "json",
                "-p", '[{"op": "remove", "path": "/metadata/finalizers"}]')
        kubectl("delete", "mapool", "held", "-n", namespace, "--timeout=30s")
        allowed = helm.start("uninstall", guarded.name, "--namespace", guarded.namespace, "--timeout", "60s")
        act_as_kubelet_for_guard(kubectl, sa, guarded, first)
        out, _ = allowed.communicate(timeout=90)
        assert allowed.returncode == 0 and "uninstalled" in out, out
        gone = kubectl("get", deployment, "-n", guarded.namespace, check=False)
        assert gone.returncode != 0 and "NotFound" in gone.stderr
    finally:
        uninstall(helm, kubectl, guarded)


# -- the operator, with the chart's ServiceAccount ------------------------------------------------------------

OPERATOR_WRITTEN = importlib.util.find_spec("modelarts_operator.handlers") is not None


@pytest.mark.skipif(not OPERATOR_WRITTEN, reason="the operator (modelarts_operator.handlers) is not written yet")
@pytest.mark.parametrize("mode", ["namespaced", "cluster-wide"])
def test_operator_with_the_charts_service_account_creates_and_deletes_a_pool(
    helm: Helm, kubectl: Kubectl, crd: str, tmp_path: Path, make_namespace: Namespaces, mode: str
) -> None:
    """The operator process with the chart's ServiceAccount token, configured as the chart configures it for
    each RBAC mode: a permission the chart lacks shows up as a 403 in its log or a scenario that never ends."""
    from stack import EmulatorProcess, OperatorProcess

    watched = make_namespace("pools")
    values = ["--set", "deletionProtection.enabled=false", "--set", "uninstallGuard.enabled=false"]
    settings = {"region": "cn-north-4", "transition_poll_seconds": "0.5"}
    if mode == "namespaced":
        values += ["--set", f"watchNamespaces={{{watched}}}"]
        settings["namespaces"] = watched
    scoped = install(helm, kubectl, *values)
    emulator = EmulatorProcess.start(tmp_path, create_seconds=2, delete_seconds=3, scale_seconds=1)
    operator: OperatorProcess | None = None
    try:
        wait_until_authorized(kubectl, scoped, "-n", watched)
        sa = service_account_kubectl(kubectl, scoped, tmp_path / "sa.kubeconfig")
        base_env = {k: v for k, v in sa.env.items() if not k.startswith(("MODELARTS_", "KUBERNETES_SERVICE"))}
        operator = OperatorProcess.configure(tmp_path, sa.kubeconfig, emulator, base_env=base_env, **settings)
        operator.start()

        kubectl("create", "secret", "generic", "modelarts-credentials", "-n", watched,
                f"--from-literal=accessKey={emulator.access_key}", f"--from-literal=secretKey={emulator.secret_key}")
        kubectl.apply(pool("chart-e2e", watched, credentialsSecretRef={"name": "modelarts-credentials"}))
        running = operator

        def log_tail() -> str:
            return running.log.read_text(errors="replace")[-3000:]

        def healthy_and_permitted() -> None:
            """Fail at once, not at the timeout, when the operator died or was refused by RBAC."""
            assert running.process is not None and running.process.poll() is None, log_tail()
            refused = FORBIDDEN.search(running.log.read_text(errors="replace"))
            assert not refused, f"a permission the chart lacks ({refused.group(0)}):\n{log_tail()}"

        def ready() -> dict[str, Any] | None:
            healthy_and_permitted()
            obj: dict[str, Any] = kubectl.json("get", "mapool", "chart-e2e", "-n", watched)
            conditions = {c["type"]: c for c in (obj.get("status") or {}).get("conditions", [])}
            return obj if conditions.get("Ready", {}).get("status") == "True" else None

        obj = wait_for(ready, timeout=90, what="Ready=True (the operator log is in the captured stdout)")
        assert FINALIZER in obj["metadata"]["finalizers"]
        assert argocd_health(obj) == "Healthy"
        assert obj["status"]["poolName"]

        def events() -> list[dict[str, Any]]:
            # kopf posts Events from a background queue, so they may trail the status write a little.
            items: list[dict[str, Any]] = kubectl.json("get", "events", "-n", watched, "--field-selector",
                                                       "involvedObject.name=chart-e2e")["items"]
            return items

        wait_for(events, timeout=30, what="an Event from the operator (core/v1 events: create)")

        kubectl("delete", "mapool", "chart-e2e", "-n", watched, "--wait=false")

        verdicts: set[str] = set()

        def gone() -> bool:
            healthy_and_permitted()
            result = kubectl("get", "mapool", "chart-e2e", "-n", watched, "-o", "json", check=False)
            if result.returncode == 0:
                verdicts.add(argocd_health(json.loads(result.stdout)))
            return result.returncode != 0

        wait_for(gone, timeout=90, what="the object to be released after its pool is gone")
        assert verdicts == {"Progressing"}, "Argo CD must show a deletion in progress as Progressing"
        assert emulator.control.pools() == [], "the cloud pool must be gone too"
        healthy_and_permitted()
    finally:
        if operator is not None:
            operator.stop()
            print(operator.log.read_text(errors="replace")[-6000:])  # shown by pytest when the test fails
        print(kubectl("get", "mapool,events", "-n", watched, "-o", "yaml", check=False).stdout[-6000:])
        emulator.stop()
        uninstall(helm, kubectl, scoped)
