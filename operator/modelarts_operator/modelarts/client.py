"""Async client of the ModelArts v2 resource pool API (create, list, get, patch, delete).

One shared ``httpx.AsyncClient`` carries every call; authentication is an ``httpx.Auth`` (``auth.py``);
retrying follows ``retry.py``; every failure leaves as one of the typed errors of ``errors.py``. Two hooks let
the operator plug in without this module knowing about it: ``before_request(operation)`` is awaited before
every attempt (the shared rate limiter) and ``observer(operation, status_label, seconds)`` is called after
every attempt (metrics).
"""

from __future__ import annotations

import json
import logging
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ValidationError

from modelarts_operator.modelarts.auth import HEADER_PROJECT_ID
from modelarts_operator.modelarts.errors import (
    HEADER_REQUEST_ID,
    MalformedResponse,
    ModelArtsError,
    error_from_response,
    error_from_transport,
)
from modelarts_operator.modelarts.models import Pool, PoolList
from modelarts_operator.modelarts.retry import RetryPolicy

logger = logging.getLogger(__name__)

CONTENT_TYPE_JSON = "application/json"
CONTENT_TYPE_MERGE_PATCH = "application/merge-patch+json"
STATUS_TRANSPORT_ERROR = "transport_error"
DEFAULT_TIMEOUT = 30.0

BeforeRequest = Callable[[str], Awaitable[None]]
Observer = Callable[[str, str, float], None]
ModelT = TypeVar("ModelT", bound=BaseModel)


def default_endpoint(region: str) -> str:
    """The public ModelArts endpoint of a region (other partitions need an explicit endpoint)."""
    return f"https://modelarts.{region}.myhuaweicloud.com"


