"""Retrying, the rate-limiter and metrics hooks, and what never leaks (credentials in errors and logs)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import httpx
import pytest
from modelarts_fakes import (
    ACCESS_KEY,
    PROJECT_ID,
    SECRET_KEY,
    SECURITY_TOKEN,
    FakeModelArts,
    MakeClient,
    RecordingSleep,
    json_response,
    pool_json,
)
from pydantic import SecretStr

from modelarts_operator.modelarts.auth import AkSkAuth, Credentials, TokenAuth
from modelarts_operator.modelarts.errors import (
    InvalidRequest,
    ModelArtsError,
    ServerError,
    Throttled,
    TransportError,
)
from modelarts_operator.modelarts.retry import RetryPolicy

POOL = "pool-ae01-" + PROJECT_ID


def server_error(status: int = 503) -> httpx.Response:
    return json_response(status, {"error_code": "ModelArts.50005000", "error_msg": "internal error"})


def throttled(retry_after: str | None = None) -> httpx.Response:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return json_response(429, {"error_code": "APIG.0308", "error_msg": "over ratelimit"}, headers)


def ok() -> httpx.Response:
    return json_response(200, pool_json())


# --- the policy on its own ------------------------------------------------------------------------


def test_backoff_is_exponential_capped_and_fully_jittered() -> None:
    draws = iter([0.5, 0.25, 1.0, 0.0])
    policy = RetryPolicy(base_delay=1.0, max_delay=5.0, random=lambda: next(draws))
    assert [policy.backoff(attempt) for attempt in (1, 2, 3, 4)] == [0.5, 0.5, 4.0, 0.0]
    steady = RetryPolicy(base_delay=1.0, max_delay=5.0, jitter=False)
    assert [steady.backoff(attempt) for attempt in (1, 2, 3, 4, 10)] == [1.0, 2.0, 4.0, 5.0, 5.0]


def test_retry_after_is_honoured_only_when_longer() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=8.0, jitter=False, max_retry_after=60.0)
    assert policy.delay(Throttled(operation="get", status_code=429, retry_after=30.0), 1) == 30.0
    assert policy.delay(Throttled(operation="get", status_code=429, retry_after=0.5), 3) == 4.0
    assert policy.delay(Throttled(operation="get", status_code=429, retry_after=None), 2) == 2.0
    assert policy.delay(ServerError(operation="get", status_code=429), 1) == 1.0


@pytest.mark.parametrize(
    ("operation", "error", "expected"),
    [
        ("get", ServerError(operation="get", status_code=500), True),
        ("list", Throttled(operation="list", status_code=429), True),
        ("delete", TransportError(operation="delete", request_sent=True), True),
        ("patch", ServerError(operation="patch", status_code=502), True),
        ("get", InvalidRequest(operation="get", status_code=400), False),
        ("get", Throttled(operation="get", status_code=429, retry_after=3600.0), False),
        ("create", ServerError(operation="create", status_code=500), False),
        ("create", Throttled(operation="create", status_code=429), False),
        ("create", TransportError(operation="create", request_sent=True), False),
        ("create", TransportError(operation="create", request_sent=False), True),
    ],
)
def test_should_retry(operation: str, error: ModelArtsError, expected: bool) -> None:
    policy = RetryPolicy(max_attempts=3)
    assert policy.should_retry(operation, error, 1) is expected
    assert policy.should_retry(operation, error, 3) is False  # out of attempts


def test_policy_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError, match="negative"):
        RetryPolicy(base_delay=-1)


# --- the client retrying --------------------------------------------------------------------------


@pytest.mark.parametrize("operation", ["get", "list", "delete", "patch"])
async def test_idempotent_calls_retry_5xx_429_and_transport_errors(
    fake: FakeModelArts, make_client: MakeClient, sleep: RecordingSleep, operation: str
) -> None:
    final = ok() if operation != "list" else json_response(200, {"apiVersion": "v2", "kind": "PoolList"})
    fake.reply(server_error(500), throttled(), httpx.ReadTimeout("read timed out"), final)
    client = make_client()
    calls: dict[str, Callable[[], Awaitable[object]]] = {
        "get": lambda: client.get_pool(POOL),
        "list": lambda: client.list_pools(),
        "delete": lambda: client.delete_pool(POOL),
        "patch": lambda: client.patch_pool(POOL, {"spec": {"scope": ["Train"]}}),
    }
    await calls[operation]()
    assert len(fake.requests) == 4
    assert sleep.delays == [1.0, 2.0, 4.0]  # base 1, doubling, no jitter in the fixture's policy
    # Every attempt is signed afresh over the same request.
    assert len({request.headers["Authorization"] for request in fake.requests}) == 1
    assert len({request.content for request in fake.requests}) == 1


async def test_retry_after_seconds_and_http_date_are_waited_out(
    fake: FakeModelArts, make_client: MakeClient, sleep: RecordingSleep
) -> None:
    # The HTTP date is in the past compared with the wall clock, so it reads as "now": the backoff wins.
    fake.reply(throttled("6"), throttled("Mon, 01 Jan 2024 00:00:05 GMT"), throttled("0.1"), ok())
    await make_client().get_pool(POOL)
    assert sleep.delays == [6.0, 2.0, 4.0]


async def test_retry_after_http_date_in_the_future(
    fake: FakeModelArts, make_client: MakeClient, sleep: RecordingSleep
) -> None:
    future = datetime.fromtimestamp(datetime.now(UTC).timestamp() + 40, UTC)
    header = future.strftime("%a, %d %b %Y %H:%M:%S GMT")
    fake.reply(throttled(header), ok())
    await make_client().get_pool(POOL)
    (delay,) = sleep.delays
    assert 30.0 < delay <= 40.0  # tolerant of a slow machine, yet clearly the header, not the 1 s backoff


async def test_retry_after_beyond_the_cap_is_raised_not_slept(
    fake: FakeModelArts, make_client: MakeClient, sleep: RecordingSleep
) -> None:
    fake.reply(throttled("3600"))
    with pytest.raises(Throttled) as caught:
        await make_client().get_pool(POOL)
    assert caught.value.retry_after == 3600.0
    assert sleep.delays == []


async def test_gives_up_after_max_attempts_with_the_last_error(
    fake: FakeModelArts, make_client: MakeClient, sleep: RecordingSleep
) -> None:
    fake.reply(server_error(500), server_error(502), throttled(), server_error(503))
    with pytest.raises(ServerError) as caught:
        await make_client().delete_pool(POOL)
    assert caught.value.status_code == 503
    assert len(fake.requests) == 4
    assert len(sleep.delays) == 3


async def test_invalid_requests_are_not_retried(
    fake: FakeModelArts, make_client: MakeClient, sleep: RecordingSleep
) -> None:
    fake.reply(json_response(400, {"error_code": "ModelArts.50004000", "error_msg": "bad"}))
    with pytest.raises(InvalidRequest):
        await make_client().patch_pool(POOL, {"spec": {}})
    assert len(fake.requests) == 1
    assert sleep.delays == []


@pytest.mark.parametrize(
    "failure",
    [
        server_error(500),
        server_error(503),
        throttled("1"),
        httpx.ReadTimeout("read timed out"),
        httpx.WriteTimeout("write timed out"),
        httpx.RemoteProtocolError("Server disconnected without sending a response"),
        httpx.ReadError("connection reset"),
    ],
    ids=["500", "503", "429", "read-timeout", "write-timeout", "disconnected", "reset"],
)
async def test_create_is_never_retried_once_it_may_have_arrived(
    fake: FakeModelArts, make_client: MakeClient, sleep: RecordingSleep, failure: httpx.Response | Exception
) -> None:
    fake.reply(failure, ok())
    with pytest.raises(ModelArtsError):
        await make_client().create_pool({"apiVersion": "v2", "kind": "Pool", "spec": {"type": "Logical"}})
    assert len(fake.requests) == 1
    assert sleep.delays == []


async def test_create_is_retried_when_the_connection_was_refused(
    fake: FakeModelArts, make_client: MakeClient, sleep: RecordingSleep
) -> None:
    fake.reply(httpx.ConnectError("Connection refused"), httpx.ConnectTimeout("timed out"), ok())
    pool = await make_client().create_pool({"apiVersion": "v2", "kind": "Pool", "spec": {"type": "Logical"}})
    assert pool.name == POOL
    assert len(fake.requests) == 3
    assert sleep.delays == [1.0, 2.0]


# --- hooks ----------------------------------------------------------------------------------------


async def test_before_request_and_observer_see_every_attempt(fake: FakeModelArts, make_client: MakeClient) -> None:
    events: list[str] = []

    async def before_request(operation: str) -> None:
        events.append(f"before:{operation}:{len(fake.requests)}")

    def observer(operation: str, status: str, seconds: float) -> None:
        assert seconds >= 0
        events.append(f"observed:{operation}:{status}:{len(fake.requests)}")

    fake.reply(throttled(), httpx.ConnectError("refused"), ok())
    await make_client(before_request=before_request, observer=observer).get_pool(POOL)
    assert events == [
        "before:get:0",
        "observed:get:429:1",
        "before:get:1",
        "observed:get:transport_error:2",
        "before:get:2",
        "observed:get:200:3",
    ]


async def test_a_failing_observer_does_not_fail_the_call(fake: FakeModelArts, make_client: MakeClient) -> None:
    def observer(operation: str, status: str, seconds: float) -> None:
        raise RuntimeError("metrics broke")

    fake.reply(ok())
    pool = await make_client(observer=observer).get_pool(POOL)
    assert pool.name == POOL


# --- secrets never leak ---------------------------------------------------------------------------


async def test_credentials_never_leak_into_errors_reprs_or_logs(
    fake: FakeModelArts, make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    credentials = Credentials(
        access_key=ACCESS_KEY, secret_key=SecretStr(SECRET_KEY), security_token=SecretStr(SECURITY_TOKEN)
    )
    client = make_client(auth=AkSkAuth(credentials))
    caplog.set_level(logging.DEBUG)  # every logger, httpx's included
    fake.reply(
        server_error(500),
        throttled(),
        httpx.ConnectError("refused"),
        server_error(503),  # get: 4 attempts
        json_response(401, {"error_code": "ModelArts.0201", "error_msg": "token expired"}),
        httpx.Response(404, text="<html>proxy page</html>"),
    )
    errors: list[ModelArtsError] = []
    calls = (lambda: client.get_pool(POOL), lambda: client.list_pools(), lambda: client.delete_pool(POOL))
    for call in calls:
        with pytest.raises(ModelArtsError) as caught:
            await call()
        errors.append(caught.value)

    sent = fake.requests[0]
    assert sent.headers["X-Security-Token"] == SECURITY_TOKEN  # really sent, so it could have leaked
    signature = sent.headers["Authorization"].rsplit("Signature=", 1)[1]
    texts = [str(error) for error in errors] + [repr(error) for error in errors]
    texts += [repr(credentials), str(credentials), repr(client), repr(AkSkAuth(credentials))]
    texts += [repr(TokenAuth("iam-token-secret-value"))]
    texts += [record.getMessage() for record in caplog.records]
    texts += [str(record.args) for record in caplog.records]
    assert any("attempt" in record.getMessage() for record in caplog.records)  # the log was really captured
    for text in texts:
        for secret in (SECRET_KEY, SECURITY_TOKEN, signature, "iam-token-secret-value", "Authorization"):
            assert secret not in text, (secret, text)
