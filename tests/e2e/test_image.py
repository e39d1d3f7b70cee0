"""The operator image (`make image`, tools/image/build.sh), run the way the chart runs it in a pod.

The image is built with podman (cached: seconds when nothing changed). Where it cannot be built at all (build.sh
exits 75: no Docker engine, and podman cannot be installed) or podman cannot run a container, the tests skip
with that reason; a build that fails is a failure.

The control plane has no nodes, so this test plays the kubelet for one pod of the chart's Deployment, as read
back from the API server after `helm install`: the container's env (values, ``secretKeyRef`` and ``fieldRef``
resolved), its volumes (``emptyDir`` as a tmpfs, the projected ServiceAccount token, CA and namespace at
/var/run/secrets/kubernetes.io/serviceaccount), the in-cluster ``KUBERNETES_SERVICE_HOST``/``PORT`` pointing at
the loopback API server (whose serving certificate is for 127.0.0.1), and the container security context: a
read-only root filesystem, no capabilities, no privilege escalation, and the image's own non-root user. The
operator then walks a pool through create and delete against the emulator on the host (``--network host``).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from chart_helpers import (
    CHART,
    FINALIZER,
    FORBIDDEN,
    Helm,
    Namespaces,
    Release,
    install,
    kinds,
    pool,
    uninstall,
    wait_until_authorized,
)
from kube import Kubectl, wait_for

from devcluster import REPO_ROOT, DevCluster
from stack import EmulatorProcess, free_port

BUILD = REPO_ROOT / "tools" / "image" / "build.sh"
PODMAN = REPO_ROOT / "tools" / "image" / "podman.sh"
SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
NOT_AVAILABLE = 75  # build.sh: no way to build an image on this machine

# Hashes the operator package's Python files, wherever it is installed (the checkout, or the image).
SOURCE_DIGEST = """
import hashlib, pathlib, modelarts_operator
root = pathlib.Path(modelarts_operator.__file__).parent
digest = hashlib.sha256()
for path in sorted(root.rglob("*.py")):
    digest.update(path.relative_to(root).as_posix().encode() + b"\\0" + path.read_bytes())
print(digest.hexdigest())
"""


def podman(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """podman on the image store `make image` builds into (tools/image/podman.sh)."""
    result = subprocess.run(["bash", str(PODMAN), *args], capture_output=True, text=True, timeout=timeout, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"podman {args[0]} exited {result.returncode}: {result.stderr.strip()[-2000:]}")
    return result


@pytest.fixture(scope="module")
def image() -> str:
    started = time.monotonic()
    build = subprocess.run(
        ["bash", str(BUILD), "--engine", "podman"], capture_output=True, text=True, timeout=3600, check=False
    )
    if build.returncode == NOT_AVAILABLE:
        pytest.skip(build.stderr.strip().splitlines()[-1])
    assert build.returncode == 0, f"make image failed:\n{build.stderr[-5000:]}"
    print(f"make image: {time.monotonic() - started:.1f}s")
    reference = build.stdout.strip().splitlines()[-1]
    probe = podman("run", "--rm", "--network", "none", "--entrypoint", "true", reference, check=False)
    if probe.returncode != 0:
        pytest.skip(f"podman cannot run a container here: {probe.stderr.strip()[-500:]}")
    return reference


def test_image_holds_this_checkout_and_no_kubernetes_client(image: str) -> None:
    """The image runs exactly the checked-out code (a stale build cache would fail this), as uid 65532."""
    here = subprocess.run(
        [sys.executable, "-c", SOURCE_DIGEST], capture_output=True, text=True, check=True, cwd=REPO_ROOT / "tests"
    ).stdout.strip()
    ro = ("--rm", "--network", "none", "--read-only", "--read-only-tmpfs=false")
    inside = podman("run", *ro, "--entrypoint", "python", image, "-c", SOURCE_DIGEST).stdout.strip()
    assert inside == here, "the image was built from other sources than this checkout"
    config = json.loads(podman("image", "inspect", image).stdout)[0]["Config"]
    assert config["User"] == "65532:65532" and config["Entrypoint"] == ["modelarts-operator", "run"]
    # The operator logs in with kopf; the official client (126 MB installed) is not in the image.
    probe = podman("run", *ro, "--entrypoint", "python", image, "-c", "import kubernetes", check=False)
    assert probe.returncode == 1 and "No module named 'kubernetes'" in probe.stderr


# -- playing the kubelet ---------------------------------------------------------------------------------------


def container_env(container: dict[str, Any], pod_name: str, namespace: str, kubectl: Kubectl) -> dict[str, str]:
    """The container's env as the kubelet resolves it."""
    env: dict[str, str] = {}
    for item in container.get("env", []):
        name, source = item["name"], item.get("valueFrom")
        if source is None:
            env[name] = item.get("value", "")
        elif "fieldRef" in source:
            env[name] = {"metadata.name": pod_name, "metadata.namespace": namespace}[source["fieldRef"]["fieldPath"]]
        elif "secretKeyRef" in source:
            ref = source["secretKeyRef"]
            data = kubectl.json("get", "secret", ref["name"], "-n", namespace).get("data") or {}
            if ref["key"] in data:
                env[name] = base64.b64decode(data[ref["key"]]).decode()
            else:
                assert ref.get("optional"), f"Secret {ref['name']} has no key {ref['key']} for {name}"
        else:
            raise AssertionError(f"this test cannot resolve env {name}: {source}")
    return env


