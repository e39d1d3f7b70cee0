"""The Kubernetes API calls the operator makes itself (kopf does the watching and the indexing).

Status writes, the finalizer, the create-intent annotation, Events, Secret reads and the leader Lease go through
one shared ``httpx.AsyncClient``, configured from the same kubeconfig or in-cluster service account as kopf.
"""

from __future__ import annotations

import base64
import binascii
import logging
import ssl
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import httpx

from modelarts_operator.resource import names

logger = logging.getLogger(__name__)

MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
JSON = "application/json"


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
    """Reads the token at every request, so a rotated service-account token is picked up."""

    def __init__(self, token: Callable[[], str | None]) -> None:
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = self._token()
        if token:
            request.headers["Authorization"] = token if token.startswith("Bearer ") else f"Bearer {token}"
        yield request


class KubeApi:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http

    @classmethod
    def from_environment(cls) -> KubeApi:
        """In-cluster service account if there is one, else the current kubeconfig context."""
        from kubernetes import client, config  # the loaders only: all calls go through httpx

        configuration = client.Configuration()
        try:
            config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        except config.ConfigException:
            config.load_kube_config(client_configuration=configuration)  # type: ignore[no-untyped-call]

        def token() -> str | None:
            if configuration.refresh_api_key_hook is not None:
                configuration.refresh_api_key_hook(configuration)
            value = configuration.api_key.get("authorization") or configuration.api_key.get("BearerToken")
            return str(value) if value else None

        http = httpx.AsyncClient(base_url=configuration.host, verify=_tls_context(configuration),
                                 auth=_BearerAuth(token), timeout=30.0)
        return cls(http)

    async def aclose(self) -> None:
        await self._http.aclose()

    def _object_path(self, namespace: str, name: str, plural: str = names.PLURAL) -> str:
        base = f"/apis/{names.GROUP}/{names.VERSION}"
        if not namespace:  # cluster-scoped (ModelArtsProject)
            return f"{base}/{plural}/{quote(name, safe='')}"
        return f"{base}/namespaces/{quote(namespace, safe='')}/{plural}/{quote(name, safe='')}"

    async def _request(self, method: str, path: str, *, json_body: Any = None,
                       content_type: str = MERGE_PATCH) -> dict[str, Any]:
        headers = {"Content-Type": content_type} if json_body is not None else {}
        try:
            response = await self._http.request(method, path, json=json_body, headers=headers)
        except httpx.HTTPError as exc:
            raise KubeError(f"{method} {path}: {type(exc).__name__}") from None
        if response.status_code == 404:
            raise ObjectGone(f"{method} {path}: not found", status_code=404)
        if response.status_code == 409:
            raise Conflict(f"{method} {path}: conflict {_reason(response)}", status_code=409)
        if not response.is_success:
            reason = _reason(response)
            raise KubeError(f"{method} {path}: HTTP {response.status_code} {reason}",
                            status_code=response.status_code)
        data = response.json()
        return data if isinstance(data, dict) else {}

    async def patch_status(self, namespace: str, name: str, patch: Mapping[str, Any], *,
                           plural: str = names.PLURAL) -> dict[str, Any]:
        """Merge-patch the status subresource; returns the whole object after the write."""
        return await self._request("PATCH", self._object_path(namespace, name, plural) + "/status",
                                   json_body={"status": patch})

    async def patch_annotations(self, namespace: str, name: str,
                                annotations: Mapping[str, str | None]) -> dict[str, Any]:
        return await self._request("PATCH", self._object_path(namespace, name),
                                   json_body={"metadata": {"annotations": dict(annotations)}})

    async def set_finalizers(self, namespace: str, name: str, current: list[str], wanted: list[str],
                             resource_version: str) -> dict[str, Any]:
        """Replace ``metadata.finalizers`` only if the object is still at ``resource_version`` (else
        ``Conflict``): other controllers' finalizers on the same object are never lost in a race."""
        operations: list[dict[str, Any]] = [
            {"op": "test", "path": "/metadata/resourceVersion", "value": resource_version},
            {"op": "add" if not current else "replace", "path": "/metadata/finalizers", "value": wanted},
        ]
        try:
            return await self._request("PATCH", self._object_path(namespace, name), json_body=operations,
                                       content_type=JSON_PATCH)
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
        await self._request("POST", f"/api/v1/namespaces/{quote(namespace, safe='')}/events",
                            json_body=dict(event), content_type=JSON)

    async def read_secret(self, namespace: str, name: str) -> SecretData:
        """The Secret's labels and raw data (bytes). Values are never logged nor decoded here."""
        result = await self._request("GET", f"/api/v1/namespaces/{quote(namespace, safe='')}/secrets/"
                                     f"{quote(name, safe='')}")
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
        return await self._request("PUT", self._lease_path(namespace, name), json_body=dict(lease),
                                   content_type=JSON)


@dataclass(frozen=True)
class SecretData:
    labels: dict[str, str]
    data: dict[str, bytes]


def _tls_context(configuration: Any) -> ssl.SSLContext:
    """Server CA and client certificate as the kubeconfig names them (httpx 0.28 wants one SSLContext)."""
    context = ssl.create_default_context(cafile=configuration.ssl_ca_cert or None)
    if not configuration.verify_ssl:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if configuration.cert_file and configuration.key_file:
        context.load_cert_chain(configuration.cert_file, configuration.key_file)
    return context


def _reason(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    return str(body.get("message", "")) if isinstance(body, dict) else ""
