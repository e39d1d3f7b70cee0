"""The project's ``ModelArtsClient`` against the emulator over real HTTP: the lifecycle, and every fault class
arriving as the right typed exception."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from emulator_helpers import eventually, pool_body
from pydantic import SecretStr

from modelarts_emulator.control_client import AsyncControlClient
from modelarts_emulator.server import RunningEmulator
from modelarts_operator.modelarts.auth import AkSkAuth, Credentials
from modelarts_operator.modelarts.client import ModelArtsClient
from modelarts_operator.modelarts.errors import (
    Forbidden,
    InvalidRequest,
    MalformedResponse,
    ModelArtsError,
    PoolAlreadyExists,
    PoolNotFound,
    ServerError,
    Throttled,
    TransportError,
    Unauthorized,
)
from modelarts_operator.modelarts.retry import RetryPolicy

FLAVOR = "modelarts.vm.cpu.8ud"


def make_client(
    http: httpx.AsyncClient,
    emulator: RunningEmulator,
    *,
    secret_key: str | None = None,
    retry: RetryPolicy | None = None,
) -> ModelArtsClient:
    credentials = Credentials(access_key=emulator.access_key, secret_key=SecretStr(secret_key or emulator.secret_key))
    return ModelArtsClient(
        http,
        endpoint=emulator.url,
        project_id=emulator.project_id,
        auth=AkSkAuth(credentials),
        retry=retry or RetryPolicy.never(),
        timeout=5.0,
    )


@pytest.fixture
async def client_http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(follow_redirects=False) as http:
        yield http


@pytest.fixture
def client(client_http: httpx.AsyncClient, emulator: RunningEmulator) -> ModelArtsClient:
    return make_client(client_http, emulator)


async def no_sleep(_: float) -> None:
    return None


async def test_lifecycle(client: ModelArtsClient, control: AsyncControlClient) -> None:
    created = await client.create_pool(pool_body("pool-client", count=1))
    name = created.name
    assert name is not None and created.phase is None  # the create answer has no phase

    running = await eventually(lambda: client.get_pool(name), lambda pool: pool.phase == "Running")
    assert running.metadata.display_name == "pool-client"

    scaled = await client.patch_pool(name, {"spec": {"resources": [{"flavor": FLAVOR, "count": 3}]}})
    assert scaled.phase == "Running"
    await eventually(
        lambda: client.get_pool(name), lambda pool: pool.status is not None and not pool.status.resources.creating
    )

    listed = await client.list_pools(label_selector="os.modelarts/name=pool-client")
    assert [pool.name for pool in listed] == [name]

    snapshot = await client.delete_pool(name)
    assert snapshot.name == name

    async def probe() -> str | None:
        try:
            return (await client.get_pool(name)).phase
        except PoolNotFound:
            return "gone"

    assert await eventually(probe, lambda phase: phase in ("Deleting", "gone")) in ("Deleting", "gone")
    await eventually(probe, lambda phase: phase == "gone")
    with pytest.raises(PoolNotFound):
        await client.delete_pool(name)
    patches = await control.requests(method="PATCH")
    assert patches[0]["content_type"] == "application/merge-patch+json"
    assert {entry["status"] for entry in await control.requests()} <= {200, 404}


async def test_conflict_and_invalid(client: ModelArtsClient) -> None:
    await client.create_pool(pool_body("pool-twice"))
    with pytest.raises(PoolAlreadyExists):
        await client.create_pool(pool_body("pool-twice"))
    with pytest.raises(InvalidRequest) as invalid:
        await client.create_pool(pool_body("pool-bad", pool_type="Dedicated"))
    assert invalid.value.error_code == "ModelArts.50004000"


async def test_wrong_secret_is_unauthorized(client_http: httpx.AsyncClient, emulator: RunningEmulator) -> None:
    client = make_client(client_http, emulator, secret_key="not-the-secret")
    with pytest.raises(Unauthorized) as denied:
        await client.list_pools()
    assert "not-the-secret" not in str(denied.value) and "not-the-secret" not in repr(denied.value)


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ({"status": 403, "error_code": "ModelArts.0204", "error_msg": "no permission"}, Forbidden),
        ({"status": 401}, Unauthorized),
        ({"status": 429, "retry_after": 7}, Throttled),
        ({"status": 500}, ServerError),
        ({"status": 503, "error_code": "APIGW.0201", "error_msg": "backend unavailable"}, ServerError),
        ({"status": 400, "error_code": "ModelArts.50025001", "error_msg": "network does not exist"}, InvalidRequest),
        ({"status": 404, "body": "<html>not here</html>"}, MalformedResponse),
        ({"status": 200, "body": "this is not json", "content_type": "text/plain"}, MalformedResponse),
        ({"drop_connection": True}, TransportError),
    ],
)
async def test_fault_classes(
    client: ModelArtsClient, control: AsyncControlClient, rule: dict[str, object], expected: type[ModelArtsError]
) -> None:
    await control.add_fault(method="GET", times=1, **rule)
    with pytest.raises(expected) as caught:
        await client.list_pools()
    if isinstance(caught.value, Throttled):
        assert caught.value.retry_after == 7
    if rule.get("error_code"):
        assert caught.value.error_code == rule["error_code"]
    assert (await client.list_pools()) == []  # the fault fired once only


async def test_gateway_404_is_not_pool_not_found(client: ModelArtsClient, control: AsyncControlClient) -> None:
    await control.add_fault(method="GET", status=404, error_code="APIGW.0101", error_msg="no such API", times=1)
    with pytest.raises(ModelArtsError) as caught:
        await client.get_pool("some-pool")
    assert not isinstance(caught.value, PoolNotFound)


async def test_timeout_is_a_transport_error(
    client_http: httpx.AsyncClient, emulator: RunningEmulator, control: AsyncControlClient
) -> None:
    client = ModelArtsClient(
        client_http,
        endpoint=emulator.url,
        project_id=emulator.project_id,
        auth=AkSkAuth(Credentials(access_key=emulator.access_key, secret_key=SecretStr(emulator.secret_key))),
        retry=RetryPolicy.never(),
        timeout=0.3,
    )
    await control.add_fault(method="GET", delay_seconds=2, times=1)
    with pytest.raises(TransportError):
        await client.list_pools()


async def test_retries_recover_reads_but_never_repeat_a_create(
    client_http: httpx.AsyncClient, emulator: RunningEmulator, control: AsyncControlClient
) -> None:
    client = make_client(client_http, emulator, retry=RetryPolicy(max_attempts=4, sleep=no_sleep))
    await control.add_fault(method="GET", status=503, times=2)
    assert await client.list_pools() == []
    assert [entry["status"] for entry in await control.requests(method="GET")] == [503, 503, 200]

    await control.add_fault(method="POST", status=500, times=1)
    with pytest.raises(ServerError):
        await client.create_pool(pool_body("pool-once"))
    assert len(await control.requests(method="POST")) == 1
