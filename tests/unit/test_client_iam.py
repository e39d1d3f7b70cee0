"""``IamTokenAuth``: token fetched once and shared, refreshed before expiry and after a 401, secrets kept out."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from modelarts_fakes import ENDPOINT, PROJECT_ID, json_response, pool_json
from pydantic import SecretStr

from modelarts_operator.modelarts.client import ModelArtsClient
from modelarts_operator.modelarts.errors import MalformedResponse, Unauthorized
from modelarts_operator.modelarts.iam import IamTokenAuth, PasswordIdentity, default_iam_endpoint
from modelarts_operator.modelarts.retry import RetryPolicy

IAM = default_iam_endpoint("cn-north-4")
PASSWORD = "iam-PASSWORD-very-secret"
NOW = datetime(2024, 1, 1, tzinfo=UTC).timestamp()
POOL = "pool-ae01-" + PROJECT_ID


class FakeCloud:
    """IAM hands out token-1, token-2, ...; ModelArts accepts only the tokens listed in ``valid``."""

    def __init__(self) -> None:
        self.iam_requests: list[httpx.Request] = []
        self.modelarts_tokens: list[str | None] = []
        self.valid: set[str] = set()
        self.iam_status = 201
        self.expires_at: str | None = "2024-01-02T00:00:00.000000Z"
        self.send_token_header = True
        self.reject_every_token = False

    async def handler(self, request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0)  # let concurrent requests interleave
        if request.url.host.startswith("iam."):
            self.iam_requests.append(request)
            if self.iam_status != 201:
                return json_response(self.iam_status, {"error": {"code": "APIGW.0301", "message": "bad user"}})
            token = f"token-{len(self.iam_requests)}"
            self.valid.add(token)
            body = {"token": {"expires_at": self.expires_at}} if self.expires_at else {"token": {}}
            return json_response(201, body, {"X-Subject-Token": token} if self.send_token_header else {})
        token = request.headers.get("X-Auth-Token")
        self.modelarts_tokens.append(token)
        if token not in self.valid or self.reject_every_token:
            return json_response(401, {"error_code": "ModelArts.0201", "error_msg": "token expired"})
        return json_response(200, pool_json())


@pytest.fixture
def cloud() -> FakeCloud:
    return FakeCloud()


@pytest.fixture
async def iam_http(cloud: FakeCloud) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.MockTransport(cloud.handler)) as client:
        yield client


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


def make(http: httpx.AsyncClient, clock: Clock) -> tuple[ModelArtsClient, IamTokenAuth]:
    auth = IamTokenAuth(
        iam_endpoint=IAM,
        identity=PasswordIdentity(user_name="ops", password=SecretStr(PASSWORD), domain_name="acme"),
        project_id=PROJECT_ID,
        clock=clock,
    )
    client = ModelArtsClient(http, endpoint=ENDPOINT, project_id=PROJECT_ID, auth=auth, retry=RetryPolicy.never())
    return client, auth


async def test_token_is_fetched_once_and_shared(cloud: FakeCloud, iam_http: httpx.AsyncClient) -> None:
    client, _ = make(iam_http, Clock())
    await asyncio.gather(*(client.get_pool(POOL) for _ in range(5)))
    await client.get_pool(POOL)

    (token_request,) = cloud.iam_requests
    assert str(token_request.url) == f"{IAM}/v3/auth/tokens"
    assert token_request.method == "POST"
    assert json.loads(token_request.content) == {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {"user": {"name": "ops", "password": PASSWORD, "domain": {"name": "acme"}}},
            },
            "scope": {"project": {"id": PROJECT_ID}},
        }
    }
    assert cloud.modelarts_tokens == ["token-1"] * 6


async def test_token_is_refreshed_before_it_expires(cloud: FakeCloud, iam_http: httpx.AsyncClient) -> None:
    clock = Clock()
    client, _ = make(iam_http, clock)
    await client.get_pool(POOL)
    clock.now = NOW + 22 * 3600  # 24 h token, refreshed an hour early: not yet
    await client.get_pool(POOL)
    clock.now = NOW + 23 * 3600 + 1
    await client.get_pool(POOL)
    assert cloud.modelarts_tokens == ["token-1", "token-1", "token-2"]


async def test_token_without_expiry_gets_a_conservative_lifetime(cloud: FakeCloud, iam_http: httpx.AsyncClient) -> None:
    cloud.expires_at = None
    clock = Clock()
    client, _ = make(iam_http, clock)
    await client.get_pool(POOL)
    clock.now = NOW + 5 * 3600 + 1  # fallback 6 h minus the 1 h margin
    await client.get_pool(POOL)
    assert cloud.modelarts_tokens == ["token-1", "token-2"]


async def test_a_rejected_token_is_replaced_once(cloud: FakeCloud, iam_http: httpx.AsyncClient) -> None:
    client, _ = make(iam_http, Clock())
    await client.get_pool(POOL)
    cloud.valid.clear()  # revoked behind our back
    pool = await client.get_pool(POOL)
    assert pool.name == POOL
    assert cloud.modelarts_tokens == ["token-1", "token-1", "token-2"]

    cloud.reject_every_token = True
    with pytest.raises(Unauthorized) as caught:
        await client.get_pool(POOL)
    assert cloud.modelarts_tokens[-2:] == ["token-2", "token-3"]  # one new token, then the 401 is the answer
    assert caught.value.error_code == "ModelArts.0201"


async def test_iam_refusal_is_a_typed_error_without_the_password(cloud: FakeCloud, iam_http: httpx.AsyncClient) -> None:
    cloud.iam_status = 401
    client, auth = make(iam_http, Clock())
    with pytest.raises(Unauthorized) as caught:
        await client.get_pool(POOL)
    assert caught.value.operation == "iam_token"
    assert cloud.modelarts_tokens == []
    for text in (str(caught.value), repr(caught.value), repr(auth), repr(auth._identity)):
        assert PASSWORD not in text


async def test_iam_answer_without_token_header_is_malformed(cloud: FakeCloud, iam_http: httpx.AsyncClient) -> None:
    cloud.send_token_header = False
    client, _ = make(iam_http, Clock())
    with pytest.raises(MalformedResponse, match="X-Subject-Token"):
        await client.get_pool(POOL)


def test_sync_clients_are_refused() -> None:
    auth = IamTokenAuth(
        iam_endpoint=IAM,
        identity=PasswordIdentity(user_name="u", password=SecretStr("p"), domain_name="d"),
        project_id=PROJECT_ID,
    )
    with httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(200))) as client:
        with pytest.raises(RuntimeError, match="AsyncClient only"):
            client.get("https://example.invalid/", auth=auth)
