"""Tier 3 fixtures: one real control plane per test session, and kubectl bound to it.

Layout for later additions: control-plane fixtures here; kubectl/waiting helpers live in ``kube.py``.
Operator and emulator fixtures can build on ``controlplane`` (``.env()`` gives KUBECONFIG and PATH).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from chart_helpers import Helm
from kube import Kubectl

from devcluster import Binaries, DevCluster, DevClusterError

CRD_NAME = "modelartspools.modelarts.operator.dev"
PROJECT_CRD_NAME = "modelartsprojects.modelarts.operator.dev"
CRD_DIR = Path(__file__).resolve().parents[2] / "crds"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under tests/e2e needs the real control plane; mark it so `-m "not controlplane"` works."""
    for item in items:
        if "tests/e2e/" in item.nodeid.replace("\\", "/") or item.nodeid.startswith("e2e/"):
            item.add_marker(pytest.mark.controlplane)


@pytest.fixture(scope="session")
def controlplane_binaries() -> Binaries:
    """The cached binaries; a clear failure (not a skip) if `make controlplane` has not been run."""
    try:
        return Binaries.locate()
    except DevClusterError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def controlplane(tmp_path_factory: pytest.TempPathFactory, controlplane_binaries: Binaries) -> Iterator[DevCluster]:
    """etcd + kube-apiserver + kube-controller-manager (when built), shared by the whole session."""
    cluster = DevCluster.start(tmp_path_factory.mktemp("controlplane"), binaries=controlplane_binaries)
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def kubectl(controlplane: DevCluster, controlplane_binaries: Binaries) -> Kubectl:
    """kubectl with the session cluster's admin kubeconfig; ``kubectl("get", "ns")`` → CompletedProcess."""
    return Kubectl(binary=controlplane_binaries.kubectl, kubeconfig=controlplane.kubeconfig, env=controlplane.env())


@pytest.fixture(scope="session")
def kubectl_json(kubectl: Kubectl) -> Callable[..., Any]:
    """``kubectl_json("get", "ns", "default")`` → the parsed ``-o json`` output."""
    return kubectl.json


@pytest.fixture(scope="session")
def crd(kubectl: Kubectl) -> str:
    """The generated CRDs (``crds/``: ModelArtsPool and ModelArtsProject), applied once per session, Established."""
    kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CRD_DIR))
    kubectl("wait", "--for=condition=Established", f"crd/{CRD_NAME}", f"crd/{PROJECT_CRD_NAME}", "--timeout=60s")
    return CRD_NAME


@pytest.fixture
def namespace(kubectl: Kubectl) -> Iterator[str]:
    """A fresh namespace per test, deleted afterwards without waiting (the session cluster outlives it)."""
    name = f"e2e-{uuid.uuid4().hex[:8]}"
    kubectl("create", "namespace", name)
    yield name
    kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)


@pytest.fixture(scope="session")
def helm(controlplane: DevCluster, controlplane_binaries: Binaries, tmp_path_factory: pytest.TempPathFactory) -> Helm:
    """The helm `make controlplane` builds, bound to the session cluster, with its own config and cache dirs."""
    if controlplane_binaries.helm is None:
        pytest.fail("helm is not built: run `make controlplane`", pytrace=False)
    home = tmp_path_factory.mktemp("helm-home")
    env = controlplane.env()
    env.update(
        HELM_CONFIG_HOME=str(home / "config"), HELM_CACHE_HOME=str(home / "cache"), HELM_DATA_HOME=str(home / "data")
    )
    return Helm(binary=controlplane_binaries.helm, env=env)
