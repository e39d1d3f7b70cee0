"""Fixtures for the ModelArts client tests (helpers live in ``modelarts_fakes``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from modelarts_fakes import (
    ACCESS_KEY,
    ENDPOINT,
    FIXED_NOW,
    PROJECT_ID,
    SECRET_KEY,
    FakeModelArts,
    MakeClient,
    RecordingSleep,
)
from pydantic import SecretStr

from modelarts_operator.modelarts.auth import AkSkAuth, Credentials
from modelarts_operator.modelarts.client import ModelArtsClient
from modelarts_operator.modelarts.retry import RetryPolicy


@pytest.fixture
def credentials() -> Credentials:
    return Credentials(access_key=ACCESS_KEY, secret_key=SecretStr(SECRET_KEY))


@pytest.fixture
def fake() -> FakeModelArts:
    return FakeModelArts()


@pytest.fixture
def sleep() -> RecordingSleep:
    return RecordingSleep()


@pytest.fixture
async def http(fake: FakeModelArts) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.MockTransport(fake.handler)) as client:
        yield client


@pytest.fixture
def make_client(http: httpx.AsyncClient, credentials: Credentials, sleep: RecordingSleep) -> MakeClient:
    """A client on the fake server; keyword arguments override the defaults (no jitter, recorded sleep)."""

    def build(**overrides: Any) -> ModelArtsClient:
        options: dict[str, Any] = {
            "endpoint": ENDPOINT,
            "project_id": PROJECT_ID,
            "auth": AkSkAuth(credentials, clock=lambda: FIXED_NOW),
            "retry": RetryPolicy(max_attempts=4, base_delay=1.0, max_delay=8.0, jitter=False, sleep=sleep),
        }
        options.update(overrides)
        return ModelArtsClient(http, **options)

    return build
