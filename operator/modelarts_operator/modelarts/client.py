"""Async client of the ModelArts v2 resource pool API (create, list, get, patch, delete).

One shared ``httpx.AsyncClient`` carries every call; authentication is an ``httpx.Auth`` (``auth.py``);
retrying follows ``retry.py``; every failure leaves as one of the typed errors of ``errors.py``. Two hooks let
the operator plug in without this module knowing about it: ``before_request(operation)`` is awaited before
every attempt (the shared rate limiter) and ``observer(operation, status_label, seconds)`` is called after
every attempt (metrics).

Whatever answers is treated as untrusted (a proxy, a misconfigured endpoint, an attacker's host must not hurt
the operator or the other tenants it serves): a response body is read in chunks and refused beyond
``max_response_bytes``, both as received and once decompressed (a gzip bomb is stopped at the cap, never inflated
whole); each attempt has a total deadline, not only per-phase timeouts (a server trickling one byte a second
cannot hold a call for ever); deeply nested JSON becomes ``MalformedResponse``, never a ``RecursionError``;
redirects are never followed; access keys in server messages are masked (``errors.redact``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
import time
import zlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ValidationError

from modelarts_operator.modelarts.auth import HEADER_PROJECT_ID
from modelarts_operator.modelarts.errors import (
    HEADER_REQUEST_ID,
    MalformedResponse,
    ModelArtsError,
    TransportError,
    error_from_response,
    error_from_transport,
)
from modelarts_operator.modelarts.models import Pool, PoolList, RawPoolList
from modelarts_operator.modelarts.retry import RetryPolicy

logger = logging.getLogger(__name__)

CONTENT_TYPE_JSON = "application/json"
CONTENT_TYPE_MERGE_PATCH = "application/merge-patch+json"
STATUS_TRANSPORT_ERROR = "transport_error"
DEFAULT_TIMEOUT = 30.0
# A list of a thousand pools is about 1.5 MB of JSON; sixteen times that is room for any real answer and still
# far below what would hurt the operator's memory limit.
DEFAULT_MAX_RESPONSE_BYTES = 16 * 1024 * 1024
# Error answers are a code and a sentence; anything bigger is somebody else's page.
MAX_ERROR_BODY_BYTES = 64 * 1024
# What we can decode ourselves, chunk by chunk, with a bound on the output (httpx would inflate a chunk whole).
_DECODERS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}

BeforeRequest = Callable[[str], Awaitable[None]]
Observer = Callable[[str, str, float], None]
ModelT = TypeVar("ModelT", bound=BaseModel)


def default_endpoint(region: str) -> str:
    """The public ModelArts endpoint of a region (other partitions need an explicit endpoint)."""
    return f"https://modelarts.{region}.myhuaweicloud.com"


def make_http_client(
    *,
    verify: bool | str = True,
    timeout: float = DEFAULT_TIMEOUT,
    trust_env: bool = True,
    limits: httpx.Limits | None = None,
) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` for ModelArts.

    TLS is verified; ``verify`` may name a CA bundle file instead (private CAs, TLS-inspecting proxies).
    Redirects are not followed: a signed request must not be replayed to another host. ``trust_env`` keeps
    ``HTTPS_PROXY``/``NO_PROXY`` working, which clusters with an egress proxy need.
    """
    tls = ssl.create_default_context(cafile=verify) if isinstance(verify, str) else verify
    return httpx.AsyncClient(
        verify=tls, timeout=timeout, follow_redirects=False, trust_env=trust_env, limits=limits or httpx.Limits()
    )


