"""Typed errors of the ModelArts client, converted once at the boundary (:func:`error_from_response`,
:func:`error_from_transport`), so that callers decide on types, never on status codes or httpx exceptions.

``PoolNotFound`` is deliberately narrow: the deletion path releases its finalizer on it, so a 404 that does
not say *pool not found* (an API gateway's "no such API", an HTML page from a proxy, a missing network) must
never become ``PoolNotFound``. The same holds for ``PoolAlreadyExists``, on which creation recovers by
listing.

Nothing here ever holds request headers, so credentials cannot leak through ``str(exc)`` or ``repr(exc)``.
Server text is redacted too (:func:`redact`): Huawei's gateway echoes the access key in some 401 messages
("Get secretKey failed,ak:XXXX,err:ak not exist"), and those messages end up in status and Events.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

ERROR_POOL_NOT_FOUND = "ModelArts.50015001"
ERROR_POOL_ALREADY_EXISTS = "ModelArts.50015000"
ERROR_BAD_REQUEST = "ModelArts.50004000"
ERROR_CONTENT_TYPE_NOT_SUPPORTED = "ModelArts.50004100"
ERROR_INTERNAL = "ModelArts.50005000"
ERROR_NETWORK_NOT_FOUND = "ModelArts.50025001"
# The API gateway's throttling code; "APIG.0308" is an older spelling of it (modelarts-api.md §10).
ERROR_THROTTLED = "APIGW.0308"
ERROR_THROTTLED_LEGACY = "APIG.0308"

HEADER_REQUEST_ID = "X-Request-Id"
HEADER_RETRY_AFTER = "Retry-After"

# Server-provided text is cut to this length in messages: enough to act on, never a whole HTML page.
_MAX_TEXT = 300


# "ak:XXXX" / "ak=XXXX" as the gateway writes it, and anything shaped like a Huawei access key (20 upper-case
# letters and digits). Over-redacting an identifier that merely looks like a key costs nothing.
_AK_ASSIGNMENT = re.compile(r"(?i)\b(ak|access[ _-]?key(?:[ _-]?id)?)\s*[:=]\s*[^\s,;\"']+")
_AK_SHAPED = re.compile(r"\b[A-Z0-9]{20}\b")
REDACTED = "***"


def redact(text: str | None, secrets: Iterable[str] = ()) -> str | None:
    """``text`` with access keys (the given ones, ``ak:...`` assignments and key-shaped tokens) masked."""
    if not text:
        return text
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    text = _AK_ASSIGNMENT.sub(lambda match: f"{match.group(1)}:{REDACTED}", text)
    return _AK_SHAPED.sub(REDACTED, text)


def _clip(text: str | None) -> str | None:
    if text is None:
        return None
    text = " ".join(text.split())
    return text if len(text) <= _MAX_TEXT else text[: _MAX_TEXT - 3] + "..."


class ModelArtsError(Exception):
    """Base of every client error. ``retryable`` says whether the same call may succeed later unchanged."""

    _retryable = False

    def __init__(
        self,
        detail: str | None = None,
        *,
        operation: str,
        status_code: int | None = None,
        error_code: str | None = None,
        error_msg: str | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.detail = _clip(detail)
        # Seconds before the same call is worth trying again, when the server (or the caller) says so.
        self.retry_after = retry_after
        self.operation = operation
        self.status_code = status_code
        self.error_code = error_code
        self.error_msg = _clip(error_msg)
        self.request_id = request_id
        super().__init__(str(self))

    @property
    def retryable(self) -> bool:
        return self._retryable

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only constructors defeat Exception's default pickling/copying; rebuild from the attributes.
        return (_rebuild, (type(self), dict(self.__dict__)))

    def __str__(self) -> str:
        parts = [f"ModelArts {self.operation} failed"]
        if self.status_code is not None:
            parts.append(f"HTTP {self.status_code}")
        if self.error_code:
            parts.append(self.error_code)
        text = ": ".join(parts)
        if self.error_msg:
            text += f": {self.error_msg}"
        if self.detail:
            text += f" ({self.detail})"
        if self.request_id:
            text += f" [request id {self.request_id}]"
        return text

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(operation={self.operation!r}, status_code={self.status_code!r}, "
            f"error_code={self.error_code!r}, error_msg={self.error_msg!r}, request_id={self.request_id!r})"
        )


def _rebuild(cls: type[ModelArtsError], state: dict[str, Any]) -> ModelArtsError:
    error = cls.__new__(cls)
    error.__dict__.update(state)
    Exception.__init__(error, str(error))
    return error


class PoolNotFound(ModelArtsError):
    """404 with ``ModelArts.50015001``: the pool does not exist (any more)."""


class PoolAlreadyExists(ModelArtsError):
    """409 ``ModelArts.50015000``: a pool with this display name exists already."""


class InvalidRequest(ModelArtsError):
    """Any other 4xx: the request itself is wrong; repeating it unchanged will not help."""


class Unauthorized(ModelArtsError):
    """401: credentials missing, invalid or expired, or the signature/clock is off."""


class CredentialsLocked(Unauthorized):
    """Not sent: ModelArts refused these credentials moments ago, and more attempts would keep the key locked at
    the gateway. Nothing new was learnt about the credentials, so there is no reason to re-read them now."""


class Forbidden(ModelArtsError):
    """403: the credentials are valid but not allowed to do this."""


class Throttled(ModelArtsError):
    """429: over the rate limit. ``retry_after``: the server's ``Retry-After`` in seconds, if it sent one."""

    _retryable = True


