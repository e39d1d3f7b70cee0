"""IAM token authentication: fetch a project-scoped token with a password identity, cache it, send it as
``X-Auth-Token``.

Huawei recommends AK/SK (``AkSkAuth``), which is what the operator uses; this exists for accounts that can only
use IAM users' passwords. The token (valid 24 h) is fetched through the same ``httpx.AsyncClient`` as the calls
it authenticates, refreshed ``refresh_margin`` seconds before it expires, and fetched anew once if ModelArts
answers 401 (revoked or rotated token).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncGenerator, Callable, Generator
from dataclasses import dataclass
from datetime import datetime

import httpx
from pydantic import BaseModel, ConfigDict, SecretStr

from modelarts_operator.modelarts.auth import HEADER_AUTH_TOKEN
from modelarts_operator.modelarts.errors import HEADER_REQUEST_ID, MalformedResponse, error_from_response

HEADER_SUBJECT_TOKEN = "X-Subject-Token"  # noqa: S105 (a header name)
OPERATION = "iam_token"
DEFAULT_REFRESH_MARGIN = 3600.0
# When IAM does not say when the token expires: Huawei documents 24 h; assume far less.
FALLBACK_LIFETIME = 6 * 3600.0


def default_iam_endpoint(region: str) -> str:
    return f"https://iam.{region}.myhuaweicloud.com"


class PasswordIdentity(BaseModel):
    """An IAM user of an account (domain). ``repr`` hides the password."""

    model_config = ConfigDict(frozen=True)

    user_name: str
    password: SecretStr
    domain_name: str


@dataclass
class _Token:
    value: SecretStr
    refresh_at: float


class IamTokenAuth(httpx.Auth):
    """``X-Auth-Token`` from IAM (``POST {iam_endpoint}/v3/auth/tokens``), cached and shared by all requests."""

    def __init__(
        self,
        *,
        iam_endpoint: str,
        identity: PasswordIdentity,
        project_id: str,
        refresh_margin: float = DEFAULT_REFRESH_MARGIN,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._url = iam_endpoint.rstrip("/") + "/v3/auth/tokens"
        self._identity = identity
        self._project_id = project_id
        self._refresh_margin = refresh_margin
        self._clock = clock
        self._token: _Token | None = None
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"IamTokenAuth(url={self._url!r}, user={self._identity.user_name!r})"

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        raise RuntimeError("IamTokenAuth works with httpx.AsyncClient only")

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        stale: _Token | None = None
        for _ in range(2):
            token = self._token
            if token is None or token is stale or self._clock() >= token.refresh_at:
                async with self._lock:
                    # Another request may have refreshed it while this one waited for the lock.
                    token = self._token
                    if token is None or token is stale or self._clock() >= token.refresh_at:
                        token_response = yield self._token_request()
                        token = self._token = await self._read_token(token_response)
            request.headers[HEADER_AUTH_TOKEN] = token.value.get_secret_value()
            response = yield request
            if response.status_code != 401 or stale is not None:
                return
            stale = token  # revoked or rotated: fetch a new token once and repeat the request

    def _token_request(self) -> httpx.Request:
        body = {
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {
                        "user": {
                            "name": self._identity.user_name,
                            "password": self._identity.password.get_secret_value(),
                            "domain": {"name": self._identity.domain_name},
                        }
                    },
                },
                "scope": {"project": {"id": self._project_id}},
            }
        }
        return httpx.Request(
            "POST", self._url, content=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
        )

    async def _read_token(self, response: httpx.Response) -> _Token:
        await response.aread()
        if not response.is_success:
            raise error_from_response(response, OPERATION)
        value = response.headers.get(HEADER_SUBJECT_TOKEN)
        if not value:
            raise MalformedResponse(
                "IAM answered without X-Subject-Token",
                operation=OPERATION,
                status_code=response.status_code,
                request_id=response.headers.get(HEADER_REQUEST_ID),
            )
        lifetime = self._lifetime(response)
        return _Token(SecretStr(value), self._clock() + max(0.0, lifetime - self._refresh_margin))

    def _lifetime(self, response: httpx.Response) -> float:
        """Seconds until ``token.expires_at``, or a conservative guess when IAM does not say."""
        try:
            expires_at = json.loads(response.content)["token"]["expires_at"]
            return datetime.fromisoformat(str(expires_at)).timestamp() - self._clock()
        except (ValueError, KeyError, TypeError):
            return FALLBACK_LIFETIME