def tmpfs_size(quantity: str) -> str:
    """A Kubernetes quantity (64Mi) as a tmpfs size (64m)."""
    for suffix, unit in (("Ki", "k"), ("Mi", "m"), ("Gi", "g")):
        if quantity.endswith(suffix):
            return quantity.removesuffix(suffix) + unit
    return quantity


def cluster_ca(kubectl: Kubectl) -> str:
    config = yaml.safe_load(kubectl.kubeconfig.read_text())
    return Path(config["clusters"][0]["cluster"]["certificate-authority"]).read_text()


def projected_files(volume: dict[str, Any], pod: dict[str, Any], namespace: str, kubectl: Kubectl) -> dict[str, str]:
    files: dict[str, str] = {}
    for source in volume["projected"]["sources"]:
        if "serviceAccountToken" in source:
            token = source["serviceAccountToken"]
            args = [
                "create",
                "token",
                pod["serviceAccountName"],
                "-n",
                namespace,
                f"--duration={token.get('expirationSeconds', 3607)}s",
            ]
            if token.get("audience"):
                args.append(f"--audience={token['audience']}")
            files[token["path"]] = kubectl(*args).stdout.strip()
        elif "configMap" in source:
            ref = source["configMap"]
            found = kubectl("get", "configmap", ref["name"], "-n", namespace, "-o", "json", check=False)
            if found.returncode != 0 and ref["name"] == "kube-root-ca.crt":
                # The root-ca-cert-publisher controller publishes it in every namespace; this control plane's
                # controller-manager does not run that controller, so do its job.
                kubectl(
                    "create",
                    "configmap",
                    "kube-root-ca.crt",
                    "-n",
                    namespace,
                    f"--from-literal=ca.crt={cluster_ca(kubectl)}",
                )
                found = kubectl("get", "configmap", ref["name"], "-n", namespace, "-o", "json")
            data = json.loads(found.stdout)["data"]
            for item in ref["items"]:
                files[item["path"]] = data[item["key"]]
        elif "downwardAPI" in source:
            for item in source["downwardAPI"]["items"]:
                assert item["fieldRef"]["fieldPath"] == "metadata.namespace", item
                files[item["path"]] = namespace
        else:
            raise AssertionError(f"this test cannot project {source}")
    return files


def container_mounts(
    pod: dict[str, Any], container: dict[str, Any], namespace: str, kubectl: Kubectl, workdir: Path
) -> list[str]:
    """podman arguments for the container's volumeMounts, as the kubelet would provide them."""
    volumes = {volume["name"]: volume for volume in pod.get("volumes", [])}
    args: list[str] = []
    for mount in container.get("volumeMounts", []):
        volume = volumes[mount["name"]]
        if "emptyDir" in volume:
            size = volume["emptyDir"].get("sizeLimit")
            args += ["--tmpfs", f"{mount['mountPath']}:rw,mode=1777" + (f",size={tmpfs_size(size)}" if size else "")]
        elif "projected" in volume:
            directory = workdir / mount["name"]
            directory.mkdir(mode=0o755)
            for name, content in projected_files(volume, pod, namespace, kubectl).items():
                (directory / name).write_text(content)
                (directory / name).chmod(volume["projected"].get("defaultMode", 0o644))
            args += ["-v", f"{directory}:{mount['mountPath']}:{'ro' if mount.get('readOnly') else 'rw'}"]
        else:
            raise AssertionError(f"this test cannot provide volume {volume}")
    return args