def _encode_json(body: Mapping[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _validation_summary(exc: ValidationError) -> str:
    """Where the body did not fit, without echoing its values."""
    problems = [
        f"{'.'.join(str(part) for part in error['loc']) or '<root>'}: {error['msg']}"
        for error in exc.errors(include_input=False, include_url=False)[:5]
    ]
    return "unexpected response body: " + "; ".join(problems)


class PoolMemo:
    """The pools of the last complete list, each with the JSON object it was parsed from.

    A list answer's item equal to the one before reuses the parsed pool: a thousand stable pools cost a JSON
    decode and a dict comparison each, no model validation. Only the last list's pools are kept.
    """

    def __init__(self) -> None:
        self._pools: dict[str, tuple[dict[str, Any], Pool]] = {}

    def parse(self, items: list[dict[str, Any]], seen: dict[str, tuple[dict[str, Any], Pool]]) -> list[Pool]:
        """The items as pools (``ValidationError`` on the first that does not fit); ``seen`` collects them for
        :meth:`keep`."""
        pools = []
        for item in items:
            metadata = item.get("metadata")
            name = metadata.get("name") if isinstance(metadata, dict) else None
            known = self._pools.get(name) if isinstance(name, str) else None
            pool = known[1] if known is not None and known[0] == item else Pool.model_validate(item)
            if isinstance(name, str):
                seen[name] = (item, pool)
            pools.append(pool)
        return pools

    def keep(self, seen: dict[str, tuple[dict[str, Any], Pool]]) -> None:
        self._pools = seen


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
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        redact: Sequence[str] = (),
        connection: Callable[[], AbstractAsyncContextManager[None]] | None = None,
    ) -> None:
        """``retry=None`` means the default :class:`RetryPolicy`; ``RetryPolicy.never()``: one attempt.

        ``timeout`` bounds each attempt as a whole; ``redact``: values (the access key) masked in server messages;
        ``connection``: entered for each attempt, before ``before_request`` (the limiter's token) — a slot shared
        by every client of the same limiter bucket, as many as ``http`` has connections (``slots.Slots``). A token
        is then taken only when the request can go at once, so the limiter's rate holds where the gateway counts,
        not only where tokens are handed out (tokens taken while hundreds waited for a connection went out
        together); and requests beyond the connections wait there, not in httpcore's pool (see ``slots.py``)."""
        self._http = http
        self._max_response_bytes = max_response_bytes
        self._redact = tuple(value for value in redact if value)
        self._endpoint = endpoint.rstrip("/")
        self._project_id = project_id
        self._auth = auth
        self._retry = retry if retry is not None else RetryPolicy()
        self._timeout = timeout
        self._before_request = before_request
        self._observer = observer
        self._connection = connection

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
        limit: int | None = None,
        first_page_only: bool = False,
        max_pages: int = 1000,
        memo: PoolMemo | None = None,
    ) -> list[Pool]:
        """``GET /pools``, every page. ``status`` is one of ``created``, ``failed``, ``creating``.

        With ``limit``, pages are asked for Kubernetes-style (``limit`` and the ``continue`` token the previous
        page's ``metadata.continue`` carried); a server that does not page simply answers everything at once.
        ``first_page_only``: one call, whatever remains (a cheap signed read).
        One unreadable item fails the whole call (``MalformedResponse``) rather than being skipped: callers look
        for their own pool in the list, and a pool silently left out could be created twice or leaked.
        ``memo``: items unchanged since the last complete list with the same memo are not parsed again.
        """
        query = (
            ("workspaceId", workspace_id),
            ("labelSelector", label_selector),
            ("status", status),
            ("limit", str(limit) if limit else None),
        )
        params = {key: value for key, value in query if value is not None}
        pools: list[Pool] = []
        seen: dict[str, tuple[dict[str, Any], Pool]] = {}
        for _ in range(max_pages):
            response = await self._call("list", "GET", self._pools_path(), params=params)
            if memo is None:
                page = self._parse("list", response, PoolList)
                pools.extend(page.items)
                token = page.metadata.continue_
            else:
                raw = self._parse("list", response, RawPoolList)
                pools.extend(self._parse_items(response, raw.items, memo, seen))
                token = raw.metadata.continue_
            if not token or not limit or first_page_only:
                if memo is not None:
                    memo.keep(seen)
                return pools
            params = {**params, "continue": token}
        raise MalformedResponse(f"list did not end after {max_pages} pages", operation="list")

    async def get_pool(self, name: str) -> Pool:
        """``GET /pools/{name}``; raises ``PoolNotFound`` when ModelArts says the pool does not exist."""
        response = await self._call("get", "GET", self._pool_path(name))
        return self._parse("get", response, Pool)

    async def patch_pool(self, name: str, patch: Mapping[str, Any]) -> Pool:
        """``PATCH /pools/{name}`` with a JSON merge-patch (``application/merge-patch+json``)."""
        response = await self._call(
            "patch",
            "PATCH",
            self._pool_path(name),
            body=_encode_json(patch),
            content_type=CONTENT_TYPE_MERGE_PATCH,
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
    ) -> _Answer:
        """One logical call: attempts until a 2xx, or raise the last typed error."""
        # Compression is welcome (a thousand-pool list shrinks tenfold), but only what _read_capped can bound.
        headers = {
            HEADER_PROJECT_ID: self._project_id,
            "Content-Type": content_type,
            "Accept-Encoding": "gzip, deflate",
        }
        url = self._endpoint + path
        attempt = 0
        while True:
            attempt += 1
            async with self._connection() if self._connection is not None else contextlib.nullcontext():
                if self._before_request is not None:
                    await self._before_request(operation)
                outcome = await self._attempt(operation, method, url, path, params, body, headers, attempt)
            if isinstance(outcome, _Answer):
                return outcome
            error = outcome
            if not self._retry.should_retry(operation, error, attempt):
                raise error
            delay = self._retry.delay(error, attempt)
            logger.debug(
                "modelarts %s %s: attempt %d failed (%s), retrying in %.2fs",
                operation,
                path,
                attempt,
                type(error).__name__,
                delay,
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
    ) -> _Answer | ModelArtsError:
        """One HTTP exchange: the 2xx answer, or the typed error it ended with."""
        started = time.monotonic()
        try:
            async with asyncio.timeout(self._timeout):
                request = self._http.build_request(
                    method, url, params=params, content=body, headers=headers, timeout=self._timeout
                )
                response = await self._http.send(request, auth=self._auth, stream=True)
                try:
                    limit = self._max_response_bytes if response.is_success else MAX_ERROR_BODY_BYTES
                    content = await _read_capped(response, limit, operation)
                except MalformedResponse as exc:
                    self._observe(operation, str(response.status_code), time.monotonic() - started)
                    return exc
                finally:
                    await response.aclose()
        except (httpx.RequestError, TimeoutError) as exc:
            elapsed = time.monotonic() - started
            self._observe(operation, STATUS_TRANSPORT_ERROR, elapsed)
            logger.debug(
                "modelarts %s %s -> %s (%s) attempt=%d %.3fs",
                method,
                path,
                STATUS_TRANSPORT_ERROR,
                type(exc).__name__,
                attempt,
                elapsed,
            )
            if isinstance(exc, TimeoutError):
                return TransportError(f"no complete answer within {self._timeout:g}s", operation=operation)
            return error_from_transport(exc, operation)
        elapsed = time.monotonic() - started
        self._observe(operation, str(response.status_code), elapsed)
        logger.debug(
            "modelarts %s %s -> %d request_id=%s attempt=%d %.3fs",
            method,
            path,
            response.status_code,
            response.headers.get(HEADER_REQUEST_ID),
            attempt,
            elapsed,
        )
        if response.is_success:
            return _Answer(response, content)
        return error_from_response(response, operation, content=content, secrets=self._redact)

    def _observe(self, operation: str, status_label: str, seconds: float) -> None:
        if self._observer is None:
            return
        try:
            self._observer(operation, status_label, seconds)
        except Exception:  # a metrics bug must never turn a good call into a failed one
            logger.exception("modelarts observer failed for %s", operation)

    @staticmethod
    def _parse_items(
        answer: _Answer,
        items: list[dict[str, Any]],
        memo: PoolMemo,
        seen: dict[str, tuple[dict[str, Any], Pool]],
    ) -> list[Pool]:
        try:
            return memo.parse(items, seen)
        except ValidationError as exc:
            raise MalformedResponse(
                "list item: " + _validation_summary(exc),
                operation="list",
                status_code=answer.response.status_code,
                request_id=answer.response.headers.get(HEADER_REQUEST_ID),
            ) from None
        except RecursionError:
            raise MalformedResponse("body is JSON nested too deeply", operation="list") from None

    @staticmethod
    def _parse(operation: str, answer: _Answer, model: type[ModelT]) -> ModelT:
        response, content = answer.response, answer.content
        request_id = response.headers.get(HEADER_REQUEST_ID)
        common: dict[str, Any] = {
            "operation": operation,
            "status_code": response.status_code,
            "request_id": request_id,
        }
        try:
            data = json.loads(content)
        except RecursionError:
            raise MalformedResponse("body is JSON nested too deeply", **common) from None
        except (ValueError, UnicodeDecodeError):
            raise MalformedResponse(
                f"body is not JSON ({response.headers.get('Content-Type', 'no content type')[:80]}, "
                f"{len(content)} bytes)",
                **common,
            ) from None
        if not isinstance(data, dict):
            raise MalformedResponse(f"body is a JSON {type(data).__name__}, not an object", **common)
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            raise MalformedResponse(_validation_summary(exc), **common) from None
        except RecursionError:
            raise MalformedResponse("body is JSON nested too deeply", **common) from None


