"""The few Kubernetes API calls the operator makes itself (kopf does the watching and the finalizer).

Status writes, the create-intent annotation and Secret reads go through one shared ``httpx.AsyncClient``,
configured from the same kubeconfig or in-cluster service account that kopf uses.
"""

from __future__ import annotations

import base64
import logging
import ssl
from collections.abc import Callable, Generator, Mapping
from typing import Any
from urllib.parse import quote

import httpx

from modelarts_operator.resource import names

logger = logging.getLogger(__name__)

MERGE_PATCH = "application/merge-patch+json"


class KubeError(Exception):
    """A Kubernetes API call failed; the message carries status and reason, never credentials."""

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class ObjectGone(KubeError):
    """The object (or Secret) does not exist (404)."""


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
