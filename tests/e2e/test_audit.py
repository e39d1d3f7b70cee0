"""``modelarts-operator audit`` against the real control plane and the emulator as a process: a ModelArtsProject,
a ModelArtsPool object recording its pool, and a pool nobody manages. The audit names the leak (exit 1), is clean
once it is gone (exit 0), then names the object whose pool vanished and the deletion that does not finish."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from kube import Kubectl

from devcluster import DevCluster
from modelarts_operator.resource import names
from modelarts_operator.resource.status import ModelArtsPoolStatus
from stack import EmulatorProcess, console_script

ROOT = Path(__file__).resolve().parents[2]
PROJECTS_CRD = ROOT / "crds" / "modelarts.operator.dev_modelartsprojects.yaml"
POOL_BODY = {
    "apiVersion": "v2",
    "kind": "Pool",
    "spec": {"type": "Logical", "scope": ["Train"], "resources": [{"flavor": "modelarts.vm.cpu.8ud", "count": 2}]},
}


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    # A project of its own: other tests' objects in this session cluster record the emulator's default project.
    project_id = uuid.uuid4().hex
    process = EmulatorProcess.start(tmp_path_factory.mktemp("audit-emulator"), extra_args=["--project-id", project_id])
    process.project_id = project_id
    yield process
    process.stop()


def control(emulator: EmulatorProcess, method: str, path: str, body: Any = None) -> Any:
    response = httpx.request(method, f"{emulator.url}/_emulator{path}", json=body, timeout=10)
    response.raise_for_status()
    return response.json() if response.content else None


def cloud_pool(emulator: EmulatorProcess, display: str) -> str:
    body = json.loads(json.dumps(POOL_BODY)) | {"metadata": {"labels": {"os.modelarts/name": display}}}
    name: str = control(emulator, "POST", "/pools?ready=true", body)["metadata"]["name"]
    return name


def audit(controlplane: DevCluster, project: str, *args: str) -> tuple[int, dict[str, Any]]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("MODELARTS_")}
    env.update(controlplane.env(), MODELARTS_ALLOWED_ENDPOINTS="http://127.0.0.1:*")
    completed = subprocess.run(
        [console_script(), "audit", "--project", project, "-o", "json", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.stdout, completed.stderr
    report: dict[str, Any] = json.loads(completed.stdout)
    assert report["exitCode"] == completed.returncode
    return completed.returncode, report


def found(report: dict[str, Any]) -> list[tuple[str, str | None, list[str]]]:
    return [(f["kind"], f["pool"], f["objects"]) for f in report["findings"]]


@pytest.fixture
def project(kubectl: Kubectl, crd: str, namespace: str, emulator: EmulatorProcess) -> Iterator[str]:
    kubectl("apply", "--server-side", "--force-conflicts", "-f", str(PROJECTS_CRD))
    kubectl("wait", "--for=condition=Established", f"crd/{names.PROJECT_PLURAL}.{names.GROUP}", "--timeout=60s")
    kubectl(
        "create",
        "secret",
        "generic",
        "audit-credentials",
        "-n",
        namespace,
        f"--from-literal=accessKey={emulator.access_key}",
        f"--from-literal=secretKey={emulator.secret_key}",
    )
    name = f"audit-{namespace}"
    kubectl.apply(
        {
            "apiVersion": names.API_VERSION,
            "kind": names.PROJECT_KIND,
            "metadata": {"name": name},
            "spec": {
                "projectId": emulator.project_id,
                "region": "cn-north-4",
                "endpoint": emulator.url,
                "credentialsSecretRef": {"namespace": namespace, "name": "audit-credentials"},
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
            },
        }
    )
    yield name
    kubectl("delete", names.PROJECT_PLURAL, name, "--ignore-not-found", "--wait=false", check=False)


def test_audit_names_the_unmanaged_pool_then_is_clean(
    kubectl: Kubectl, controlplane: DevCluster, namespace: str, project: str, emulator: EmulatorProcess
) -> None:
    managed = cloud_pool(emulator, "managed")
    kubectl.apply(
        {
            "apiVersion": names.API_VERSION,
            "kind": names.KIND,
            "metadata": {"name": "managed", "namespace": namespace},
            "spec": {
                "type": "Logical",
                "scope": ["Train"],
                "resources": [{"flavor": "modelarts.vm.cpu.8ud", "count": 2}],
                "projectRef": {"name": project},
            },
        }
    )
    # The status the operator would have written, built from its own status model.
    status = ModelArtsPoolStatus(pool_name=managed, project=project, project_id=emulator.project_id, phase="Running")
    kubectl(
        "patch",
        "mapool",
        "managed",
        "-n",
        namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": status.model_dump(by_alias=True, exclude_none=True)}),
    )
    leaked = cloud_pool(emulator, "leaky")

    code, report = audit(controlplane, project)
    assert code == 1 and report["result"] == "findings"
    assert [(a["projectId"], a["pools"], a["error"]) for a in report["accounts"]] == [(emulator.project_id, 2, None)]
    assert report["objects"] == 1
    assert found(report) == [("unmanaged", leaked, [])]
    assert (report["findings"][0]["nodes"], report["findings"][0]["phase"]) == (2, "Running")

    control(emulator, "DELETE", f"/pools/{leaked}")
    code, report = audit(controlplane, project)
    assert (code, report["result"], report["findings"]) == (0, "clean", [])

    control(emulator, "DELETE", f"/pools/{managed}")  # removed behind the cluster's back
    code, report = audit(controlplane, project)
    assert code == 1 and found(report) == [("missing", managed, [f"{namespace}/managed"])]

    kubectl(
        "patch",
        "mapool",
        "managed",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        json.dumps({"metadata": {"finalizers": [names.FINALIZER]}}),
    )
    kubectl("delete", "mapool", "managed", "-n", namespace, "--wait=false")
    try:
        code, report = audit(controlplane, project, "--stuck-after", "0")
        assert code == 1 and found(report) == [("stuck-deleting", managed, [f"{namespace}/managed"])]
        assert "the pool is not listed" in report["findings"][0]["detail"]
    finally:
        kubectl(
            "patch",
            "mapool",
            "managed",
            "-n",
            namespace,
            "--type=merge",
            "-p",
            json.dumps({"metadata": {"finalizers": None}}),
            check=False,
        )


def test_credentials_the_cloud_refuses_make_the_audit_exit_2(
    kubectl: Kubectl, controlplane: DevCluster, namespace: str, project: str
) -> None:
    kubectl("delete", "secret", "audit-credentials", "-n", namespace)
    kubectl(
        "create",
        "secret",
        "generic",
        "audit-credentials",
        "-n",
        namespace,
        "--from-literal=accessKey=WRONGACCESSKEY000000",
        "--from-literal=secretKey=wrong",
    )
    code, report = audit(controlplane, project)
    assert code == 2 and report["result"] == "unreadable"
    assert "HTTP 401" in report["accounts"][0]["error"] and "WRONGACCESSKEY000000" not in json.dumps(report)
