"""``ModelArtsClient`` against a scripted fake server: requests on the wire, parsing, typed errors."""

from __future__ import annotations

import copy
import json
import pickle
from datetime import UTC, datetime

import httpx
import pytest
from modelarts_fakes import (
    ACCESS_KEY,
    ENDPOINT,
    PROJECT_ID,
    SECRET_KEY,
    FakeModelArts,
    MakeClient,
    json_response,
    pool_json,
)

from modelarts_operator.modelarts import signer
from modelarts_operator.modelarts.auth import SIGNED_HEADERS, TokenAuth, raw_path
from modelarts_operator.modelarts.client import default_endpoint, make_http_client
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
    error_from_response,
    parse_retry_after,
)
from modelarts_operator.modelarts.models import Pool, PoolResource, PoolSpec
from modelarts_operator.modelarts.retry import RetryPolicy

POOL = "pool-ae01-" + PROJECT_ID
POOLS_PATH = f"/v2/{PROJECT_ID}/pools"


def assert_signed(request: httpx.Request) -> None:
    """The Authorization header verifies: recompute it from what was sent, over the headers it names."""
    parsed = signer.parse_authorization(request.headers["Authorization"])
    assert parsed is not None
    assert parsed.access_key == ACCESS_KEY
    assert {"host", "x-sdk-date", "x-project-id", "content-type"} <= set(parsed.signed_headers)
    assert set(parsed.signed_headers) <= set(SIGNED_HEADERS)
    expected = signer.sign(
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
        method=request.method,
        path=raw_path(request.url),
        query_pairs=request.url.params.multi_items(),
        headers={name: request.headers[name] for name in parsed.signed_headers},
        body=request.content,
    )
    assert request.headers["Authorization"] == expected


def assert_common_headers(request: httpx.Request, content_type: str = "application/json") -> None:
    assert request.headers["X-Project-Id"] == PROJECT_ID
    assert request.headers["Content-Type"] == content_type
    assert request.headers["X-Sdk-Date"] == "20240101T000000Z"
    assert_signed(request)


# --- requests on the wire -------------------------------------------------------------------------


async def test_get_pool(fake: FakeModelArts, make_client: MakeClient) -> None:
    fake.reply(json_response(200, pool_json(), {"X-Request-Id": "req-1"}))
    pool = await make_client().get_pool(POOL)

    (request,) = fake.requests
    assert request.method == "GET"
    assert str(request.url) == f"{ENDPOINT}{POOLS_PATH}/{POOL}"
    assert request.content == b""
    assert_common_headers(request)
    assert pool.name == POOL
    assert pool.phase == "Running"
    assert pool.metadata.display_name == "pool-ae01"
    assert pool.spec.resources[0].max_count == 1


async def test_create_pool_from_model_sends_no_status(fake: FakeModelArts, make_client: MakeClient) -> None:
    created = pool_json(phase=None)
    created["status"] = {"resources": {}}
    fake.reply(json_response(200, created))
    body = Pool(
        metadata={"labels": {"os.modelarts/name": "pool-ae01"}},
        spec=PoolSpec(
            type="Dedicate",
            scope=["Train"],
            resources=[PoolResource(flavor="modelarts.vm.cpu.8ud", count=1)],
            network={"name": "net-01"},
        ),
    )
    pool = await make_client().create_pool(body)

    (request,) = fake.requests
    assert request.method == "POST"
    assert str(request.url) == f"{ENDPOINT}{POOLS_PATH}"
    assert_common_headers(request)
    assert json.loads(request.content) == {
        "apiVersion": "v2",
        "kind": "Pool",
        "metadata": {"labels": {"os.modelarts/name": "pool-ae01"}, "annotations": {}},
        "spec": {
            "type": "Dedicate",
            "scope": ["Train"],
            "resources": [{"flavor": "modelarts.vm.cpu.8ud", "count": 1}],
            "network": {"name": "net-01"},
        },
    }
    assert pool.name == POOL
    assert pool.phase is None  # the create answer has no phase


