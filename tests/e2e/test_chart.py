"""The Helm chart on the real control plane: lint, server-side validation, install, deletion protection, RBAC.

Uses the session control plane (``controlplane``/``kubectl`` fixtures) and the helm that ``make controlplane``
builds. The control plane has no nodes, so nothing here waits for pods: the operator itself is run on the host,
authenticated with the chart's ServiceAccount token, so exactly the chart's RBAC applies to it.
"""

from __future__ import annotations

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
    argocd_engine,
    argocd_health,
    can_i,
    install,
    kinds,
    pool,
    project,
    run_guard,
    service_account_kubectl,
    uninstall,
    wait_until_authorized,
)
from kube import Kubectl, wait_for

from argocd_health import Verdict
from devcluster import REPO_ROOT

PATCH_HINT = '--type merge -p \'{"spec":{"deletionProtection":false}}\''


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
    helm(
        "lint",
        "--strict",
        str(CHART),
        "--set",
        "watchNamespaces={team-a,team-b}",
        "--set",
        "credentials.existingSecret=modelarts-credentials",
        "--set",
        "metrics.serviceMonitor.enabled=true",
    )


@pytest.mark.parametrize("bad", [
    "logLevel=TRACE",
    "securityContext.readOnlyRootFilesystem=false",
    "securityContext.allowPrivilegeEscalation=true",
    "podSecurityContext.runAsNonRoot=false",
    "watchNamespaces={Not_A_Namespace}",
    "unknownValue=1",
    "replicaCount=0",
    "strategy.type=BlueGreen",
    "podAntiAffinity=sometimes",
    "image.digest=sha256:not-a-digest",
    "networkPolicy.apiServer.cidrs={10.0.0.1}",
    "serviceAccount.tokenExpirationSeconds=60",
])  # fmt: skip
def test_values_schema_refuses(helm: Helm, bad: str) -> None:
    result = helm("template", "x", str(CHART), "--set", bad, check=False)
    assert result.returncode != 0 and "values don't meet the specifications of the schema" in result.stderr


