"""Requests beyond an origin's connections wait in the client's own semaphore, shared by every client of that
origin, never in httpcore's pool (whose rescans of its queue cost the operator CPU in bursts of deletions)."""

from __future__ import annotations

import asyncio

import httpx
from modelarts_fakes import ENDPOINT, PROJECT_ID, json_response, pool_json
from pydantic import SecretStr

from modelarts_operator.controller.cloud import CONNECTIONS_PER_ORIGIN, CloudAccess
from modelarts_operator.limiter import LimiterRegistry
from modelarts_operator.metrics import Metrics
from modelarts_operator.modelarts.auth import AkSkAuth, Credentials
from modelarts_operator.modelarts.client import ModelArtsClient
from modelarts_operator.modelarts.retry import RetryPolicy
from modelarts_operator.settings import OperatorSettings

CREDENTIALS = Credentials(access_key="AK", secret_key=SecretStr("SK"))


class HeldServer:
    """Answers every GET with a pool, but only once released; counts the exchanges in flight at once."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.most_at_once = 0
        self.release = asyncio.Event()
        self.changed = asyncio.Condition()

    async def handler(self, request: httpx.Request) -> httpx.Response:
        self.in_flight += 1
        self.most_at_once = max(self.most_at_once, self.in_flight)
        async with self.changed:
            self.changed.notify_all()
        try:
            await self.release.wait()
            return json_response(200, pool_json(request.url.path.rsplit("/", 1)[-1]))
        finally:
            self.in_flight -= 1


def client(http: httpx.AsyncClient, connections: asyncio.Semaphore | None, timeout: float = 10.0) -> ModelArtsClient:
    return ModelArtsClient(
        http,
        endpoint=ENDPOINT,
        project_id=PROJECT_ID,
        auth=AkSkAuth(CREDENTIALS),
        retry=RetryPolicy.never(),
        timeout=timeout,
        connections=connections,
    )


async def settle(server: HeldServer, at_once: int) -> None:
    async with asyncio.timeout(5), server.changed:
        await server.changed.wait_for(lambda: server.in_flight >= at_once)


async def test_two_clients_of_one_origin_share_its_connections() -> None:
    server = HeldServer()
    connections = asyncio.Semaphore(3)
    async with httpx.AsyncClient(transport=httpx.MockTransport(server.handler)) as http:
        first, second = client(http, connections), client(http, connections)
        calls = [asyncio.create_task((first if i % 2 else second).get_pool(f"pool-{i}")) for i in range(12)]
        await settle(server, 3)
        await asyncio.sleep(0.05)  # the nine others had every chance to start
        assert server.most_at_once == 3
        server.release.set()
        pools = await asyncio.gather(*calls)
    assert sorted(str(p.metadata.name) for p in pools) == sorted(f"pool-{i}" for i in range(12))
    assert server.most_at_once == 3


async def test_without_the_semaphore_nothing_holds_requests_back() -> None:
    server = HeldServer()
    async with httpx.AsyncClient(transport=httpx.MockTransport(server.handler)) as http:
        one = client(http, None)
        calls = [asyncio.create_task(one.get_pool(f"pool-{i}")) for i in range(12)]
        await settle(server, 12)
        server.release.set()
        await asyncio.gather(*calls)
    assert server.most_at_once == 12


async def test_waiting_for_a_connection_counts_against_the_attempts_timeout() -> None:
    server = HeldServer()
    connections = asyncio.Semaphore(1)
    async with httpx.AsyncClient(transport=httpx.MockTransport(server.handler)) as http:
        holder = asyncio.create_task(client(http, connections).get_pool("held"))
        await settle(server, 1)
        late = client(http, connections, timeout=0.2)
        try:
            await late.get_pool("late")
        except Exception as exc:  # a typed transport error, as for any attempt that ran out of time
            assert "0.2s" in str(exc)
        else:
            raise AssertionError("the call waiting for the only connection should have timed out")
        server.release.set()
        await holder
    assert server.most_at_once == 1


async def test_cloud_access_gives_each_origin_one_semaphore_as_large_as_its_pool() -> None:
    settings = OperatorSettings()
    cloud = CloudAccess(settings, LimiterRegistry(settings.rate_limit, settings.rate_burst), Metrics())
    try:
        a = cloud.client_for(ENDPOINT, PROJECT_ID, CREDENTIALS, "ns/a")
        b = cloud.client_for(ENDPOINT + "/", "another-project", CREDENTIALS, "ns/b", shared=True)
        other = cloud.client_for("https://modelarts.cn-east-3.myhuaweicloud.com", PROJECT_ID, CREDENTIALS, "ns/c")
        assert a._connections is not None and a._connections is b._connections
        assert other._connections is not None and other._connections is not a._connections
        held = [await a._connections.acquire() for _ in range(CONNECTIONS_PER_ORIGIN)]
        assert len(held) == CONNECTIONS_PER_ORIGIN and a._connections.locked()
    finally:
        await cloud.aclose()