async def test_create_pool_from_dict_sends_it_unchanged(fake: FakeModelArts, make_client: MakeClient) -> None:
    fake.reply(json_response(201, pool_json(phase=None)))
    body = {
        "apiVersion": "v2",
        "kind": "Pool",
        "metadata": {"labels": {"os.modelarts/name": "名字 x"}},
        "spec": {"type": "Logical", "scope": ["Infer"], "resources": []},
    }
    await make_client().create_pool(body)
    (request,) = fake.requests
    assert json.loads(request.content) == body
    assert_signed(request)


async def test_list_pools_without_and_with_filters(fake: FakeModelArts, make_client: MakeClient) -> None:
    listing = {"apiVersion": "v2", "kind": "PoolList", "items": [pool_json(), pool_json(name="pool-b")]}
    fake.reply(json_response(200, listing), json_response(200, {"apiVersion": "v2", "kind": "PoolList"}))
    client = make_client()

    pools = await client.list_pools()
    assert [pool.name for pool in pools] == [POOL, "pool-b"]
    assert (
        await client.list_pools(workspace_id="0", label_selector="os.modelarts/name=pool ae01", status="created") == []
    )

    plain, filtered = fake.requests
    assert str(plain.url) == f"{ENDPOINT}{POOLS_PATH}"
    assert filtered.url.path == POOLS_PATH
    assert dict(filtered.url.params) == {
        "workspaceId": "0",
        "labelSelector": "os.modelarts/name=pool ae01",
        "status": "created",
    }
    for request in fake.requests:
        assert request.method == "GET"
        assert_common_headers(request)


async def test_patch_pool_sends_merge_patch(fake: FakeModelArts, make_client: MakeClient) -> None:
    fake.reply(json_response(200, pool_json()))
    patch = {"spec": {"resources": [{"flavor": "modelarts.vm.cpu.4ud", "count": 3}]}}
    await make_client().patch_pool(POOL, patch)
    (request,) = fake.requests
    assert request.method == "PATCH"
    assert request.url.path == f"{POOLS_PATH}/{POOL}"
    assert json.loads(request.content) == patch
    assert_common_headers(request, content_type="application/merge-patch+json")


async def test_delete_pool_returns_the_snapshot(fake: FakeModelArts, make_client: MakeClient) -> None:
    snapshot = pool_json()
    snapshot["metadata"]["deletionTimestamp"] = "1700000100000"
    fake.reply(json_response(200, snapshot))
    pool = await make_client().delete_pool(POOL)
    (request,) = fake.requests
    assert request.method == "DELETE"
    assert request.url.path == f"{POOLS_PATH}/{POOL}"
    assert request.content == b""
    assert_common_headers(request)
    assert pool.metadata.deletion_timestamp == "1700000100000"


async def test_pool_names_are_path_escaped(fake: FakeModelArts, make_client: MakeClient) -> None:
    fake.reply(json_response(200, pool_json()))
    await make_client().get_pool("a b/../c?d#é%41")
    (request,) = fake.requests
    assert raw_path(request.url) == f"{POOLS_PATH}/a%20b%2F..%2Fc%3Fd%23%C3%A9%2541"
    assert request.url.query == b""
    assert_signed(request)


async def test_endpoint_path_prefix_and_trailing_slash(fake: FakeModelArts, make_client: MakeClient) -> None:
    fake.reply(json_response(200, pool_json()))
    await make_client(endpoint="http://127.0.0.1:8080/modelarts/").get_pool(POOL)
    (request,) = fake.requests
    assert str(request.url) == f"http://127.0.0.1:8080/modelarts{POOLS_PATH}/{POOL}"
    assert request.headers["Host"] == "127.0.0.1:8080"
    assert_signed(request)


async def test_token_auth_sends_x_auth_token(fake: FakeModelArts, make_client: MakeClient) -> None:
    fake.reply(json_response(200, pool_json()))
    await make_client(auth=TokenAuth("iam-token-value")).get_pool(POOL)
    (request,) = fake.requests
    assert request.headers["X-Auth-Token"] == "iam-token-value"
    assert "Authorization" not in request.headers
    assert request.headers["X-Project-Id"] == PROJECT_ID


