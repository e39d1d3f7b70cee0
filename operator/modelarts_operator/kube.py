"""The few Kubernetes API calls the operator makes itself (kopf does the watching and the finalizer).

Status writes, the create-intent annotation and Secret reads go through one shared ``httpx.AsyncClient``,
configured from the same kubeconfig or in-cluster service account that kopf uses (:func:`connection_info`).
"""

from __future__ import annotations

import base64
import logging
import os
from collections.abc import Callable, Generator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import kopf

from modelarts_operator.resource import names

logger = logging.getLogger(__name__)

MERGE_PATCH = "application/merge-patch+json"
SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


class KubeError(Exception):
    """A Kubernetes API call failed; the message carries status and reason, never credentials."""

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class ObjectGone(KubeError):
    """The object (or Secret) does not exist (404)."""


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

        http = httpx.AsyncClient(base_url=info.server, verify=info.as_ssl_context(), auth=_BearerAuth(header),
                                 timeout=30.0)
        return cls(http)

    async def aclose(self) -> None:
        await self._http.aclose()

    def _object_path(self, namespace: str, name: str) -> str:
        return (f"/apis/{names.GROUP}/{names.VERSION}/namespaces/{quote(namespace, safe='')}/"
                f"{names.PLURAL}/{quote(name, safe='')}")

    async def _request(self, method: str, path: str, *, json_body: Any = None) -> dict[str, Any]:
        headers = {"Content-Type": MERGE_PATCH} if json_body is not None else {}
        try:
            response = await self._http.request(method, path, json=json_body, headers=headers)
        except httpx.HTTPError as exc:
            raise KubeError(f"{method} {path}: {type(exc).__name__}") from None
        if response.status_code == 404:
            raise ObjectGone(f"{method} {path}: not found", status_code=404)
        if not response.is_success:
            reason = _reason(response)
            raise KubeError(f"{method} {path}: HTTP {response.status_code} {reason}",
                            status_code=response.status_code)
        data = response.json()
        return data if isinstance(data, dict) else {}

    async def patch_status(self, namespace: str, name: str, patch: Mapping[str, Any]) -> dict[str, Any]:
        """Merge-patch the status subresource; returns the object's status after the write."""
        result = await self._request("PATCH", self._object_path(namespace, name) + "/status",
                                     json_body={"status": patch})
        status = result.get("status")
        return status if isinstance(status, dict) else {}

    async def patch_annotations(self, namespace: str, name: str, annotations: Mapping[str, str | None]) -> None:
        await self._request("PATCH", self._object_path(namespace, name),
                            json_body={"metadata": {"annotations": dict(annotations)}})

    async def read_secret(self, namespace: str, name: str) -> dict[str, str]:
        """The Secret's data, decoded. Values are never logged."""
        result = await self._request("GET", f"/api/v1/namespaces/{quote(namespace, safe='')}/secrets/"
                                     f"{quote(name, safe='')}")
        data = result.get("data") or {}
        return {key: base64.b64decode(value).decode("utf-8") for key, value in data.items()}


def _reason(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    return str(body.get("message", "")) if isinstance(body, dict) else ""
