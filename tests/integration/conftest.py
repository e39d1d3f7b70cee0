"""Tier 2 fixtures: the emulator on 127.0.0.1 (port 0) and clients that talk to it over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from emulator_helpers import SignedClient

from modelarts_emulator.config import EmulatorConfig, Timings
from modelarts_emulator.control_client import AsyncControlClient
from modelarts_emulator.server import RunningEmulator, running_emulator
from modelarts_operator.modelarts.auth import AkSkAuth, Credentials
from modelarts_operator.modelarts.client import ModelArtsClient
from modelarts_operator.modelarts.retry import RetryPolicy

# Short enough for a fast suite, long enough that a poller sees every intermediate state.
FAST = Timings(create_seconds=0.6, delete_seconds=1.0, scale_seconds=0.6)


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    """Override in a test module (or parametrize) to change timings or credentials."""
    return EmulatorConfig(timings=FAST)


@pytest.fixture
async def emulator(emulator_config: EmulatorConfig) -> AsyncIterator[RunningEmulator]:
    """A running emulator: ``.url``, ``.project_id``, ``.access_key``, ``.secret_key``, ``.world``."""
    async with running_emulator(emulator_config) as running:
        yield running


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10.0) as client:
        yield client


@pytest.fixture
def api(http: httpx.AsyncClient, emulator: RunningEmulator) -> SignedClient:
    return SignedClient(
        http,
        url=emulator.url,
        project_id=emulator.project_id,
        access_key=emulator.access_key,
        secret_key=emulator.secret_key,
    )


@pytest.fixture
def control(http: httpx.AsyncClient, emulator: RunningEmulator) -> AsyncControlClient:
    """The control API, e.g. ``await control.requests(method="DELETE")`` for the recorded requests."""
    return AsyncControlClient(emulator.url, http=http)


@pytest.fixture
def client(http: httpx.AsyncClient, emulator: RunningEmulator) -> ModelArtsClient:
    """The operator's ModelArts client signed for the emulator: one attempt, short timeout (the reconcile tests).
    Modules that need another client define their own ``client``."""
    credentials = Credentials.model_validate({"access_key": emulator.access_key, "secret_key": emulator.secret_key})
    return ModelArtsClient(
        http,
        endpoint=emulator.url,
        project_id=emulator.project_id,
        auth=AkSkAuth(credentials),
        retry=RetryPolicy(max_attempts=1),
        timeout=2.0,
    )
