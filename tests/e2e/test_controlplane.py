"""Tests of the control-plane harness itself: the real server semantics the operator's e2e tests rely on."""

from __future__ import annotations

import dataclasses
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kube import Kubectl, KubectlError, redact, wait_for

from devcluster import REPO_ROOT, Binaries, DevCluster, DevClusterError, read_versions

GROUP = "harness.e2e.example.com"
CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": f"widgets.{GROUP}"},
    "spec": {
        "group": GROUP,
        "scope": "Namespaced",
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {"spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
                    }
                },
            }
        ],
    },
}


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _pid_running(pid: int) -> bool:
    """True for a live (non-zombie) process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_server_reports_the_built_version(kubectl_json: Callable[..., Any]) -> None:
    version = kubectl_json("version")
    assert version["serverVersion"]["gitVersion"] == read_versions()["KUBERNETES_VERSION"]


def test_finalizer_holds_a_deleted_custom_object_until_removed(kubectl: Kubectl, namespace: str) -> None:
    kubectl.apply(CRD)
    kubectl("wait", "--for=condition=Established", f"crd/widgets.{GROUP}", "--timeout=60s")
    kubectl.apply(
        {
            "apiVersion": f"{GROUP}/v1",
            "kind": "Widget",
            "metadata": {"name": "held", "namespace": namespace, "finalizers": [f"{GROUP}/hold"]},
            "spec": {"size": 1},
        }
    )

    kubectl("delete", "widget", "held", "-n", namespace, "--wait=false")

    held = kubectl.json("get", "widget", "held", "-n", namespace)
    assert held["metadata"]["deletionTimestamp"]
    assert held["metadata"]["finalizers"] == [f"{GROUP}/hold"]

    kubectl(
        "patch", "widget", "held", "-n", namespace, "--type=json",
        "-p", '[{"op": "remove", "path": "/metadata/finalizers"}]',
    )  # fmt: skip
    kubectl("wait", "--for=delete", "widget/held", "-n", namespace, "--timeout=30s")
    gone = kubectl("get", "widget", "held", "-n", namespace, check=False)
    assert gone.returncode != 0
    assert "NotFound" in gone.stderr


def test_rbac_refuses_an_unprivileged_service_account(kubectl: Kubectl, namespace: str, tmp_path: Path) -> None:
    kubectl("create", "serviceaccount", "nobody", "-n", namespace)
    token = kubectl("create", "token", "nobody", "-n", namespace, "--duration=10m").stdout.strip()
    as_nobody = kubectl.with_token(token, tmp_path / "nobody.kubeconfig")

    # The token authenticates (so a refusal below is authorization, not a bad credential)...
    whoami = as_nobody.json("auth", "whoami")
    assert whoami["status"]["userInfo"]["username"] == f"system:serviceaccount:{namespace}:nobody"
    # ...and RBAC refuses it until a Role grants the verb.
    refused = as_nobody("get", "pods", "-n", namespace, check=False)
    assert refused.returncode != 0
    assert "Forbidden" in refused.stderr

    kubectl("create", "role", "pod-reader", "--verb=list", "--resource=pods", "-n", namespace)
    kubectl(
        "create", "rolebinding", "nobody-reads", "--role=pod-reader",
        f"--serviceaccount={namespace}:nobody", "-n", namespace,
    )  # fmt: skip
    # RBAC caches refresh asynchronously; the grant must take effect, not merely be accepted.
    wait_for(
        lambda: as_nobody("get", "pods", "-n", namespace, check=False).returncode == 0,
        timeout=30,
        what="the RoleBinding to allow listing pods",
    )


def test_kubectl_errors_do_not_leak_tokens(kubectl: Kubectl) -> None:
    assert redact(["--token", "s3cret", "--token=s3cret", "get"]) == ["--token", "***", "--token=***", "get"]
    with pytest.raises(KubectlError) as failure:
        kubectl("get", "pod", "no-such-pod", "--token=s3cret-value", "--request-timeout=5s")
    assert "s3cret-value" not in str(failure.value)


def test_controller_manager_deletes_namespaces_and_collects_garbage(
    kubectl: Kubectl, controlplane_binaries: Binaries
) -> None:
    if controlplane_binaries.kube_controller_manager is None:
        pytest.fail("kube-controller-manager is not built; run `make controlplane`")
    kubectl("create", "namespace", "e2e-doomed")
    kubectl("create", "configmap", "owner", "-n", "e2e-doomed")
    owner_uid = kubectl.json("get", "configmap", "owner", "-n", "e2e-doomed")["metadata"]["uid"]
    kubectl.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": "dependent",
                "namespace": "e2e-doomed",
                "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner_uid}],
            },
        }
    )
    kubectl("delete", "configmap", "owner", "-n", "e2e-doomed")
    # Garbage collector: the dependent follows its owner.
    kubectl("wait", "--for=delete", "configmap/dependent", "-n", "e2e-doomed", "--timeout=60s")
    # Namespace controller: the namespace's `kubernetes` finalizer is removed once its content is gone.
    kubectl("delete", "namespace", "e2e-doomed", "--timeout=60s")
    assert "NotFound" in kubectl("get", "namespace", "e2e-doomed", check=False).stderr


def test_stop_leaves_no_process_port_or_data(tmp_path: Path, controlplane_binaries: Binaries) -> None:
    cluster = DevCluster.start(tmp_path / "second", binaries=controlplane_binaries)
    pids, ports = cluster.pids, cluster.ports
    data_dir = cluster.etcd_data_dir
    assert set(pids) >= {"etcd", "kube-apiserver"}
    assert all(_pid_running(pid) for pid in pids.values())
    assert _port_open(ports[0]) and _port_open(ports[1])
    assert data_dir.is_dir()

    cluster.stop()

    assert not any(_pid_running(pid) for pid in pids.values())
    assert not any(_port_open(port) for port in ports)
    assert not data_dir.exists()
    cluster.stop()  # idempotent


def test_cli_up_env_down_from_separate_processes(tmp_path: Path, controlplane_binaries: Binaries) -> None:
    """`up` leaves the cluster running after its own process exits; `down` in another process ends it."""
    workdir = tmp_path / "cli"
    script = str(REPO_ROOT / "tools" / "devcluster.py")

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, script, *args, "--dir", str(workdir)],
            capture_output=True, text=True, timeout=180, check=True,
        )  # fmt: skip

    up = cli("up", "--no-controller-manager")
    exports = dict(line.removeprefix("export ").split("=", 1) for line in up.stdout.splitlines())
    assert exports["KUBECONFIG"] == str(workdir / "kubeconfig")
    assert cli("env").stdout == up.stdout

    cluster = DevCluster.attach(workdir)
    kubectl = Kubectl(controlplane_binaries.kubectl, cluster.kubeconfig, cluster.env())
    assert kubectl("get", "namespace", "default").returncode == 0
    pids = cluster.pids

    cli("down")
    assert not any(_pid_running(pid) for pid in pids.values())
    assert not any(_port_open(port) for port in cluster.ports)
    cli("down")  # idempotent
    assert not os.path.exists(workdir / "devcluster.json")
    env_after = subprocess.run([sys.executable, script, "env", "--dir", str(workdir)], capture_output=True, text=True)
    assert env_after.returncode == 1 and "no cluster" in env_after.stderr


def test_kubeconfig_works_for_the_python_client(controlplane: DevCluster) -> None:
    from kubernetes import client, config  # the operator's own stack reads the same file

    api_client = config.new_client_from_config(config_file=str(controlplane.kubeconfig))  # type: ignore[no-untyped-call]
    names = {ns.metadata.name for ns in client.CoreV1Api(api_client).list_namespace().items if ns.metadata}
    assert {"default", "kube-system"} <= names


def test_env_puts_the_venv_kubectl_and_cached_helm_on_path(
    controlplane: DevCluster, controlplane_binaries: Binaries
) -> None:
    env = controlplane.env()
    assert env["KUBECONFIG"] == str(controlplane.kubeconfig)
    assert shutil.which("kubectl", path=env["PATH"]) == str(controlplane_binaries.kubectl)
    if controlplane_binaries.helm is None:
        pytest.fail("helm is not built; run `make controlplane`")
    assert shutil.which("helm", path=env["PATH"]) == str(controlplane_binaries.helm)
    helm = subprocess.run(["helm", "version", "--short"], env=env, capture_output=True, text=True, check=True)
    assert helm.stdout.startswith(read_versions()["HELM_VERSION"])


def test_processes_die_with_a_killed_owner(tmp_path: Path, controlplane_binaries: Binaries) -> None:
    """A test run killed with SIGKILL (no teardown) must not leave an apiserver and etcd running."""
    workdir = tmp_path / "orphan"
    owner = subprocess.Popen(
        [
            sys.executable, "-c",
            "import sys, time; from pathlib import Path; from devcluster import DevCluster\n"
            "DevCluster.start(Path(sys.argv[1]), controller_manager=False)\n"
            "print('ready', flush=True); time.sleep(600)",
            str(workdir),
        ],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO_ROOT / "tools")},
    )  # fmt: skip
    try:
        assert owner.stdout is not None
        assert owner.stdout.readline().strip() == "ready"
        cluster = DevCluster.attach(workdir)
        pids = cluster.pids
        assert all(_pid_running(pid) for pid in pids.values())
    finally:
        owner.kill()
        owner.wait()
    try:
        wait_for(lambda: not any(_pid_running(p) for p in pids.values()), timeout=30, what="orphans to exit")
        assert not cluster.is_running()
        # The dead cluster's state is stale: a new start in the same directory cleans it up and proceeds.
        with DevCluster.start(workdir, controller_manager=False, binaries=controlplane_binaries) as again:
            assert again.is_running()
            assert not cluster.etcd_data_dir.exists(), "the dead cluster's tmpfs data was not removed"
    finally:
        cluster.stop()  # no-op when the restart above cleaned up; otherwise frees the tmpfs data


def test_startup_failure_reports_the_log_tail_and_cleans_up(tmp_path: Path, controlplane_binaries: Binaries) -> None:
    broken = tmp_path / "kube-apiserver"
    broken.write_text("#!/bin/sh\necho 'fake apiserver: refusing to start' >&2\nexit 3\n")
    broken.chmod(0o755)
    bins = dataclasses.replace(controlplane_binaries, kube_apiserver=broken)
    workdir = tmp_path / "broken"
    before = set(Path("/dev/shm").glob("devcluster-etcd-*"))

    with pytest.raises(DevClusterError) as failure:
        DevCluster.start(workdir, binaries=bins, timeout=60)

    assert "kube-apiserver exited with code 3" in str(failure.value)
    assert "fake apiserver: refusing to start" in str(failure.value)
    assert not (workdir / "devcluster.json").exists()
    # Every process the harness spawns runs with the workdir as its cwd.
    assert not [p for p in Path("/proc").glob("[0-9]*") if _cwd(p) == workdir], "a process was left running"
    assert set(Path("/dev/shm").glob("devcluster-etcd-*")) <= before, "etcd data left on tmpfs"


def _cwd(proc: Path) -> Path | None:
    try:
        return Path(os.readlink(proc / "cwd"))
    except OSError:
        return None


def test_apiserver_stops_and_starts_alone_on_the_same_port_with_the_same_etcd(
    tmp_path: Path, controlplane_binaries: Binaries
) -> None:
    """The harness for API-server outages (tests/e2e/test_failover.py): etcd and the data outlive the restart."""
    with DevCluster.start(tmp_path / "restart", controller_manager=False, binaries=controlplane_binaries) as cluster:
        kubectl = Kubectl(controlplane_binaries.kubectl, cluster.kubeconfig, cluster.env())
        kubectl("create", "configmap", "survivor", "-n", "default", "--from-literal=k=v")
        kubectl.apply(CRD)
        kubectl("wait", "--for=condition=Established", f"crd/widgets.{GROUP}", "--timeout=60s")
        widget = {"apiVersion": f"{GROUP}/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": "default"}}
        kubectl.apply(widget)
        api_port, etcd_port = cluster.ports[0], cluster.ports[1]
        etcd_pid, old_apiserver = cluster.pids["etcd"], cluster.pids["kube-apiserver"]

        cluster.stop_apiserver()
        assert not cluster.apiserver_running() and not _port_open(api_port)
        assert _pid_running(etcd_pid) and _port_open(etcd_port), "etcd must keep running"
        refused = kubectl("get", "configmap", "survivor", "-n", "default", "--request-timeout=5s", check=False)
        assert refused.returncode != 0 and "refused" in refused.stderr
        cluster.stop_apiserver()  # idempotent

        cluster.start_apiserver()
        assert cluster.apiserver_running() and cluster.pids["kube-apiserver"] != old_apiserver
        assert cluster.ports[0] == api_port and _port_open(api_port)
        assert kubectl.json("get", "widget", "w", "-n", "default")["metadata"]["name"] == "w"
        shown = kubectl.json("get", "configmap", "survivor", "-n", "default")
        assert shown["data"] == {"k": "v"}, "the data lives in etcd, not in the API server"
        with pytest.raises(DevClusterError, match="already running"):
            cluster.start_apiserver()


def test_audit_log_names_each_client_certificate_user(tmp_path: Path, controlplane_binaries: Binaries) -> None:
    """Processes given their own kubeconfig (``user_kubeconfig``) are told apart by the API server's audit log."""
    with DevCluster.start(tmp_path / "audit", controller_manager=False, binaries=controlplane_binaries) as cluster:
        operator_a = Kubectl(controlplane_binaries.kubectl, cluster.user_kubeconfig("operator-a"), cluster.env())
        operator_a("create", "configmap", "written-by-a", "-n", "default")
        operator_a("get", "configmap", "written-by-a", "-n", "default")  # reads are not audited

        def writes_by_a() -> list[dict[str, Any]]:
            return [e for e in cluster.audit_events() if (e.get("user") or {}).get("username") == "operator-a"]

        written = wait_for(writes_by_a, timeout=10, what="operator-a's write in the audit log")
        assert [(e["verb"], e["objectRef"]["resource"], e["objectRef"]["name"]) for e in written] == [
            ("create", "configmaps", "written-by-a")
        ]
        assert "system:masters" in written[0]["user"]["groups"]
        assert "requestObject" not in written[0], "Metadata level: no bodies (Secret values) in the log"