class ServerError(ModelArtsError):
    """5xx: the service failed; the same call may succeed later."""

    _retryable = True


class TransportError(ModelArtsError):
    """No HTTP answer: connection refused or reset, DNS, TLS, timeout.

    ``request_sent`` is ``False`` only when the connection was never established, so that no byte of the
    request can have reached the server; a non-idempotent call (create) may be repeated only then.
    """

    _retryable = True

    def __init__(self, detail: str | None = None, *, request_sent: bool = True, **kwargs: Any) -> None:
        self.request_sent = request_sent
        super().__init__(detail, **kwargs)


class MalformedResponse(ModelArtsError):
    """A 2xx whose body is not the expected JSON shape, an error answer that is not JSON, or an unexpected
    status (1xx/3xx). Something between us and ModelArts is off; repeating will not fix it."""


# Transport errors after which no request byte has left this process.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


def error_from_transport(exc: httpx.RequestError, operation: str) -> TransportError:
    """The ``TransportError`` for an httpx request error (never its request headers)."""
    message = str(exc) or "no details"
    return TransportError(
        f"{type(exc).__name__}: {message}", operation=operation, request_sent=not isinstance(exc, _NOT_SENT)
    )


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """``Retry-After`` in seconds from delta-seconds or an HTTP date; ``None`` when absent or unreadable."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        seconds = (moment - (now or datetime.now(UTC))).total_seconds()
    if seconds != seconds or seconds in (float("inf"), float("-inf")):  # NaN / inf from float("nan")
        return None
    return max(0.0, seconds)


def _error_body(content: bytes) -> tuple[str | None, str | None, bool]:
    """``(error_code, error_msg, is_json)`` of an error answer."""
    try:
        body = json.loads(content)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None, None, False
    if not isinstance(body, dict):
        return None, None, False
    code = body.get("error_code")
    msg = body.get("error_msg")
    return (
        str(code) if code is not None else None,
        str(msg) if msg is not None else None,
        True,
    )


def error_from_response(
    response: httpx.Response,
    operation: str,
    *,
    now: datetime | None = None,
    content: bytes | None = None,
    secrets: Iterable[str] = (),
) -> ModelArtsError:
    """The typed error for a non-2xx answer. ``content``: the (capped) body when the response was streamed;
    ``secrets``: values to mask in the server's message (the caller's access key)."""
    status = response.status_code
    request_id = response.headers.get(HEADER_REQUEST_ID)
    body = response.content if content is None else content
    code, msg, is_json = _error_body(body)
    msg = redact(msg, secrets)
    common: dict[str, Any] = {
        "operation": operation,
        "status_code": status,
        "error_code": code,
        "error_msg": msg,
        "request_id": request_id,
    }
    if status == 429 or code in (ERROR_THROTTLED, ERROR_THROTTLED_LEGACY):
        retry_after = parse_retry_after(response.headers.get(HEADER_RETRY_AFTER), now=now)
        return Throttled(retry_after=retry_after, **common)
    if status >= 500:
        return ServerError(None if is_json else _not_json(response, body), **common)
    if status == 401:
        return Unauthorized(None if is_json else _not_json(response, body), **common)
    if status == 403:
        return Forbidden(None if is_json else _not_json(response, body), **common)
    if 400 <= status < 500:
        if not is_json:
            # Most of all a 404 from something that is not ModelArts: it says nothing about the pool.
            return MalformedResponse(_not_json(response, body), **common)
        if status == 404 and code == ERROR_POOL_NOT_FOUND:
            return PoolNotFound(**common)
        if status == 409 and (code == ERROR_POOL_ALREADY_EXISTS or operation == "create"):
            return PoolAlreadyExists(**common)
        return InvalidRequest(**common)
    return MalformedResponse(f"unexpected HTTP status {status}", **common)


def _not_json(response: httpx.Response, body: bytes) -> str:
    content_type = response.headers.get("Content-Type", "no content type")
    return f"error body is not ModelArts JSON: {_clip(content_type)}, {len(body)} bytes"