def make_http_client(
    *, verify: bool | str = True, timeout: float = DEFAULT_TIMEOUT, trust_env: bool = True
) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` for ModelArts.

    TLS is verified; ``verify`` may name a CA bundle file instead (private CAs, TLS-inspecting proxies).
    Redirects are not followed: a signed request must not be replayed to another host. ``trust_env`` keeps
    ``HTTPS_PROXY``/``NO_PROXY`` working, which clusters with an egress proxy need.
    """
    tls = ssl.create_default_context(cafile=verify) if isinstance(verify, str) else verify
    return httpx.AsyncClient(verify=tls, timeout=timeout, follow_redirects=False, trust_env=trust_env)


def _encode_json(body: Mapping[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _validation_summary(exc: ValidationError) -> str:
    """Where the body did not fit, without echoing its values."""
    problems = [
        f"{'.'.join(str(part) for part in error['loc']) or '<root>'}: {error['msg']}"
        for error in exc.errors(include_input=False, include_url=False)[:5]
    ]
    return "unexpected response body: " + "; ".join(problems)


class ModelArtsClient:
    """The ModelArts pools API of one (endpoint, project)."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        endpoint: str,
        project_id: str,
        auth: httpx.Auth,
        retry: RetryPolicy | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        before_request: BeforeRequest | None = None,
        observer: Observer | None = None,
    ) -> None:
        """``retry=None`` means the default :class:`RetryPolicy`; ``RetryPolicy.never()``: one attempt."""
        self._http = http
        self._endpoint = endpoint.rstrip("/")
        self._project_id = project_id
        self._auth = auth
        self._retry = retry if retry is not None else RetryPolicy()
        self._timeout = timeout
        self._before_request = before_request
        self._observer = observer

    @property
    def endpoint(self) -> str:
        return self._endpoint

    @property
    def project_id(self) -> str:
        return self._project_id

    def __repr__(self) -> str:
        return f"ModelArtsClient(endpoint={self._endpoint!r}, project_id={self._project_id!r})"

    # --- the API ---------------------------------------------------------------------------------

    async def create_pool(self, body: Pool | Mapping[str, Any]) -> Pool:
        """``POST /pools``. Never retried once the request may have reached the server (see ``retry.py``)."""
        wire = body.to_create_body() if isinstance(body, Pool) else dict(body)
        response = await self._call("create", "POST", self._pools_path(), body=_encode_json(wire))
        return self._parse("create", response, Pool)

    async def list_pools(
        self,
        *,
        workspace_id: str | None = None,
        label_selector: str | None = None,
        status: str | None = None,
    ) -> list[Pool]:
        """``GET /pools`` (no paging exists). ``status`` is one of ``created``, ``failed``, ``creating``.

        One unreadable item fails the whole call (``MalformedResponse``) rather than being skipped: callers look
        for their own pool in the list, and a pool silently left out could be created twice or leaked.
        """
        query = (("workspaceId", workspace_id), ("labelSelector", label_selector), ("status", status))
        params = {key: value for key, value in query if value is not None}
        response = await self._call("list", "GET", self._pools_path(), params=params)
        return self._parse("list", response, PoolList).items

    async def get_pool(self, name: str) -> Pool:
        """``GET /pools/{name}``; raises ``PoolNotFound`` when ModelArts says the pool does not exist."""
        response = await self._call("get", "GET", self._pool_path(name))
        return self._parse("get", response, Pool)

    async def patch_pool(self, name: str, patch: Mapping[str, Any]) -> Pool:
        """``PATCH /pools/{name}`` with a JSON merge-patch (``application/merge-patch+json``)."""
        response = await self._call(
            "patch", "PATCH", self._pool_path(name),
            body=_encode_json(patch), content_type=CONTENT_TYPE_MERGE_PATCH,
        )
        return self._parse("patch", response, Pool)

    async def delete_pool(self, name: str) -> Pool:
        """``DELETE /pools/{name}``: the pool snapshot; the pool is gone only once ``get_pool`` raises
        ``PoolNotFound``."""
        response = await self._call("delete", "DELETE", self._pool_path(name))
        return self._parse("delete", response, Pool)

    # --- plumbing --------------------------------------------------------------------------------

    def _pools_path(self) -> str:
        return f"/v2/{quote(self._project_id, safe='')}/pools"

    def _pool_path(self, name: str) -> str:
        if not name:
            raise ValueError("pool name must not be empty")
        return f"{self._pools_path()}/{quote(name, safe='')}"

    async def _call(
        self,
        operation: str,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: bytes | None = None,
        content_type: str = CONTENT_TYPE_JSON,
    ) -> httpx.Response:
        """One logical call: attempts until a 2xx, or raise the last typed error."""
        headers = {HEADER_PROJECT_ID: self._project_id, "Content-Type": content_type}
        url = self._endpoint + path
        attempt = 0
        while True:
            attempt += 1
            if self._before_request is not None:
                await self._before_request(operation)
            outcome = await self._attempt(operation, method, url, path, params, body, headers, attempt)
            if isinstance(outcome, httpx.Response):
                return outcome
            error = outcome
            if not self._retry.should_retry(operation, error, attempt):
                raise error
            delay = self._retry.delay(error, attempt)
            logger.debug(
                "modelarts %s %s: attempt %d failed (%s), retrying in %.2fs",
                operation, path, attempt, type(error).__name__, delay,
            )
            await self._retry.sleep(delay)

    async def _attempt(
        self,
        operation: str,
        method: str,
        url: str,
        path: str,
        params: Mapping[str, str] | None,
        body: bytes | None,
        headers: Mapping[str, str],
        attempt: int,
    ) -> httpx.Response | ModelArtsError:
        """One HTTP exchange: the 2xx response, or the typed error it ended with."""
        started = time.monotonic()
        try:
            response = await self._http.request(
                method, url, params=params, content=body, headers=headers,
                auth=self._auth, timeout=self._timeout,
            )
        except httpx.RequestError as exc:
            elapsed = time.monotonic() - started
            self._observe(operation, STATUS_TRANSPORT_ERROR, elapsed)
            logger.debug(
                "modelarts %s %s -> %s (%s) attempt=%d %.3fs",
                method, path, STATUS_TRANSPORT_ERROR, type(exc).__name__, attempt, elapsed,
            )
            return error_from_transport(exc, operation)
        elapsed = time.monotonic() - started
        self._observe(operation, str(response.status_code), elapsed)
        logger.debug(
            "modelarts %s %s -> %d request_id=%s attempt=%d %.3fs",
            method, path, response.status_code, response.headers.get(HEADER_REQUEST_ID), attempt, elapsed,
        )
        if response.is_success:
            return response
        return error_from_response(response, operation)

    def _observe(self, operation: str, status_label: str, seconds: float) -> None:
        if self._observer is None:
            return
        try:
            self._observer(operation, status_label, seconds)
        except Exception:  # a metrics bug must never turn a good call into a failed one
            logger.exception("modelarts observer failed for %s", operation)

    @staticmethod
    def _parse(operation: str, response: httpx.Response, model: type[ModelT]) -> ModelT:
        request_id = response.headers.get(HEADER_REQUEST_ID)
        common: dict[str, Any] = {
            "operation": operation, "status_code": response.status_code, "request_id": request_id,
        }
        try:
            data = json.loads(response.content)
        except (ValueError, UnicodeDecodeError):
            raise MalformedResponse(
                f"body is not JSON ({response.headers.get('Content-Type', 'no content type')}, "
                f"{len(response.content)} bytes)",
                **common,
            ) from None
        if not isinstance(data, dict):
            raise MalformedResponse(f"body is a JSON {type(data).__name__}, not an object", **common)
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            raise MalformedResponse(_validation_summary(exc), **common) from None