class _Answer:
    """A 2xx response with its body, read within the caps."""

    __slots__ = ("content", "response")

    def __init__(self, response: httpx.Response, content: bytes) -> None:
        self.response = response
        self.content = content


async def _read_capped(response: httpx.Response, limit: int, operation: str) -> bytes:
    """The body, decompressed, or ``MalformedResponse`` once it grows past ``limit`` (received or decoded)."""
    if response.is_stream_consumed:  # a response built in memory (httpx.MockTransport): already whole
        if len(response.content) > limit:
            raise MalformedResponse(
                f"response body larger than {limit} bytes", operation=operation, status_code=response.status_code
            )
        return response.content
    encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
    decoder = None
    if encoding not in ("", "identity"):
        wbits = _DECODERS.get(encoding)
        if wbits is None:
            raise MalformedResponse(
                f"unsupported Content-Encoding {encoding[:40]!r}", operation=operation, status_code=response.status_code
            )
        decoder = zlib.decompressobj(wbits)
    received = 0
    chunks: list[bytes] = []
    size = 0

    def too_big() -> MalformedResponse:
        return MalformedResponse(
            f"response body larger than {limit} bytes", operation=operation, status_code=response.status_code
        )

    try:
        async for raw in response.aiter_raw():
            received += len(raw)
            if received > limit:
                raise too_big()
            if decoder is None:
                chunks.append(raw)
                size += len(raw)
                continue
            data = raw
            while data:
                # max_length bounds what one call may inflate: a bomb is cut at the cap, never held whole.
                out = decoder.decompress(data, limit + 1 - size)
                size += len(out)
                if size > limit:
                    raise too_big()
                chunks.append(out)
                data = decoder.unconsumed_tail
        if decoder is not None:
            tail = decoder.flush()
            size += len(tail)
            if size > limit:
                raise too_big()
            chunks.append(tail)
    except zlib.error:
        raise MalformedResponse(
            f"body is not valid {encoding}", operation=operation, status_code=response.status_code
        ) from None
    return b"".join(chunks)
