"""``make demo``: a real control plane, the ModelArts emulator and the operator; one pool created, scaled, deleted.

Everything runs on this machine on 127.0.0.1 and is torn down at the end (also on failure or Ctrl-C). As a
platform team would, the demo binds the ``default`` namespace to the emulated project with a ModelArtsProject
(its Secret, with the emulator's local development key, in ``modelarts-system``); the pool is
``examples/pool.yaml``, which names neither credentials nor a project.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from devcluster import Binaries, DevCluster
from stack import EmulatorProcess, OperatorProcess

ROOT = Path(__file__).resolve().parents[1]
CRDS = ROOT / "crds"
EXAMPLE = ROOT / "examples" / "pool.yaml"
POOL = "demo-cpu-pool"
NAMESPACE = "default"
STEP_TIMEOUT = 180.0


def say(text: str) -> None:
    print(f"\n==> {text}", flush=True)


class Demo:
    def __init__(self, kubectl: Path, cluster: DevCluster) -> None:
        self._kubectl = kubectl
        self._cluster = cluster
        self._last_row = ""
        self._header_shown = False

    def kubectl(self, *args: str, stdin: str | None = None, echo: bool = True) -> str:
        if echo:
            print(f"$ kubectl {' '.join(args)}", flush=True)
        result = subprocess.run(
            [str(self._kubectl), *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=self._cluster.env(),
            check=False,
            timeout=60,
            cwd=ROOT,
        )
        if result.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
        if echo and result.stdout.strip():
            print(result.stdout.rstrip(), flush=True)
        return result.stdout

    def status(self) -> dict[str, Any] | None:
        result = subprocess.run(
            [str(self._kubectl), "get", "mapool", POOL, "-n", NAMESPACE, "-o", "json"],
            capture_output=True,
            text=True,
            env=self._cluster.env(),
            check=False,
        )
        if result.returncode != 0:
            return None
        status: dict[str, Any] = json.loads(result.stdout).get("status") or {}
        return status

    def wait_for_project(self) -> None:
        deadline = time.monotonic() + STEP_TIMEOUT
        while "True" not in self.kubectl(
            "get", "maproject", "emulator", "-o", "jsonpath={.status.conditions[?(@.type=='Ready')].status}", echo=False
        ):
            if time.monotonic() > deadline:
                raise RuntimeError("timed out waiting for the ModelArtsProject to be Ready")
            time.sleep(0.5)

    def watch_until(self, done: Callable[[dict[str, Any] | None], bool], what: str) -> None:
        """Show ``kubectl get mapool`` each time its row changes, until ``done`` holds."""
        deadline = time.monotonic() + STEP_TIMEOUT
        while True:
            table = subprocess.run(
                [str(self._kubectl), "get", "mapool", "-n", NAMESPACE],
                capture_output=True,
                text=True,
                env=self._cluster.env(),
                check=False,
            ).stdout
            rows = table.strip().splitlines()
            if len(rows) > 1 and not self._header_shown:
                print(rows[0], flush=True)
                self._header_shown = True
            row = rows[1] if len(rows) > 1 else f"(modelartspool {POOL} is gone)"
            # A new line only when something but the AGE column changed.
            shown = " ".join(row.split()[:-1])
            if shown != self._last_row:
                print(row, flush=True)
                self._last_row = shown
            status = self.status()
            if done(status):
                if status is None and not self._last_row.startswith("("):
                    print(f"(modelartspool {POOL} is gone)", flush=True)
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out waiting for {what}")
            time.sleep(0.5)


def project(emulator: EmulatorProcess) -> dict[str, Any]:
    return {
        "apiVersion": "modelarts.operator.dev/v1alpha1",
        "kind": "ModelArtsProject",
        "metadata": {"name": "emulator"},
        "spec": {
            "projectId": emulator.project_id,
            "region": "cn-north-4",
            "endpoint": emulator.url,
            "credentialsSecretRef": {"namespace": "modelarts-system", "name": "modelarts-emulator"},
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": NAMESPACE}},
        },
    }


def running_with(count: int) -> Callable[[dict[str, Any] | None], bool]:
    def check(status: dict[str, Any] | None) -> bool:
        nodes = (status or {}).get("nodes") or {}
        return bool(
            status
            and status.get("phase") == "Running"
            and nodes.get("available") == count
            and not nodes.get("creating")
            and not nodes.get("deleting")
        )

    return check


def main() -> int:
    binaries = Binaries.locate()
    with tempfile.TemporaryDirectory(prefix="modelarts-demo-") as tmp:
        workdir = Path(tmp)
        say("starting etcd + kube-apiserver (built from the Kubernetes Go modules, cached in ~/.cache)")
        cluster = DevCluster.start(workdir / "cluster", binaries=binaries)
        emulator = operator = None
        try:
            demo = Demo(binaries.kubectl, cluster)
            demo.kubectl("version")
            say("starting the ModelArts emulator (signed requests, pools take seconds instead of minutes)")
            emulator = EmulatorProcess.start(workdir, create_seconds=8, delete_seconds=12, scale_seconds=6)
            print(f"emulator listening on {emulator.url}, project {emulator.project_id}")
            say("installing the CRDs (ModelArtsPool, ModelArtsProject)")
            demo.kubectl("apply", "-f", str(CRDS))
            demo.kubectl(
                "wait",
                "--for=condition=Established",
                "crd/modelartspools.modelarts.operator.dev",
                "crd/modelartsprojects.modelarts.operator.dev",
            )
            say("starting the operator: modelarts-operator run")
            operator = OperatorProcess.configure(
                workdir,
                cluster.kubeconfig,
                emulator,
                base_env=cluster.env(),
                transition_poll_seconds="1",
                stable_poll_seconds="30",
            )
            operator.start()
            print(f"operator healthy; log: {operator.log}")

            say("the platform binds namespace default to the project: a ModelArtsProject and its Secret")
            demo.kubectl("create", "namespace", "modelarts-system", echo=False)
            demo.kubectl(
                "create",
                "secret",
                "generic",
                "modelarts-emulator",
                "-n",
                "modelarts-system",
                f"--from-literal=accessKey={emulator.access_key}",
                f"--from-literal=secretKey={emulator.secret_key}",
                echo=False,
            )
            print("secret/modelarts-emulator created in modelarts-system (the emulator's local development key)")
            demo.kubectl("apply", "-f", "-", stdin=json.dumps(project(emulator)))
            demo.wait_for_project()
            demo.kubectl("get", "maproject")
            say("the team applies its pool, which names neither credentials nor a project")
            demo.kubectl("apply", "-n", NAMESPACE, "-f", str(EXAMPLE.relative_to(ROOT)))
            demo.watch_until(running_with(1), "the pool to be Running")
            demo.kubectl("get", "mapool", POOL, "-n", NAMESPACE, "-o", "wide")

            say("scaling out to 3 nodes: one merge-patch of spec.resources")
            demo.kubectl(
                "patch",
                "mapool",
                POOL,
                "-n",
                NAMESPACE,
                "--type=merge",
                "-p",
                json.dumps({"spec": {"resources": [{"flavor": "modelarts.vm.cpu.8ud", "count": 3}]}}),
            )
            demo.watch_until(running_with(3), "the pool to scale to 3")

            say("deleting: the finalizer keeps the object until ModelArts says the pool is gone")
            demo.kubectl("delete", "mapool", POOL, "-n", NAMESPACE, "--wait=false")
            demo.watch_until(lambda status: status is None, "the object to go")
            left = emulator.control.pools()
            print(f"pools left in the emulator: {len(left)}")
            demo.kubectl(
                "get",
                "events",
                "-n",
                NAMESPACE,
                "--field-selector",
                "involvedObject.kind=ModelArtsPool",
                "--sort-by=.lastTimestamp",
            )
            if left:
                raise RuntimeError("a pool was left behind")
            say("done: created, scaled and deleted with nothing left behind")
            return 0
        except Exception as exc:
            print(f"\ndemo failed: {exc}", file=sys.stderr)
            if operator is not None and operator.log.exists():
                print(operator.log.read_text()[-3000:], file=sys.stderr)
            return 1
        finally:
            if operator is not None:
                operator.stop()
            if emulator is not None:
                emulator.stop()
            cluster.stop()


if __name__ == "__main__":
    sys.exit(main())
