"""The Kubernetes side of the benchmarks: the tenancy a platform sets up (a ModelArtsProject per group, its Secret
in one namespace), bulk create/delete of ModelArtsPool objects, and a watch that timestamps every write, so status
writes and "object gone" moments are measured where they happen (the API server)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException

GROUP, VERSION, PLURAL = "modelarts.operator.dev", "v1alpha1", "modelartspools"
PROJECT_PLURAL = "modelartsprojects"
FLAVOR = "modelarts.vm.cpu.8ud"
# The namespace label a group's ModelArtsProject selects (what a platform would put on its tenants' namespaces).
GROUP_LABEL = "bench.modelarts.operator.dev/group"
SECRET_NAME = "modelarts-credentials"  # noqa: S105 (a name)


def pool_manifest(name: str, namespace: str, *, count: int = 1, deletion_policy: str = "Delete") -> dict[str, Any]:
    """A pool as a tenant writes it: no credentials, no project (the ModelArtsProject selecting the namespace
    decides both)."""
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ModelArtsPool",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "type": "Logical",
            "scope": ["Train"],
            "resources": [{"flavor": FLAVOR, "count": count}],
            "deletionPolicy": deletion_policy,
        },
    }


def project_manifest(name: str, *, group: str, project_id: str, endpoint: str, secret_namespace: str) -> dict[str, Any]:
    """A ModelArtsProject serving every namespace labelled with the group, its Secret in ``secret_namespace``."""
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ModelArtsProject",
        "metadata": {"name": name},
        "spec": {
            "projectId": project_id,
            "region": "cn-north-4",
            "endpoint": endpoint,
            "credentialsSecretRef": {"namespace": secret_namespace, "name": SECRET_NAME},
            "namespaceSelector": {"matchLabels": {GROUP_LABEL: group}},
        },
    }


class Kube:
    def __init__(self, kubeconfig: Path) -> None:
        self.api_client: Any = _new_client(config_file=str(kubeconfig))
        # Enough connections for the bulk creates below (the default pool of 4 would serialise them).
        self.api_client.rest_client.pool_manager.connection_pool_kw["maxsize"] = 16
        # Plain dicts in and out (the client accepts them); typed as Any rather than its model classes.
        self.custom: Any = client.CustomObjectsApi(self.api_client)
        self.core: Any = client.CoreV1Api(self.api_client)

    def namespace(self, name: str, group: str) -> None:
        """A tenant namespace of the group: its pools are served by the group's ModelArtsProject."""
        self.core.create_namespace({"metadata": {"name": name, "labels": {GROUP_LABEL: group}}})

    def project(
        self,
        name: str,
        *,
        group: str,
        project_id: str,
        endpoint: str,
        access_key: str,
        secret_key: str,
        secret_namespace: str,
    ) -> None:
        """The platform's side: the Secret in its own namespace, and the ModelArtsProject pointing at it."""
        self.core.create_namespace({"metadata": {"name": secret_namespace}})
        self.core.create_namespaced_secret(
            secret_namespace,
            {
                "metadata": {"name": SECRET_NAME},
                "stringData": {"accessKey": access_key, "secretKey": secret_key},
            },
        )
        self.custom.create_cluster_custom_object(
            GROUP,
            VERSION,
            PROJECT_PLURAL,
            project_manifest(
                name, group=group, project_id=project_id, endpoint=endpoint, secret_namespace=secret_namespace
            ),
        )

    def delete_project(self, name: str) -> None:
        """The group's project goes with its operator (the next group's operator would check it in vain)."""
        try:
            self.custom.delete_cluster_custom_object(GROUP, VERSION, PROJECT_PLURAL, name)
        except ApiException as exc:
            if exc.status != 404:
                raise

    def create_pools(self, namespace: str, names: list[str], **spec: Any) -> None:
        def create(name: str) -> None:
            self.custom.create_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURAL, pool_manifest(name, namespace, **spec)
            )

        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(create, names))

    def pools(self, namespace: str | None = None) -> list[dict[str, Any]]:
        if namespace is None:
            listed = self.custom.list_cluster_custom_object(GROUP, VERSION, PLURAL)
        else:
            listed = self.custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)
        items: list[dict[str, Any]] = listed["items"]
        return items

    def any_pools(self, namespace: str) -> bool:
        """Whether the namespace still has an object: one item asked for, so that waiting for n objects to go does
        not make the API server (and this process) serialise all of them every second on the operator's cores."""
        listed = self.custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, limit=1)
        return bool(listed["items"])

    def delete_all(self, namespace: str) -> float:
        """One DELETE of the whole collection (as ``kubectl delete mapool --all``); returns when it was sent."""
        sent = time.time()
        self.custom.delete_collection_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)
        return sent

    def wait(self, condition: Callable[[], bool], timeout: float, what: str, interval: float = 2.0) -> float:
        """Poll ``condition``; the seconds it took. Raises TimeoutError naming ``what``."""
        started = time.monotonic()
        while not condition():
            if time.monotonic() - started > timeout:
                raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
            time.sleep(interval)
        return time.monotonic() - started