def security_args(container: dict[str, Any]) -> list[str]:
    """The container securityContext in podman terms; the user is left to the image, and must match."""
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True and security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"] and security["runAsUser"] == 65532
    # --read-only-tmpfs=false: no writable /run, /tmp or /var/tmp beyond the pod's own volumes.
    return ["--read-only", "--read-only-tmpfs=false", "--cap-drop=ALL", "--security-opt=no-new-privileges"]


# -- the scenario -----------------------------------------------------------------------------------------------


@pytest.fixture
def make_namespace(kubectl: Kubectl) -> Iterator[Namespaces]:
    namespaces = Namespaces(kubectl)
    yield namespaces
    for name in namespaces.created:
        kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)


def leader_election_implemented() -> bool:
    from modelarts_operator.settings import OperatorSettings

    return "leader_election" in OperatorSettings.model_fields


def test_operator_from_the_image_creates_and_deletes_a_pool(
    image: str,
    helm: Helm,
    kubectl: Kubectl,
    crd: str,
    controlplane: DevCluster,
    tmp_path: Path,
    make_namespace: Namespaces,
) -> None:
    watched = make_namespace("image")
    emulator = EmulatorProcess.start(tmp_path, create_seconds=2, delete_seconds=3, scale_seconds=1)
    health_port, metrics_port = free_port(), free_port()
    values = [
        "--set", f"watchNamespaces={{{watched}}}", "--set", "deletionProtection.enabled=false",
        "--set", f"modelarts.endpoint={emulator.url}", "--set", f"modelarts.projectId={emulator.project_id}",
        "--set", "modelarts.region=cn-north-4", "--set-json", "polling.transitionSeconds=0.5",
        "--set", "credentials.existingSecret=modelarts-credentials",
        # The operator's own credentials serve the watched namespace, and the emulator's loopback endpoint is allowed.
        "--set", f"tenancy.defaultCredentialsNamespaces={{{watched}}}",
        "--set", "tenancy.allowedEndpoints={http://127.0.0.1:*}",
        # Host network: the pod's ports are the host's, so free ones, and loopback only.
        "--set", f"health.port={health_port}", "--set", f"metrics.port={metrics_port}",
        "--set-json", 'extraEnv=[{"name": "MODELARTS_HEALTH_ADDRESS", "value": "127.0.0.1"}]',
    ]  # fmt: skip
    release: Release | None = None
    name = f"mao-image-{os.getpid()}"
    try:
        # No hooks: the uninstall guard Job needs a node; its container is run from the image below instead.
        release = install(helm, kubectl, *values, "--set", "uninstallGuard.enabled=false")
        wait_until_authorized(kubectl, release, "-n", watched)
        credentials = [
            f"--from-literal=accessKey={emulator.access_key}",
            f"--from-literal=secretKey={emulator.secret_key}",
        ]
        for namespace in (release.namespace, watched):
            kubectl("create", "secret", "generic", "modelarts-credentials", "-n", namespace, *credentials)

        deployment = kubectl.json("get", "deployment", f"{release.name}-modelarts-operator", "-n", release.namespace)
        pod = deployment["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert "command" not in container and "args" not in container, "the chart relies on the image's entrypoint"
        pod_name = f"{release.name}-modelarts-operator-0"
        env = container_env(container, pod_name, release.namespace, kubectl)
        api_port = controlplane.server_url.rsplit(":", 1)[1]
        env.update(KUBERNETES_SERVICE_HOST="127.0.0.1", KUBERNETES_SERVICE_PORT=api_port)  # as the kubelet sets them
        env_file = tmp_path / "pod.env"  # a file, so the credentials never appear in a command line
        env_file.touch(mode=0o600)
        env_file.write_text("".join(f"{key}={value}\n" for key, value in env.items()))
        mounts = container_mounts(pod, container, release.namespace, kubectl, tmp_path)
        pod_args = ["--network", "host", *security_args(container), "--env-file", str(env_file), *mounts]

        podman("run", "-d", "--name", name, *pod_args, image)

        def logs() -> str:
            result = podman("logs", name, check=False)
            return result.stdout + result.stderr

        def healthy_and_permitted() -> None:
            state = json.loads(podman("inspect", name).stdout)[0]["State"]
            assert state["Running"], f"the operator container exited ({state['ExitCode']}):\n{logs()[-3000:]}"
            refused = FORBIDDEN.search(logs())
            assert not refused, f"a permission the chart lacks ({refused.group(0)}):\n{logs()[-3000:]}"

        def health() -> bool:
            healthy_and_permitted()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{health_port}/healthz", timeout=2) as response:
                    return bool(response.status == 200)
            except OSError:
                return False

        wait_for(health, timeout=90, what="the operator's /healthz (started from the image)")
        assert podman("exec", name, "id", "-u").stdout.strip() == "65532"
        assert "Read-only file system" in podman("exec", name, "touch", "/x", check=False).stderr
        podman("exec", name, "touch", "/tmp/x")  # the emptyDir

        kubectl.apply(pool("image-e2e", watched))

        def ready() -> dict[str, Any] | None:
            healthy_and_permitted()
            obj: dict[str, Any] = kubectl.json("get", "mapool", "image-e2e", "-n", watched)
            conditions = {c["type"]: c for c in (obj.get("status") or {}).get("conditions", [])}
            return obj if conditions.get("Ready", {}).get("status") == "True" else None

        obj = wait_for(ready, timeout=120, what="Ready=True (the operator's log is printed below)")
        assert FINALIZER in obj["metadata"]["finalizers"] and obj["status"]["poolName"]
        if leader_election_implemented():
            lease = wait_for(
                lambda: kubectl.json("get", "lease", "modelarts-operator", "-n", release.namespace),
                timeout=30,
                what="the Lease",
            )
            assert lease["spec"]["holderIdentity"] == pod_name

        # The chart's uninstall guard Job, its pod played the same way from the same image: it refuses while the
        # pool exists (the image has what its script needs without the kubernetes package).
        guard_pod, guard = guard_job(helm, values, release)
        guard_dir = tmp_path / "guard"
        guard_dir.mkdir()
        guard_args = [
            "--network",
            "host",
            *security_args(guard),
            "--env",
            "KUBERNETES_SERVICE_HOST=127.0.0.1",
            "--env",
            f"KUBERNETES_SERVICE_PORT={api_port}",
            *container_mounts(guard_pod, guard, release.namespace, kubectl, guard_dir),
            "--entrypoint",
            guard["command"][0],
            image,
            *guard["command"][1:],
            *guard["args"],
        ]
        refused = podman("run", "--rm", *guard_args, check=False)
        assert refused.returncode == 1 and f"{watched}/image-e2e" in refused.stdout, refused.stdout + refused.stderr

        kubectl("delete", "mapool", "image-e2e", "-n", watched, "--wait=false")

        def gone() -> bool:
            healthy_and_permitted()
            return kubectl("get", "mapool", "image-e2e", "-n", watched, check=False).returncode != 0

        wait_for(gone, timeout=120, what="the object to be released after its pool is gone")
        with urllib.request.urlopen(f"{emulator.url}/_emulator/pools", timeout=10) as response:  # noqa: S310
            assert json.load(response)["pools"] == [], "the cloud pool must be gone too"
        allowed = podman("run", "--rm", *guard_args, check=False)
        assert allowed.returncode == 0 and "uninstalling is safe" in allowed.stdout, allowed.stdout + allowed.stderr

        healthy_and_permitted()
        podman("stop", "-t", "20", name, timeout=60)
        state = json.loads(podman("inspect", name).stdout)[0]["State"]
        assert state["ExitCode"] == 0, f"SIGTERM should end the operator cleanly:\n{logs()[-3000:]}"
    finally:
        print(podman("logs", name, check=False).stderr[-6000:])  # kopf logs to stderr; shown when the test fails
        podman("rm", "-f", "-t", "5", name, check=False)
        emulator.stop()
        if release is not None:
            uninstall(helm, kubectl, release)


def guard_job(helm: Helm, values: list[str], release: Release) -> tuple[dict[str, Any], dict[str, Any]]:
    """The uninstall guard Job's pod spec and container, as the chart renders them for this release."""
    rendered = helm("template", release.name, str(CHART), "--namespace", release.namespace, *values).stdout
    (job,) = kinds([doc for doc in yaml.safe_load_all(rendered) if doc])["Job"]
    pod: dict[str, Any] = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    return pod, container