def test_rendered_deployment_is_hardened(helm: Helm) -> None:
    docs = kinds(
        helm.template(
            "--set", "credentials.existingSecret=modelarts-credentials", "--set", "modelarts.region=cn-north-4"
        )
    )
    (deployment,) = docs["Deployment"]
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
    }
    pod = deployment["spec"]["template"]["spec"]
    (preferred,) = pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert preferred["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    assert preferred["podAffinityTerm"]["labelSelector"] == deployment["spec"]["selector"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = pod["containers"]
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True and security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]} and security["runAsUser"] == 65532
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert {"name": "health", "containerPort": 8081, "protocol": "TCP"} in container["ports"]
    mounts = {v["name"]: v["mountPath"] for v in container["volumeMounts"]}
    assert mounts == {"tmp": "/tmp", "kube-api-access": "/var/run/secrets/kubernetes.io/serviceaccount"}
    # The token only where it is needed: not automounted, mounted into the operator container explicitly.
    assert pod["automountServiceAccountToken"] is False
    (access,) = [v for v in pod["volumes"] if v["name"] == "kube-api-access"]
    sources = access["projected"]["sources"]
    assert sources[0]["serviceAccountToken"] == {"path": "token", "expirationSeconds": 3607}
    assert sources[1]["configMap"]["name"] == "kube-root-ca.crt"
    assert sources[2]["downwardAPI"]["items"][0]["fieldRef"]["fieldPath"] == "metadata.namespace"
    env = {e["name"]: e for e in container["env"]}
    assert env["MODELARTS_LEADER_ELECTION"]["value"] == "true"
    assert env["MODELARTS_LEADER_ELECTION_NAMESPACE"]["value"] == "modelarts-system"
    assert env["MODELARTS_LEADER_ELECTION_IDENTITY"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert env["MODELARTS_REGION"]["value"] == "cn-north-4"
    assert env["MODELARTS_ACCESS_KEY"]["valueFrom"]["secretKeyRef"] == {
        "name": "modelarts-credentials",
        "key": "accessKey",
    }
    assert env["MODELARTS_SECURITY_TOKEN"]["valueFrom"]["secretKeyRef"]["optional"] is True
    assert "MODELARTS_NAMESPACES" not in env
    assert container["resources"]["limits"]["memory"] and container["resources"]["limits"]["cpu"]
    (pdb,) = docs["PodDisruptionBudget"]
    assert pdb["spec"] == {"minAvailable": 1, "selector": deployment["spec"]["selector"]}


def test_one_replica_without_leader_election(helm: Helm) -> None:
    values = [
        "--set",
        "replicaCount=1",
        "--set",
        "leaderElection.enabled=false",
        "--set",
        "strategy.type=Recreate",
        "--set",
        "strategy.rollingUpdate=null",
    ]
    docs = kinds(helm.template(*values))
    (deployment,) = docs["Deployment"]
    assert deployment["spec"]["replicas"] == 1 and deployment["spec"]["strategy"] == {"type": "Recreate"}
    pod = deployment["spec"]["template"]["spec"]
    env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    assert env["MODELARTS_LEADER_ELECTION"] == "false" and "MODELARTS_LEADER_ELECTION_NAMESPACE" not in env
    assert "affinity" not in pod and "PodDisruptionBudget" not in docs
    assert not [r for r in docs.get("Role", []) if r["metadata"]["name"].endswith("-leader-election")]
    # Two replicas that do not elect a leader would both act on every pool: refused.
    refused = helm("template", "x", str(CHART), "--set", "leaderElection.enabled=false", check=False)
    assert refused.returncode != 0 and "replicaCount > 1 needs leaderElection.enabled" in refused.stderr


def test_image_digest_pins_the_image(helm: Helm) -> None:
    digest = "sha256:" + "0123456789abcdef" * 4
    docs = kinds(helm.template("--set", f"image.digest={digest}", "--set", "image.repository=registry.example/mao"))
    images = [
        c["image"]
        for kind in ("Deployment", "Job")
        for d in docs[kind]
        for c in d["spec"]["template"]["spec"]["containers"]
    ]
    assert images == [f"registry.example/mao:0.1.0@{digest}"] * 2


def test_rendered_lease_rbac(helm: Helm) -> None:
    (role,) = [r for r in kinds(helm.template())["Role"] if r["metadata"]["name"].endswith("-leader-election")]
    assert role["metadata"]["namespace"] == "modelarts-system"
    assert role["rules"] == [
        {
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "resourceNames": ["modelarts-operator"],
            "verbs": ["get", "update", "patch"],
        },
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
    ]


NETWORK_POLICY = ["--set", "networkPolicy.enabled=true",
                  "--set", "networkPolicy.apiServer.cidrs={10.96.0.1/32,192.0.2.10/32}",
                  "--set", "networkPolicy.modelarts.cidrs={100.125.0.0/16}"]  # fmt: skip


def test_rendered_network_policy(helm: Helm) -> None:
    assert "NetworkPolicy" not in kinds(helm.template()), "off by default"
    refused = helm("template", "x", str(CHART), "--set", "networkPolicy.enabled=true", check=False)
    assert refused.returncode != 0 and "networkPolicy.apiServer.cidrs" in refused.stderr

    docs = kinds(helm.template(*NETWORK_POLICY))
    operator, guard = docs["NetworkPolicy"]
    (deployment,) = docs["Deployment"]
    assert operator["spec"]["podSelector"] == deployment["spec"]["selector"]
    assert operator["spec"]["policyTypes"] == ["Ingress", "Egress"]
    (ingress,) = operator["spec"]["ingress"]
    assert ingress == {
        "from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}],
        "ports": [{"port": 8080, "protocol": "TCP"}],
    }
    api, dns, modelarts = operator["spec"]["egress"]
    assert api["to"] == [{"ipBlock": {"cidr": "10.96.0.1/32"}}, {"ipBlock": {"cidr": "192.0.2.10/32"}}]
    assert [p["port"] for p in api["ports"]] == [443, 6443]
    assert dns["to"][0]["podSelector"] == {"matchLabels": {"k8s-app": "kube-dns"}}
    assert sorted(p["protocol"] for p in dns["ports"]) == ["TCP", "UDP"] and {p["port"] for p in dns["ports"]} == {53}
    assert modelarts == {"to": [{"ipBlock": {"cidr": "100.125.0.0/16"}}], "ports": [{"port": 443, "protocol": "TCP"}]}
    # The uninstall guard's pod may only reach the API server.
    assert guard["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "uninstall-guard"
    assert guard["spec"]["ingress"] == [] and guard["spec"]["egress"] == [api]

    closed = kinds(helm.template(*NETWORK_POLICY, "--set", "networkPolicy.metrics.namespaceSelector=null"))
    assert closed["NetworkPolicy"][0]["spec"]["ingress"] == [], "null closes the metrics port"


def _roles(rendered: dict[str, list[dict[str, Any]]]) -> list[tuple[str, str]]:
    return sorted((r["metadata"]["namespace"], r["metadata"]["name"]) for r in rendered["Role"])


def test_rendered_rbac_cluster_wide_vs_namespaced(helm: Helm) -> None:
    cluster = kinds(helm.template())
    # Namespaced rights in cluster-wide mode: leader election and the projects' Secrets in the release namespace,
    # Events about ModelArtsProjects in "default".
    assert _roles(cluster) == [
        ("default", "modelarts-operator-project-events"),
        ("modelarts-system", "modelarts-operator-leader-election"),
        ("modelarts-system", "modelarts-operator-project-secrets"),
    ]
    (project_secrets,) = [r for r in cluster["Role"] if r["metadata"]["name"].endswith("-project-secrets")]
    assert project_secrets["rules"] == [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}]
    operator_roles = [r for r in cluster["ClusterRole"] if "-tenant-" not in r["metadata"]["name"]]
    rules = [r for role in operator_roles for r in role["rules"]]
    assert not any("secrets" in r["resources"] for r in rules), "no Secret outside the projects' namespace"
    assert any("namespaces" in r["resources"] and r["verbs"] == ["list", "watch"] for r in rules)
    assert any(r["resources"] == ["modelartsprojects/status"] and r["verbs"] == ["patch"] for r in rules)

    tenants = kinds(helm.template("--set", "tenancy.tenantSecrets=true"))
    tenant_rules = [
        r for role in tenants["ClusterRole"] for r in role["rules"] if "-tenant-" not in role["metadata"]["name"]
    ]
    assert {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]} in tenant_rules

    scoped = kinds(
        helm.template(
            "--set",
            "watchNamespaces={team-a,team-b}",
            "--set",
            "tenancy.tenantSecrets=true",
            "--set",
            "tenancy.tenantSecretNames={modelarts-credentials}",
            "--set",
            "tenancy.projectSecretNamespaces={platform-secrets}",
            "--set",
            "tenancy.projectSecretNames={modelarts-team-a}",
        )
    )
    assert _roles(scoped) == [
        ("default", "modelarts-operator-project-events"),
        ("modelarts-system", "modelarts-operator-leader-election"),
        ("platform-secrets", "modelarts-operator-project-secrets"),
        ("team-a", "modelarts-operator"),
        ("team-b", "modelarts-operator"),
    ]
    cluster_rules = [
        r for role in scoped["ClusterRole"] for r in role["rules"] if "-tenant-" not in role["metadata"]["name"]
    ]
    assert not any("secrets" in r["resources"] or "modelartspools" in r["resources"] for r in cluster_rules)
    (platform,) = [r for r in scoped["Role"] if r["metadata"]["namespace"] == "platform-secrets"]
    assert platform["rules"] == [
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"], "resourceNames": ["modelarts-team-a"]}
    ]
    (team_a,) = [r for r in scoped["Role"] if r["metadata"]["namespace"] == "team-a"]
    (secret_rule,) = [r for r in team_a["rules"] if "secrets" in r["resources"]]
    assert secret_rule == {
        "apiGroups": [""],
        "resources": ["secrets"],
        "verbs": ["get"],
        "resourceNames": ["modelarts-credentials"],
    }
    (deployment,) = scoped["Deployment"]
    env = {e["name"]: e.get("value") for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["MODELARTS_NAMESPACES"] == "team-a,team-b" and env["MODELARTS_TENANT_SECRETS"] == "true"
    assert env["MODELARTS_HEALTH_ADDRESS"] == "0.0.0.0", "probes and scrapes come from outside the pod"  # noqa: S104


def test_tenant_roles_aggregate_to_edit_and_view_without_status_or_projects(helm: Helm) -> None:
    roles = {r["metadata"]["name"]: r for r in kinds(helm.template())["ClusterRole"]}
    edit, view = roles["modelarts-operator-tenant-edit"], roles["modelarts-operator-tenant-view"]
    assert edit["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-edit"] == "true"
    assert view["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-view"] == "true"
    for role in (edit, view):
        resources = {res for rule in role["rules"] for res in rule["resources"]}
        assert resources == {"modelartspools"}, "never modelartspools/status, never modelartsprojects"
    assert "tenant-edit" not in str(kinds(helm.template("--set", "tenancy.tenantRoles=false"))["ClusterRole"])


def test_uninstall_guard_job_runs_the_tested_script(helm: Helm) -> None:
    (job,) = kinds(helm.template("--set", "watchNamespaces={team-a}"))["Job"]
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-delete"
    assert job["metadata"]["annotations"]["argocd.argoproj.io/hook"] == "Skip", "never run by an Argo CD sync"
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["python", "-c"]
    assert container["args"] == [GUARD_SCRIPT.read_text(), "team-a"]


def test_plain_manifests_are_up_to_date(helm: Helm, tmp_path: Path) -> None:
    env = dict(helm.env, HELM=str(helm.binary))
    subprocess.run(
        ["bash", str(REPO_ROOT / "deploy" / "render-manifests.sh"), str(tmp_path)],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    committed = REPO_ROOT / "deploy" / "manifests"
    fresh = {p.name: p.read_text() for p in tmp_path.iterdir()}
    assert fresh == {p.name: p.read_text() for p in committed.iterdir()}, "stale deploy/manifests: `make manifests`"


# -- the real API server ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("values", [
    [],
    ["--set", "watchNamespaces={default,kube-public}", "--set", "credentials.existingSecret=creds",
     "--set", "modelarts.caBundle.configMapName=ca", "--set", "tenancy.tenantSecrets=true",
     "--set", "tenancy.tenantSecretNames={creds}"],
    [*NETWORK_POLICY, "--set", "image.digest=sha256:" + "ab" * 32, "--set", "image.pullPolicy=Always",
     "--set", "podAntiAffinity=hard"],
], ids=["cluster-wide", "namespaced", "network-policy"])  # fmt: skip
def test_rendered_chart_passes_server_side_dry_run(
    helm: Helm, kubectl: Kubectl, crd: str, values: list[str], make_namespace: Namespaces
) -> None:
    namespace = make_namespace("dryrun")
    # Pod Security Admission warns about workloads whose pods would break the "restricted" profile.
    kubectl(
        "label",
        "namespace",
        namespace,
        "pod-security.kubernetes.io/warn=restricted",
        "pod-security.kubernetes.io/enforce=restricted",
    )
    rendered = helm("template", "dry", str(CHART), "--namespace", namespace, *values).stdout
    result = kubectl("apply", "--dry-run=server", "-f", "-", stdin=rendered)
    assert "PodSecurity" not in result.stderr, result.stderr
    assert "Deployment" in result.stdout or "deployment" in result.stdout
    assert "validatingadmissionpolicy" in result.stdout.lower()
    assert "poddisruptionbudget.policy/dry-modelarts-operator" in result.stdout
    assert "role.rbac.authorization.k8s.io/dry-modelarts-operator-leader-election" in result.stdout
    if "networkPolicy.enabled=true" in values:
        assert "networkpolicy.networking.k8s.io/dry-modelarts-operator created (server dry run)" in result.stdout