@dataclass
class Write:
    at: float  # wall clock (time.time()) when the watch delivered it
    kind: str  # ADDED, MODIFIED, DELETED
    key: str  # namespace/name
    status_changed: bool
    deleting: bool = False  # the object carries a deletionTimestamp (the API server has marked it)


@dataclass
class WriteLog:
    """Every write to ModelArtsPool objects seen by a cluster-wide watch, in order."""

    kube: Kube
    writes: list[Write] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    _status: dict[str, Any] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        listed = self.kube.custom.list_cluster_custom_object(GROUP, VERSION, PLURAL)
        for item in listed["items"]:
            self._status[_key(item)] = item.get("status")
        self._thread = threading.Thread(
            target=self._run, args=(listed["metadata"]["resourceVersion"],), name="write-log", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=15)

    def statuses(self, namespace: str) -> list[dict[str, Any]]:
        """The latest status of every object of the namespace, as the watch last delivered it (no API call)."""
        prefix = f"{namespace}/"
        with self._lock:
            return [status or {} for key, status in self._status.items() if key.startswith(prefix)]

    def since(self, started: float, until: float | None = None) -> list[Write]:
        with self._lock:
            return [w for w in self.writes if w.at >= started and (until is None or w.at < until)]

    def _run(self, resource_version: str) -> None:
        while not self._stop.is_set():
            stream: Any = _new_watch()
            try:
                for event in stream.stream(
                    self.kube.custom.list_cluster_custom_object,
                    GROUP,
                    VERSION,
                    PLURAL,
                    resource_version=resource_version,
                    timeout_seconds=5,
                    allow_watch_bookmarks=True,
                ):
                    obj = event["object"]
                    resource_version = obj["metadata"]["resourceVersion"]
                    if event["type"] == "BOOKMARK":
                        continue
                    self._record(event["type"], obj)
                    if self._stop.is_set():
                        break
            except ApiException as exc:
                if exc.status != 410:
                    self.errors.append(repr(exc))
                    time.sleep(1)
                    continue
                # Expired: writes in the gap are lost, and reported as such rather than hidden.
                self.errors.append("watch expired (410); resumed from a fresh list")
                resource_version = self.kube.custom.list_cluster_custom_object(GROUP, VERSION, PLURAL)["metadata"][
                    "resourceVersion"
                ]
            except Exception as exc:  # a dropped stream: resume from the last resourceVersion seen
                self.errors.append(repr(exc))
                time.sleep(1)
            finally:
                stream.stop()

    def _record(self, kind: str, obj: dict[str, Any]) -> None:
        key = _key(obj)
        status = obj.get("status")
        with self._lock:
            changed = kind != "DELETED" and status != self._status.get(key)
            if kind == "DELETED":
                self._status.pop(key, None)
            else:
                self._status[key] = status
            self.writes.append(
                Write(
                    at=time.time(),
                    kind=kind,
                    key=key,
                    status_changed=changed,
                    deleting=bool(obj["metadata"].get("deletionTimestamp")),
                )
            )


_new_watch: Any = watch.Watch  # untyped in the client
_new_client: Any = config.new_client_from_config


def _key(obj: dict[str, Any]) -> str:
    return f"{obj['metadata']['namespace']}/{obj['metadata']['name']}"
