"""ModelArts requests wait for one of their origin's connection slots (``slots.Slots``, shared by every client of
that origin) and only then take the limiter's token: never inside httpcore's pool (whose rescans of its queue
cost the operator CPU in bursts of deletions), and never a token held while waiting for a connection (tokens taken
by hundreds of waiting requests went out together, above the limiter's rate at the gateway)."""

from __future__ import annotations

import asyncio
import functools

import httpx
from modelarts_fakes import ENDPOINT, PROJECT_ID, json_response, pool_json
from pydantic import SecretStr

from modelarts_operator.controller.cloud import CONNECTIONS_PER_ORIGIN, CloudAccess
from modelarts_operator.limiter import LimiterRegistry
from modelarts_operator.metrics import Metrics
from modelarts_operator.modelarts.auth import AkSkAuth, Credentials
from modelarts_operator.modelarts.client import BeforeRequest, ModelArtsClient
from modelarts_operator.modelarts.retry import RetryPolicy
from modelarts_operator.settings import OperatorSettings
from modelarts_operator.slots import Slots

CREDENTIALS = Credentials(access_key="AK", secret_key=SecretStr("SK"))


class HeldServer:
    """Answers every request with a pool, but only once released; records the order requests arrived in."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.most_at_once = 0
        self.arrived: list[str] = []
        self.release = asyncio.Event()
        self.changed = asyncio.Condition()

    async def handler(self, request: httpx.Request) -> httpx.Response:
        self.in_flight += 1
        self.most_at_once = max(self.most_at_once, self.in_flight)
        self.arrived.append(request.url.path.rsplit("/", 1)[-1])
        async with self.changed:
            self.changed.notify_all()
        try:
            await self.release.wait()
            if request.url.path.endswith("/pools"):
                return json_response(200, {"kind": "PoolList", "items": []})
            return json_response(200, pool_json(request.url.path.rsplit("/", 1)[-1]))
        finally:
            self.in_flight -= 1


def client(
    http: httpx.AsyncClient,
    slots: Slots | None,
    *,
    first: bool = False,
    before_request: BeforeRequest | None = None,
) -> ModelArtsClient:
    return ModelArtsClient(
        http,
        endpoint=ENDPOINT,
        project_id=PROJECT_ID,
        auth=AkSkAuth(CREDENTIALS),
        retry=RetryPolicy.never(),
        timeout=10.0,
        before_request=before_request,
        connection=functools.partial(slots.slot, background=not first) if slots is not None else None,
    )


async def settle(server: HeldServer, at_once: int) -> None:
    async with asyncio.timeout(5), server.changed:
        await server.changed.wait_for(lambda: server.in_flight >= at_once)


async def test_two_clients_of_one_origin_share_its_connection_slots() -> None:
    server = HeldServer()
    slots = Slots(3)
    async with httpx.AsyncClient(transport=httpx.MockTransport(server.handler)) as http:
        first, second = client(http, slots), client(http, slots)
        calls = [asyncio.create_task((first if i % 2 else second).get_pool(f"pool-{i}")) for i in range(12)]
        await settle(server, 3)
        await asyncio.sleep(0.05)  # the nine others had every chance to start
        assert server.most_at_once == 3
        server.release.set()
        pools = await asyncio.gather(*calls)
    assert sorted(str(p.metadata.name) for p in pools) == sorted(f"pool-{i}" for i in range(12))
    assert server.most_at_once == 3


async def test_without_slots_nothing_holds_requests_back() -> None:
    server = HeldServer()
    async with httpx.AsyncClient(transport=httpx.MockTransport(server.handler)) as http:
        one = client(http, None)
        calls = [asyncio.create_task(one.get_pool(f"pool-{i}")) for i in range(12)]
        await settle(server, 12)
        server.release.set()
        await asyncio.gather(*calls)
    assert server.most_at_once == 12


async def test_the_token_is_taken_only_once_a_connection_is_held() -> None:
    server = HeldServer()
    slots = Slots(1)
    tokens: list[int] = []  # requests in flight when each token was taken

    async def before_request(operation: str) -> None:
        tokens.append(server.in_flight)

    async with httpx.AsyncClient(transport=httpx.MockTransport(server.handler)) as http:
        one = client(http, slots, before_request=before_request)
        calls = [asyncio.create_task(one.get_pool(f"pool-{i}")) for i in range(3)]
        await settle(server, 1)
        await asyncio.sleep(0.05)
        assert tokens == [0]  # the two others wait for the connection without a token
        server.release.set()
        await asyncio.gather(*calls)
    assert tokens == [0, 0, 0]


async def test_the_shared_list_takes_the_next_free_connection_before_queued_object_calls() -> None:
    server = HeldServer()
    slots = Slots(1)
    async with httpx.AsyncClient(transport=httpx.MockTransport(server.handler)) as http:
        objects, lister = client(http, slots), client(http, slots, first=True)
        holder = asyncio.create_task(objects.get_pool("held"))
        await settle(server, 1)
        queued = [asyncio.create_task(objects.get_pool(f"pool-{i}")) for i in range(3)]
        await asyncio.sleep(0.01)
        listing = asyncio.create_task(lister.list_pools())
        await asyncio.sleep(0.01)
        server.release.set()
        await asyncio.gather(holder, listing, *queued)
    assert server.arrived == ["held", "pools", "pool-0", "pool-1", "pool-2"]


def slots_of(client: ModelArtsClient) -> Slots:
    assert isinstance(client._connection, functools.partial)
    found = getattr(client._connection.func, "__self__", None)
    assert isinstance(found, Slots)
    return found


async def test_cloud_access_gives_each_limiter_bucket_one_set_of_slots_as_large_as_the_pool() -> None:
    settings = OperatorSettings()
    cloud = CloudAccess(settings, LimiterRegistry(settings.rate_limit, settings.rate_burst), Metrics())
    try:
        a = cloud.client_for(ENDPOINT, PROJECT_ID, CREDENTIALS, "ns/a")
        lister = cloud.client_for(ENDPOINT + "/", PROJECT_ID, CREDENTIALS, "list:p", shared=True)
        neighbour = cloud.client_for(ENDPOINT, "another-project", CREDENTIALS, "ns/b")
        other = cloud.client_for("https://modelarts.cn-east-3.myhuaweicloud.com", PROJECT_ID, CREDENTIALS, "ns/c")
        slots = slots_of(a)
        assert slots_of(lister) is slots
        assert slots_of(neighbour) is not slots and slots_of(other) is not slots
        assert isinstance(a._connection, functools.partial) and isinstance(lister._connection, functools.partial)
        assert a._connection.keywords == {"background": True} and lister._connection.keywords == {"background": False}
        held = [a._connection() for _ in range(CONNECTIONS_PER_ORIGIN)]
        for context in held:
            await context.__aenter__()
        assert slots._free == 0
        for context in held:
            await context.__aexit__(None, None, None)
    finally:
        await cloud.aclose()


async def test_a_throttled_project_holding_its_slots_does_not_starve_another_project_of_the_same_endpoint() -> None:
    """Two tenants' projects behind one regional endpoint: one is paused by a 429 with more calls queued than there
    are connections (each holds a slot while it waits for its token); the other's call still goes at once."""
    settings = OperatorSettings()
    limiters = LimiterRegistry(settings.rate_limit, settings.rate_burst)
    cloud = CloudAccess(settings, limiters, Metrics())
    server = HeldServer()
    server.release.set()
    cloud._http[ENDPOINT] = httpx.AsyncClient(transport=httpx.MockTransport(server.handler))
    try:
        limiters.bucket_for(ENDPOINT, "throttled").penalize(60.0)
        throttled = [
            asyncio.create_task(cloud.client_for(ENDPOINT, "throttled", CREDENTIALS, f"a/{i}").get_pool(f"p-{i}"))
            for i in range(CONNECTIONS_PER_ORIGIN + 8)
        ]
        await asyncio.sleep(0.05)
        assert server.arrived == []  # all of them wait for the paused bucket
        neighbour = cloud.client_for(ENDPOINT, "another-project", CREDENTIALS, "b/x")
        async with asyncio.timeout(2):
            pool = await neighbour.get_pool("theirs")
        assert pool.metadata.name == "theirs"
        for task in throttled:
            task.cancel()
        await asyncio.gather(*throttled, return_exceptions=True)
    finally:
        await cloud.aclose()
