"""Credentials and the ``httpx.Auth`` flows that put them on requests.

``AkSkAuth`` signs with ``SDK-HMAC-SHA256`` (see ``signer.py``) at the last moment, inside httpx, so the
signature covers exactly the bytes, path, query and ``Host`` that httpx sends, and is recomputed (with a fresh
``X-Sdk-Date``) on every retry attempt.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from datetime import UTC, datetime

import httpx
from pydantic import BaseModel, ConfigDict, SecretStr

from modelarts_operator.modelarts import signer

HEADER_AUTHORIZATION = "Authorization"
HEADER_SECURITY_TOKEN = "X-Security-Token"  # noqa: S105 (a header name)
HEADER_AUTH_TOKEN = "X-Auth-Token"  # noqa: S105 (a header name)
HEADER_PROJECT_ID = "X-Project-Id"

# What the gateway must verify and we can pin down: where the request goes, when it was made, how its body
# is to be read, which project it acts on, and the temporary-credential token. Headers httpx or proxies may
# add or rewrite (User-Agent, Accept, Content-Length, ...) stay unsigned so they cannot break the signature.
SIGNED_HEADERS = ("host", "x-sdk-date", "content-type", "x-project-id", "x-security-token")


class Credentials(BaseModel):
    """An access key pair, optionally temporary (with a security token). ``repr`` and ``str`` hide secrets."""

    model_config = ConfigDict(frozen=True)

    access_key: str
    secret_key: SecretStr
    security_token: SecretStr | None = None


def _utc_now() -> datetime:
    return datetime.now(UTC)


def raw_path(url: httpx.URL) -> str:
    """The percent-encoded path exactly as sent, without the query."""
    return url.raw_path.split(b"?", 1)[0].decode("ascii")


class AkSkAuth(httpx.Auth):
    """Signs every request with ``SDK-HMAC-SHA256`` over the exact body bytes.

    The body is always hashed, merge-patch included, as golangsdk (Terraform's client) does; Huawei's Python
    SDK instead sends ``UNSIGNED-PAYLOAD`` for non-JSON content types, which leaves a PATCH body unprotected.
    """

    requires_request_body = True

    def __init__(self, credentials: Credentials, clock: Callable[[], datetime] = _utc_now) -> None:
        self._credentials = credentials
        self._clock = clock

    def __repr__(self) -> str:
        return f"AkSkAuth(access_key={self._credentials.access_key!r})"

    def sign_request(self, request: httpx.Request) -> None:
        """Add ``X-Sdk-Date``, ``X-Security-Token`` (temporary credentials) and ``Authorization``."""
        request.headers[signer.HEADER_SDK_DATE] = signer.format_sdk_date(self._clock())
        token = self._credentials.security_token
        if token is not None:
            request.headers[HEADER_SECURITY_TOKEN] = token.get_secret_value()
        # httpx sets Host itself (host[:port], default port omitted); sign that very value.
        to_sign = {name: request.headers[name] for name in SIGNED_HEADERS if name in request.headers}
        request.headers[HEADER_AUTHORIZATION] = signer.sign(
            access_key=self._credentials.access_key,
            secret_key=self._credentials.secret_key.get_secret_value(),
            method=request.method,
            path=raw_path(request.url),
            query_pairs=request.url.params.multi_items(),
            headers=to_sign,
            body=request.content,
        )

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        self.sign_request(request)
        yield request


class TokenAuth(httpx.Auth):
    """Sends an IAM token as ``X-Auth-Token``."""

    def __init__(self, token: str | SecretStr) -> None:
        self._token = token if isinstance(token, SecretStr) else SecretStr(token)

    def __repr__(self) -> str:
        return "TokenAuth(token=**********)"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers[HEADER_AUTH_TOKEN] = self._token.get_secret_value()
        yield request