async def test_empty_pool_name_is_refused(make_client: MakeClient) -> None:
    with pytest.raises(ValueError, match="must not be empty"):
        await make_client().get_pool("")


def test_default_endpoint() -> None:
    assert default_endpoint("cn-north-4") == "https://modelarts.cn-north-4.myhuaweicloud.com"


async def test_make_http_client_verifies_tls() -> None:
    async with make_http_client() as client:
        assert client.follow_redirects is False
        assert client.timeout.read == 30.0
    with pytest.raises(FileNotFoundError):
        make_http_client(verify="/nonexistent/ca-bundle.pem")


# --- typed errors ---------------------------------------------------------------------------------


def error_body(code: str, msg: str) -> dict[str, str]:
    return {"error_code": code, "error_msg": msg}


@pytest.mark.parametrize(
    ("operation", "response", "error_type", "error_code"),
    [
        (
            "get",
            json_response(404, error_body("ModelArts.50015001", "pool not found")),
            PoolNotFound,
            "ModelArts.50015001",
        ),
        (
            "delete",
            json_response(404, error_body("ModelArts.50015001", "pool not found")),
            PoolNotFound,
            "ModelArts.50015001",
        ),
        (
            "create",
            json_response(409, error_body("ModelArts.50015000", "Pool already exists.")),
            PoolAlreadyExists,
            "ModelArts.50015000",
        ),
        (
            "create",
            json_response(400, error_body("ModelArts.50004000", "bad request")),
            InvalidRequest,
            "ModelArts.50004000",
        ),
        (
            "patch",
            json_response(400, error_body("ModelArts.50004100", "Content type not supported")),
            InvalidRequest,
            "ModelArts.50004100",
        ),
        # A 404 that names something else (the network) says nothing about the pool.
        (
            "create",
            json_response(404, error_body("ModelArts.50025001", "network not found")),
            InvalidRequest,
            "ModelArts.50025001",
        ),
        ("get", json_response(404, error_body("APIG.0101", "The API does not exist")), InvalidRequest, "APIG.0101"),
        (
            "patch",
            json_response(409, error_body("ModelArts.50019999", "conflict")),
            InvalidRequest,
            "ModelArts.50019999",
        ),
        (
            "get",
            json_response(401, error_body("ModelArts.50001000", "token invalid")),
            Unauthorized,
            "ModelArts.50001000",
        ),
        ("get", json_response(403, error_body("ModelArts.0203", "forbidden")), Forbidden, "ModelArts.0203"),
        ("get", json_response(429, error_body("APIG.0308", "over ratelimit")), Throttled, "APIG.0308"),
        ("get", json_response(500, error_body("ModelArts.50005000", "internal")), ServerError, "ModelArts.50005000"),
        ("delete", httpx.Response(503, text="<html>Service Unavailable</html>"), ServerError, None),
        (
            "get",
            httpx.Response(404, text="<html>not found</html>", headers={"Content-Type": "text/html"}),
            MalformedResponse,
            None,
        ),
        ("get", httpx.Response(400, text="bad"), MalformedResponse, None),
        ("get", httpx.Response(302, headers={"Location": "https://elsewhere/"}), MalformedResponse, None),
    ],
)
async def test_error_classes(
    fake: FakeModelArts,
    make_client: MakeClient,
    operation: str,
    response: httpx.Response,
    error_type: type[ModelArtsError],
    error_code: str | None,
) -> None:
    response.headers["X-Request-Id"] = "req-err-1"
    fake.reply(response)
    client = make_client(retry=RetryPolicy.never())
    calls = {
        "get": lambda: client.get_pool(POOL),
        "delete": lambda: client.delete_pool(POOL),
        "patch": lambda: client.patch_pool(POOL, {"spec": {}}),
        "create": lambda: client.create_pool({"spec": {}}),
    }
    with pytest.raises(ModelArtsError) as caught:
        await calls[operation]()
    error = caught.value
    assert type(error) is error_type
    assert error.operation == operation
    assert error.status_code == response.status_code
    assert error.error_code == error_code
    assert error.request_id == "req-err-1"
    text = str(error)
    assert f"ModelArts {operation} failed" in text
    assert f"HTTP {response.status_code}" in text
    assert "req-err-1" in text
    if error_code:
        assert error_code in text
    assert error.retryable is (error_type in (Throttled, ServerError))