def test_kustomize_base_passes_server_side_dry_run(kubectl: Kubectl, crd: str) -> None:
    # A dry run creates nothing, so the base's own Namespace would not exist for the objects in it.
    kubectl("create", "namespace", "modelarts-system", check=False)
    result = kubectl(
        "apply", "--server-side", "--force-conflicts", "--dry-run=server", "-k", str(REPO_ROOT / "deploy" / "manifests")
    )
    assert "deployment.apps/modelarts-operator" in result.stdout


def test_examples_pass_server_side_validation(kubectl: Kubectl, crd: str) -> None:
    for example in sorted((REPO_ROOT / "examples").glob("*.yaml")):
        kubectl("apply", "--dry-run=server", "-f", str(example))


def test_helm_install_creates_the_hardened_release(kubectl: Kubectl, release: Release) -> None:
    deployment = kubectl.json("get", "deployment", "-n", release.namespace, f"{release.name}-modelarts-operator")
    assert deployment["spec"]["strategy"]["type"] == "RollingUpdate" and deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == release.service_account
    pdb = kubectl.json("get", "poddisruptionbudget", "-n", release.namespace, f"{release.name}-modelarts-operator")
    assert pdb["spec"]["minAvailable"] == 1
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

    kubectl(
        "patch", "mapool", "keep-me", "-n", namespace, "--type", "merge", "-p", '{"spec":{"deletionProtection":false}}'
    )
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
]
DENIED = [
    ("delete", "modelartspools.modelarts.operator.dev"),
    ("create", "modelartspools.modelarts.operator.dev"),
    ("update", "modelartspools.modelarts.operator.dev"),
    ("deletecollection", "modelartspools.modelarts.operator.dev"),
    ("update", "modelartspools.modelarts.operator.dev/status"),
    ("get", "secrets"),  # a tenant's namespace: only with tenancy.tenantSecrets
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
    # Namespaces' labels (which project serves which namespace) and the ModelArtsProjects: read, status only.
    assert can_i(kubectl, release, "list", "namespaces") and not can_i(kubectl, release, "patch", "namespaces")
    projects = "modelartsprojects.modelarts.operator.dev"
    for verb in ("get", "list", "watch"):
        assert can_i(kubectl, release, verb, projects)
    assert can_i(kubectl, release, "patch", projects, "--subresource=status")
    for verb in ("create", "update", "patch", "delete"):
        assert not can_i(kubectl, release, verb, projects)
    # The projects' Secrets live in the release namespace: "get" there, nowhere else, never "list".
    assert can_i(kubectl, release, "get", "secrets", "-n", release.namespace)
    assert not can_i(kubectl, release, "list", "secrets", "-n", release.namespace)
    assert not can_i(kubectl, release, "get", "secrets", "-n", "kube-system")
    assert not can_i(kubectl, release, "list", "secrets", "--all-namespaces")
    assert not can_i(kubectl, release, "*", "*", "--all-namespaces")


LEASE = "leases.coordination.k8s.io"


def test_service_account_may_hold_only_its_own_lease(kubectl: Kubectl, release: Release) -> None:
    """Leader election: the Lease `modelarts-operator` in the release namespace, and nothing else."""
    here = ("-n", release.namespace)
    for verb in ("get", "update", "patch"):
        assert can_i(kubectl, release, verb, f"{LEASE}/modelarts-operator", *here), verb
    assert can_i(kubectl, release, "create", LEASE, *here)
    for verb in ("get", "update", "patch", "delete"):
        assert not can_i(kubectl, release, verb, f"{LEASE}/someone-elses-lease", *here), verb
    for verb in ("list", "watch", "delete", "deletecollection"):
        assert not can_i(kubectl, release, verb, LEASE, *here), verb
    assert not can_i(kubectl, release, "delete", f"{LEASE}/modelarts-operator", *here)
    assert not can_i(kubectl, release, "get", f"{LEASE}/modelarts-operator", "-n", "kube-system")
    assert not can_i(kubectl, release, "create", LEASE, "-n", "default")


def test_service_account_rbac_namespaced(helm: Helm, kubectl: Kubectl, crd: str, make_namespace: Namespaces) -> None:
    watched, other = make_namespace("watched"), make_namespace("other")
    scoped = install(
        helm,
        kubectl,
        "--set",
        f"watchNamespaces={{{watched}}}",
        "--set",
        "tenancy.tenantSecrets=true",
        "--set",
        "tenancy.tenantSecretNames={modelarts-credentials}",
        "--set",
        "deletionProtection.enabled=false",
        "--set",
        "uninstallGuard.enabled=false",
    )
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

    kubectl(
        "patch",
        "mapool",
        "held",
        "-n",
        namespace,
        "--type",
        "json",
        "-p",
        '[{"op": "remove", "path": "/metadata/finalizers"}]',
    )
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

        kubectl(
            "patch",
            "mapool",
            "held",
            "-n",
            namespace,
            "--type",
            "json",
            "-p",
            '[{"op": "remove", "path": "/metadata/finalizers"}]',
        )
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


@pytest.mark.parametrize("mode", ["namespaced", "cluster-wide"])
def test_operator_with_the_charts_service_account_creates_and_deletes_a_pool(
    helm: Helm, kubectl: Kubectl, crd: str, tmp_path: Path, make_namespace: Namespaces, mode: str
) -> None:
    """The operator process with the chart's ServiceAccount token, configured as the chart configures it for
    each RBAC mode, serving the pools through a ModelArtsProject whose Secret is in the release namespace (the
    platform's set-up): a permission the chart lacks shows up as a 403 in its log or a scenario that never ends.
    Argo CD's own engine judges the live objects on the way: Healthy when ready, Progressing while deleting, and
    Degraded for a second pool whose deletion the emulator stalls."""
    from stack import EmulatorProcess, OperatorProcess

    argocd_engine()  # fail before the slow part when Argo CD's engine is not built
    watched = make_namespace("pools")
    values = ["--set", "deletionProtection.enabled=false", "--set", "uninstallGuard.enabled=false"]
    # A deletion without progress for 6 s is stalled: longer than the emulator's 3 s deletion of a healthy pool.
    settings = {"region": "cn-north-4", "transition_poll_seconds": "0.5", "deletion_stall_seconds": "6"}
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
        operator = OperatorProcess.configure(
            tmp_path, sa.kubeconfig, emulator, base_env=base_env, command=None, **settings
        )
        operator.start()

        kubectl.credentials_secret(
            scoped.namespace, "modelarts-credentials", emulator.access_key, emulator.secret_key, marked=False
        )
        kubectl.apply(
            project(
                f"chart-{watched}",
                serves=watched,
                secret_namespace=scoped.namespace,
                endpoint=emulator.url,
                project_id=emulator.project_id,
            )
        )
        for name in ("chart-e2e", "chart-e2e-stalled"):
            kubectl.apply(pool(name, watched))
        running = operator

        def log_tail() -> str:
            return running.log.read_text(errors="replace")[-3000:]

        def healthy_and_permitted() -> None:
            """Fail at once, not at the timeout, when the operator died or was refused by RBAC."""
            assert running.process is not None and running.process.poll() is None, log_tail()
            refused = FORBIDDEN.search(running.log.read_text(errors="replace"))
            assert not refused, f"a permission the chart lacks ({refused.group(0)}):\n{log_tail()}"

        def ready(name: str) -> dict[str, Any] | None:
            healthy_and_permitted()
            obj: dict[str, Any] = kubectl.json("get", "mapool", name, "-n", watched)
            conditions = {c["type"]: c for c in (obj.get("status") or {}).get("conditions", [])}
            return obj if conditions.get("Ready", {}).get("status") == "True" else None

        obj = wait_for(
            lambda: ready("chart-e2e"), timeout=90, what="Ready=True (the operator log is in the captured stdout)"
        )
        assert FINALIZER in obj["metadata"]["finalizers"]
        assert argocd_health(obj).status == "Healthy", argocd_health(obj)
        assert obj["status"]["poolName"]
        stalled = wait_for(lambda: ready("chart-e2e-stalled"), timeout=90, what="the second pool Ready=True")
        stalled_pool = stalled["status"]["poolName"]
        emulator.control.set_deletion(stalled_pool, "stall")

        def events() -> list[dict[str, Any]]:
            # kopf posts Events from a background queue, so they may trail the status write a little.
            items: list[dict[str, Any]] = kubectl.json(
                "get", "events", "-n", watched, "--field-selector", "involvedObject.name=chart-e2e"
            )["items"]
            return items

        wait_for(events, timeout=30, what="an Event from the operator (core/v1 events: create)")

        kubectl("delete", "mapool", "chart-e2e", "chart-e2e-stalled", "-n", watched, "--wait=false")

        verdicts: dict[str, list[Verdict]] = {"chart-e2e": [], "chart-e2e-stalled": []}

        def judged(name: str) -> Verdict | None:
            """Argo CD's verdict on the object now (recorded), None once it is gone."""
            healthy_and_permitted()
            result = kubectl("get", "mapool", name, "-n", watched, "-o", "json", check=False)
            if result.returncode != 0:
                return None
            verdicts[name].append(argocd_health(json.loads(result.stdout)))
            return verdicts[name][-1]

        wait_for(
            lambda: judged("chart-e2e") is None, timeout=90, what="the object to be released after its pool is gone"
        )
        assert verdicts["chart-e2e"], "the deleted object was never seen"
        assert {v.status for v in verdicts["chart-e2e"]} == {"Progressing"}, verdicts["chart-e2e"]
        # Argo CD 3.6 shows the script's deletionMessage, not its default "Pending deletion; blocked by finalizers".
        assert all(v.message.startswith(("Deleting pool", "Deletion requested")) for v in verdicts["chart-e2e"]), (
            verdicts["chart-e2e"]
        )

        def stalled_verdict() -> Verdict | None:
            verdict = judged("chart-e2e-stalled")
            assert verdict is not None, "the stalled pool's object went away"
            return verdict if verdict.status == "Degraded" else None

        degraded = wait_for(stalled_verdict, timeout=60, what="Argo CD to show the stalled deletion as Degraded")
        assert degraded.message.startswith(f"Deletion stalled for pool {stalled_pool}: 1 node(s) left"), degraded
        assert "has not progressed" in degraded.message and "deletionPolicy to Retain" in degraded.message, degraded
        before = verdicts["chart-e2e-stalled"][:-1]
        assert {v.status for v in before} <= {"Progressing"}, before
        emulator.control.set_deletion(stalled_pool, "normal")
        wait_for(
            lambda: judged("chart-e2e-stalled") is None,
            timeout=90,
            what="the stalled pool's object to be released once ModelArts resumes the deletion",
        )
        assert emulator.control.pools() == [], "the cloud pool must be gone too"
        healthy_and_permitted()
    finally:
        if operator is not None:
            operator.stop()
            print(operator.log.read_text(errors="replace")[-6000:])  # shown by pytest when the test fails
        print(kubectl("get", "mapool,events", "-n", watched, "-o", "yaml", check=False).stdout[-6000:])
        # Cluster-scoped: left behind, it would name a Secret the next test's operator may not read.
        kubectl("delete", "maproject", f"chart-{watched}", "--ignore-not-found", check=False)
        emulator.stop()
        uninstall(helm, kubectl, scoped)
