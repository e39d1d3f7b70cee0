"""Helpers for tests/e2e/test_chart.py: helm, releases, namespaces, RBAC checks, the guard, Argo CD's verdict.

Independent of pytest fixtures, so each piece can be reused; the fixtures live in test_chart.py.
"""

from __future__ import annotations

import functools
import json
import re
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from kube import Kubectl, wait_for

from argocd_health import EngineNotBuilt, Verdict, engine, judge
from devcluster import REPO_ROOT

CHART = REPO_ROOT / "deploy" / "helm" / "modelarts-operator"
CRD_FILE = REPO_ROOT / "crds" / "modelarts.operator.dev_modelartspools.yaml"
CRD_NAME = "modelartspools.modelarts.operator.dev"
GUARD_SCRIPT = CHART / "files" / "uninstall_guard.py"
FINALIZER = "modelarts.operator.dev/pool-deletion"


@dataclass(frozen=True)
class Helm:
    """helm bound to the session cluster, with its own config/cache dirs (never the user's ~/.config/helm)."""

    binary: Path
    env: dict[str, str]

    def __call__(self, *args: str, check: bool = True, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(self.binary), *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=self.env,
            timeout=120,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"helm {' '.join(args)} exited {result.returncode}: {result.stderr.strip()}")
        return result

    def start(self, *args: str) -> subprocess.Popen[str]:
        """Run helm in the background (for a command that waits on something the test must do)."""
        return subprocess.Popen(
            [str(self.binary), *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=self.env
        )

    def template(self, *args: str, namespace: str = "modelarts-system") -> list[dict[str, Any]]:
        out = self("template", "modelarts-operator", str(CHART), "--namespace", namespace, *args).stdout
        return [doc for doc in yaml.safe_load_all(out) if doc]


@dataclass(frozen=True)
class Release:
    name: str
    namespace: str
    service_account: str
    output: str = ""

    @property
    def subject(self) -> str:
        return f"system:serviceaccount:{self.namespace}:{self.service_account}"


def short_id() -> str:
    return uuid.uuid4().hex[:6]


def install(helm: Helm, kubectl: Kubectl, *values: str) -> Release:
    name = f"mao-{short_id()}"
    namespace = f"{name}-system"
    output = helm("install", name, str(CHART), "--namespace", namespace, "--create-namespace", *values).stdout
    return Release(name=name, namespace=namespace, service_account=f"{name}-modelarts-operator", output=output)


def uninstall(helm: Helm, kubectl: Kubectl, release: Release) -> None:
    # --no-hooks: the uninstall guard is a Job, and this control plane has no node to run it on (its logic is
    # tested in test_chart.py).
    helm("uninstall", release.name, "--namespace", release.namespace, "--no-hooks", check=False)
    kubectl("delete", "namespace", release.namespace, "--wait=false", "--ignore-not-found", check=False)


class Namespaces:
    """Creates namespaces for one test and deletes them (with what is left in them) afterwards."""

    def __init__(self, kubectl: Kubectl) -> None:
        self._kubectl = kubectl
        self.created: list[str] = []

    def __call__(self, prefix: str) -> str:
        name = f"{prefix}-{short_id()}"
        self._kubectl("create", "namespace", name)
        self.created.append(name)
        return name


def pool(name: str, namespace: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "modelarts.operator.dev/v1alpha1",
        "kind": "ModelArtsPool",
        "metadata": {"name": name, "namespace": namespace},
        # No spec.region: a region in the spec selects that region's public endpoint over the operator's.
        "spec": {
            "type": "Logical",
            "scope": ["Train"],
            "resources": [{"flavor": "modelarts.vm.cpu.8ud", "count": 1}],
            **spec,
        },
    }


def kinds(docs: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for doc in docs:
        grouped.setdefault(doc["kind"], []).append(doc)
    return grouped


def can_i(kubectl: Kubectl, release: Release, verb: str, resource: str, *scope: str) -> bool:
    result = kubectl("auth", "can-i", verb, resource, f"--as={release.subject}", *scope, check=False)
    assert result.stdout.strip() in {"yes", "no"}, result.stderr
    return result.stdout.strip() == "yes"


def wait_until_authorized(kubectl: Kubectl, release: Release, *scope: str) -> None:
    """The RBAC authorizer reads roles from a watch cache: give a fresh install's bindings time to arrive."""
    wait_for(
        lambda: can_i(kubectl, release, "list", "modelartspools.modelarts.operator.dev", *scope),
        timeout=30,
        what=f"the RBAC rules of {release.name} to take effect",
    )


def service_account_kubectl(kubectl: Kubectl, release: Release, path: Path) -> Kubectl:
    token = kubectl("create", "token", release.service_account, "-n", release.namespace, "--duration=1h").stdout.strip()
    return kubectl.with_token(token, path)


def run_guard(sa: Kubectl, *namespaces: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in sa.env.items() if not k.startswith("KUBERNETES_SERVICE")}
    env["KUBECONFIG"] = str(sa.kubeconfig)
    return subprocess.run(
        [sys.executable, str(GUARD_SCRIPT), *namespaces],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


@functools.cache
def argocd_engine() -> Path:
    """Argo CD's own health engine (tools/argocd-health), built by `make argocd-health`; a clear failure if not."""
    try:
        return engine()
    except EngineNotBuilt as exc:
        pytest.fail(str(exc), pytrace=False)


def argocd_health(obj: dict[str, Any]) -> Verdict:
    """What Argo CD shows for a live object with deploy/argocd/argocd-cm-patch.yaml: its settings manager, Lua engine
    and gitops-engine's GetResourceHealth (as tests/unit/test_argocd_health.py runs them)."""
    (verdict,) = judge([obj], binary=argocd_engine())
    return verdict


def act_as_kubelet_for_guard(kubectl: Kubectl, sa: Kubectl, release: Release, previous_uid: str | None) -> str:
    """This control plane has no node: run the guard Job's container command on the host, with the chart's
    ServiceAccount, and report its outcome in the Job's status as the job controller would. Returns the Job's uid."""
    name = f"{release.name}-modelarts-operator-uninstall-guard"

    def fresh_job() -> dict[str, Any] | None:
        result = kubectl("get", "job", name, "-n", release.namespace, "-o", "json", check=False)
        job: dict[str, Any] | None = json.loads(result.stdout) if result.returncode == 0 else None
        return job if job and job["metadata"]["uid"] != previous_uid else None

    job = wait_for(fresh_job, timeout=30, what="helm to create the pre-delete guard Job")
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["python", "-c"]
    env = {k: v for k, v in sa.env.items() if not k.startswith("KUBERNETES_SERVICE")}
    env["KUBECONFIG"] = str(sa.kubeconfig)
    run = subprocess.run(
        [sys.executable, "-c", *container["args"]], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    stamp = {"status": "True", "lastTransitionTime": now, "lastProbeTime": now}
    if run.returncode == 0:
        status = {
            "startTime": now,
            "completionTime": now,
            "succeeded": 1,
            "conditions": [{"type": "SuccessCriteriaMet", **stamp}, {"type": "Complete", **stamp}],
        }
    else:
        failed = {"reason": "BackoffLimitExceeded", "message": run.stdout[-500:]}
        status = {
            "startTime": now,
            "failed": 1,
            "conditions": [{"type": "FailureTarget", **stamp, **failed}, {"type": "Failed", **stamp, **failed}],
        }
    kubectl(
        "patch",
        "job",
        name,
        "-n",
        release.namespace,
        "--subresource=status",
        "--type",
        "merge",
        "-p",
        json.dumps({"status": status}),
    )
    return str(job["metadata"]["uid"])


# How a refused Kubernetes call shows in the operator's log: kopf's APIForbiddenError, the operator's own client
# ("HTTP 403 ..."), the API server's message ("... is forbidden: User ..."), kopf's Event poster giving up.
FORBIDDEN = re.compile(
    r"APIForbiddenError|HTTP 403\b|status=403\b|'code': 403\b|is forbidden: User|Failed to post an event"
)


def project(
    name: str, *, serves: str, secret_namespace: str, endpoint: str, project_id: str, adoption: str = "Forbidden"
) -> dict[str, Any]:
    """A ModelArtsProject serving one namespace (by the name label the API server puts on every namespace), with
    its credentials Secret ``modelarts-credentials`` in ``secret_namespace``."""
    return {
        "apiVersion": "modelarts.operator.dev/v1alpha1",
        "kind": "ModelArtsProject",
        "metadata": {"name": name},
        "spec": {
            "projectId": project_id,
            "region": "cn-north-4",
            "endpoint": endpoint,
            "adoption": adoption,
            "credentialsSecretRef": {"namespace": secret_namespace, "name": "modelarts-credentials"},
            "namespaceSelector": {
                "matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "In", "values": [serves]}]
            },
        },
    }
