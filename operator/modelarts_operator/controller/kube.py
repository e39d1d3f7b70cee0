"""The Kubernetes API calls the operator makes itself (kopf does the watching and the indexing).

Status writes, the finalizer, the create-intent annotation, Events, Secret reads and the leader Lease go through
one shared ``httpx.AsyncClient``, configured from the same kubeconfig or in-cluster service account as kopf
(:func:`connection_info`).
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import kopf

from modelarts_operator.resource import names
from modelarts_operator.slots import Slots

logger = logging.getLogger(__name__)

MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
JSON = "application/json"
SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
# Connections to the API server, few and all kept alive. httpx's default (100, of which 20 kept) made a burst of
# status writes and Events open and close connections, a TLS handshake each on both sides; and requests queued in
# httpcore's pool cost CPU (see ``slots.py``). So requests beyond these wait in ``slots.Slots``, and the pool is
# small: the API server answers in milliseconds, and eight connections carry more than it can take on a small node.
CONNECTIONS = 8


class KubeError(Exception):
    """A Kubernetes API call failed; the message carries status and reason, never credentials."""

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class ObjectGone(KubeError):
    """The object (or Secret) does not exist (404)."""


class Conflict(KubeError):
    """Somebody else changed the object first (409, or a failed JSON-patch test)."""


class _BearerAuth(httpx.Auth):
    """Asks for the Authorization header at every request, so a rotated service-account token is picked up."""

    def __init__(self, header: Callable[[], str | None]) -> None:
        self._header = header

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        header = self._header()
        if header:
            request.headers["Authorization"] = header
        yield request


def connection_info() -> kopf.ConnectionInfo:
    """Where the API server is and who we are: the pod's service account if there is one, else the kubeconfig.

    In a pod this reads what client-go reads: ``KUBERNETES_SERVICE_HOST``/``_PORT`` and the token, CA and namespace
    under ``SERVICE_ACCOUNT_DIR`` (kopf's own fallback would call ``https://kubernetes.default.svc`` instead, which
    needs cluster DNS and port 443). Elsewhere it is kopf's kubeconfig reader: ``KUBECONFIG`` or ``~/.kube/config``,
    the current context, file paths or inline ``*-data``, tokens and client certificates (no exec plugins).
    """
    in_cluster = _in_cluster()
    if in_cluster is not None:
        return in_cluster
    info = kopf.login_with_kubeconfig(settings=kopf.OperatorSettings())
    if info is None:
        raise kopf.LoginError("no service-account token (not in a pod) and no kubeconfig (KUBECONFIG, ~/.kube/config)")
    return info


def login(**_: Any) -> kopf.ConnectionInfo:
    """kopf's login handler (registered in handlers.py): kopf and :class:`KubeApi` use the same credentials.

    kopf calls it again after a 401, which re-reads a rotated token."""
    return connection_info()


def _in_cluster() -> kopf.ConnectionInfo | None:
    host, port = os.environ.get("KUBERNETES_SERVICE_HOST"), os.environ.get("KUBERNETES_SERVICE_PORT")
    token_file = SERVICE_ACCOUNT_DIR / "token"
    if not host or not port or not token_file.exists():
        return None
    ca_file = SERVICE_ACCOUNT_DIR / "ca.crt"
    namespace_file = SERVICE_ACCOUNT_DIR / "namespace"
    host = f"[{host}]" if ":" in host else host  # an IPv6 address
    return kopf.ConnectionInfo(
        server=f"https://{host}:{port}",
        ca_path=str(ca_file) if ca_file.exists() else None,
        token=token_file.read_text().strip() or None,
        default_namespace=namespace_file.read_text().strip() if namespace_file.exists() else None,
    )


class KubeApi:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http
        self._slots = Slots(CONNECTIONS)

    @classmethod
    def from_environment(cls) -> KubeApi:
        """The same credentials as kopf's (:func:`connection_info`), with the token file re-read at every request
        in a pod, where the kubelet rotates it."""
        in_cluster = _in_cluster()
        info = in_cluster or connection_info()
        static = info.as_http_headers().get("Authorization")
        token_file = SERVICE_ACCOUNT_DIR / "token"

        def header() -> str | None:
            if in_cluster is None:
                return static
            try:
                token = token_file.read_text().strip()
            except OSError:  # the kubelet swaps the file atomically, so this is rare: use the token read at startup
                return static
            return f"Bearer {token}" if token else None

        http = httpx.AsyncClient(
            base_url=info.server,
            verify=info.as_ssl_context(),
            auth=_BearerAuth(header),
            timeout=30.0,
            limits=httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS),
        )
        return cls(http)

    async def aclose(self) -> None:
        await self._http.aclose()

    def _object_path(self, namespace: str, name: str, plural: str = names.PLURAL) -> str:
        base = f"/apis/{names.GROUP}/{names.VERSION}"
        if not namespace:  # cluster-scoped (ModelArtsProject)
            return f"{base}/{plural}/{quote(name, safe='')}"
        return f"{base}/namespaces/{quote(namespace, safe='')}/{plural}/{quote(name, safe='')}"

    async def _request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        content_type: str = MERGE_PATCH,
        background: bool = False,
    ) -> dict[str, Any]:
        headers = {"Content-Type": content_type} if json_body is not None else {}
        try:
            async with self._slots.slot(background=background):
                response = await self._http.request(method, path, json=json_body, headers=headers)
        except httpx.HTTPError as exc:
            raise KubeError(f"{method} {path}: {type(exc).__name__}") from None
        if response.status_code == 404:
            raise ObjectGone(f"{method} {path}: not found", status_code=404)
        if response.status_code == 409:
            raise Conflict(f"{method} {path}: conflict {_reason(response)}", status_code=409)
        if not response.is_success:
            reason = _reason(response)
            raise KubeError(f"{method} {path}: HTTP {response.status_code} {reason}", status_code=response.status_code)
        data = response.json()
        return data if isinstance(data, dict) else {}

    async def patch_status(
        self, namespace: str, name: str, patch: Mapping[str, Any], *, plural: str = names.PLURAL
    ) -> dict[str, Any]:
        """Merge-patch the status subresource; returns the whole object after the write."""
        return await self._request(
            "PATCH", self._object_path(namespace, name, plural) + "/status", json_body={"status": patch}
        )

    async def set_finalizers(
        self, namespace: str, name: str, current: list[str], wanted: list[str], resource_version: str
    ) -> dict[str, Any]:
        """Replace ``metadata.finalizers`` only if the object is still at ``resource_version`` (else
        ``Conflict``): other controllers' finalizers on the same object are never lost in a race."""
        operations: list[dict[str, Any]] = [
            {"op": "test", "path": "/metadata/resourceVersion", "value": resource_version},
            {"op": "add" if not current else "replace", "path": "/metadata/finalizers", "value": wanted},
        ]
        try:
            return await self._request(
                "PATCH", self._object_path(namespace, name), json_body=operations, content_type=JSON_PATCH
            )
        except KubeError as exc:
            if exc.status_code == 422:  # the test failed: somebody changed the object meanwhile
                raise Conflict(str(exc), status_code=409) from None
            raise

    async def get_object(self, namespace: str, name: str) -> dict[str, Any]:
        return await self._request("GET", self._object_path(namespace, name))

    async def list_objects(self, plural: str = names.PLURAL, *, page_size: int = 500) -> list[dict[str, Any]]:
        """Every object of one of our kinds, in all namespaces (or cluster-scoped), read page by page."""
        path = f"/apis/{names.GROUP}/{names.VERSION}/{plural}"
        items: list[dict[str, Any]] = []
        params = {"limit": str(page_size)}
        while True:
            page = await self._request("GET", f"{path}?{urlencode(params)}")
            items += [item for item in page.get("items") or [] if isinstance(item, dict)]
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                return items
            params = {"limit": str(page_size), "continue": str(token)}

    async def post_event(self, event: Mapping[str, Any]) -> None:
        namespace = str(event["metadata"]["namespace"])
        await self._request(
            "POST",
            f"/api/v1/namespaces/{quote(namespace, safe='')}/events",
            json_body=dict(event),
            content_type=JSON,
            background=True,
        )

    async def read_secret(self, namespace: str, name: str) -> SecretData:
        """The Secret's labels and raw data (bytes). Values are never logged nor decoded here."""
        result = await self._request(
            "GET", f"/api/v1/namespaces/{quote(namespace, safe='')}/secrets/{quote(name, safe='')}"
        )
        raw = result.get("data") or {}
        metadata = result.get("metadata") or {}
        data: dict[str, bytes] = {}
        for key, value in raw.items() if isinstance(raw, dict) else ():
            try:
                data[str(key)] = base64.b64decode(str(value), validate=True)
            except (ValueError, binascii.Error):
                data[str(key)] = b"\xff"  # undecodable: reported as such by whoever needs this key
        labels = metadata.get("labels") if isinstance(metadata, dict) else None
        return SecretData(labels=dict(labels) if isinstance(labels, dict) else {}, data=data)

    # --- leases (leader election) -----------------------------------------------------------------

    def _lease_path(self, namespace: str, name: str = "") -> str:
        base = f"/apis/coordination.k8s.io/v1/namespaces/{quote(namespace, safe='')}/leases"
        return f"{base}/{quote(name, safe='')}" if name else base

    async def get_lease(self, namespace: str, name: str) -> dict[str, Any]:
        return await self._request("GET", self._lease_path(namespace, name))

    async def create_lease(self, namespace: str, lease: Mapping[str, Any]) -> dict[str, Any]:
        return await self._request("POST", self._lease_path(namespace), json_body=dict(lease), content_type=JSON)

    async def replace_lease(self, namespace: str, name: str, lease: Mapping[str, Any]) -> dict[str, Any]:
        """PUT with the lease's resourceVersion: ``Conflict`` when somebody else wrote it first."""
        return await self._request("PUT", self._lease_path(namespace, name), json_body=dict(lease), content_type=JSON)


@dataclass(frozen=True)
class SecretData:
    labels: dict[str, str]
    data: dict[str, bytes]


def _reason(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    return str(body.get("message", "")) if isinstance(body, dict) else ""