async def test_not_found_carries_the_message(fake: FakeModelArts, make_client: MakeClient) -> None:
    fake.reply(json_response(404, error_body("ModelArts.50015001", "pool not found")))
    with pytest.raises(PoolNotFound) as caught:
        await make_client().get_pool(POOL)
    assert caught.value.error_msg == "pool not found"
    assert str(caught.value) == "ModelArts get failed: HTTP 404: ModelArts.50015001: pool not found"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("7", 7.0),
        ("2.5", 2.5),
        ("-3", 0.0),
        ("Mon, 01 Jan 2024 00:00:30 GMT", 30.0),
        ("Sun, 31 Dec 2023 23:59:00 GMT", 0.0),
        ("soon", None),
        ("nan", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, now=datetime(2024, 1, 1, tzinfo=UTC)) == expected


@pytest.mark.parametrize(("header", "expected"), [("12", 12.0), ("Mon, 01 Jan 2024 00:00:05 GMT", 5.0)])
def test_throttled_carries_retry_after(header: str, expected: float) -> None:
    response = json_response(429, error_body("APIG.0308", "over ratelimit"), {"Retry-After": header})
    error = error_from_response(response, "list", now=datetime(2024, 1, 1, tzinfo=UTC))
    assert isinstance(error, Throttled)
    assert error.retry_after == expected


@pytest.mark.parametrize(
    "body",
    [
        b"<html>gateway</html>",
        b"[1, 2]",
        b'{"apiVersion": "v2", "kind": "Pool", "metadata": {}}',  # no spec
        b'{"spec": {"type": "Dedicate", "resources": [{"flavor": "x", "count": "many"}]}}',
        b"",
    ],
)
async def test_malformed_success_bodies(fake: FakeModelArts, make_client: MakeClient, body: bytes) -> None:
    fake.reply(httpx.Response(200, content=body, headers={"X-Request-Id": "req-bad"}))
    with pytest.raises(MalformedResponse) as caught:
        await make_client().get_pool(POOL)
    assert caught.value.status_code == 200
    assert caught.value.request_id == "req-bad"
    assert caught.value.retryable is False
    assert len(fake.requests) == 1  # a malformed answer is not retried
    assert "many" not in str(caught.value)  # the message says where, not what the values were


@pytest.mark.parametrize(
    ("exception", "request_sent"),
    [
        (httpx.ConnectError("Connection refused"), False),
        (httpx.ConnectTimeout("connect timed out"), False),
        (httpx.ReadTimeout("read timed out"), True),
        (httpx.RemoteProtocolError("Server disconnected"), True),
    ],
)
async def test_transport_errors(
    fake: FakeModelArts, make_client: MakeClient, exception: httpx.RequestError, request_sent: bool
) -> None:
    fake.reply(exception)
    with pytest.raises(TransportError) as caught:
        await make_client(retry=RetryPolicy.never()).get_pool(POOL)
    error = caught.value
    assert error.status_code is None
    assert error.request_sent is request_sent
    assert error.retryable is True
    assert type(exception).__name__ in str(error)
    assert str(error).startswith("ModelArts get failed")


@pytest.mark.parametrize(
    "error",
    [
        Throttled(retry_after=3.0, operation="get", status_code=429, error_code="APIG.0308", request_id="r"),
        TransportError("ConnectError: refused", operation="create", request_sent=False),
        PoolNotFound(operation="delete", status_code=404, error_code="ModelArts.50015001", error_msg="gone"),
    ],
)
def test_errors_survive_pickling_and_copying(error: ModelArtsError) -> None:
    for clone in (pickle.loads(pickle.dumps(error)), copy.deepcopy(error)):  # noqa: S301 (our own bytes)
        assert type(clone) is type(error)
        assert clone.__dict__ == error.__dict__
        assert str(clone) == str(error)
        assert clone.args == error.args
