"""``tools.probe.run_probe`` against a fake ModelArts (``httpx.MockTransport``): what it reads, what it never
sends, and its exit status."""

from __future__ import annotations

import gzip
import json
from typing import Any

import httpx
import pytest
from probe_fakes import ACCESS_KEY, ENDPOINT, PROJECT_ID, SECRET_KEY, FakeCloud, json_response, pool, pool_list
from pydantic import SecretStr

from modelarts_operator.modelarts.auth import Credentials
from modelarts_operator.modelarts.retry import RetryPolicy
from modelarts_operator.tools.probe import ProbeResult, Target, choose_sample, run_probe
from modelarts_operator.tools.recording import RecordingTransport, WriteRefused

CREDENTIALS = Credentials(access_key=ACCESS_KEY, secret_key=SecretStr(SECRET_KEY))
TARGET = Target(endpoint=ENDPOINT, project_id=PROJECT_ID)


async def probe(cloud: FakeCloud, **options: Any) -> ProbeResult:
    return await run_probe(
        TARGET, CREDENTIALS, transport=httpx.MockTransport(cloud.handler), retry=RetryPolicy.never(), **options
    )


async def test_a_cloud_as_the_notes_describe_it_is_compatible_and_only_read() -> None:
    cloud = FakeCloud([pool("a-pool"), pool("b-pool", "Creating"), pool("c-pool")], failed=[pool("d-pool", None)])
    result = await probe(cloud, sample=2)
    assert result.exit_code == 0 and result.verdict == "compatible"
    assert [f.finding.kind for f in result.findings] == []
    assert (result.pools_listed, result.failed_listed) == (3, 1)
    assert {request.method for request in cloud.requests} == {"GET"}
    # As the operator lists: the default workspace, pages of 500; then the failed creations.
    assert cloud.requests[0].url.params["workspaceId"] == "0" and cloud.requests[0].url.params["limit"] == "500"
    assert cloud.requests[1].url.params["status"] == "failed"
    # One pool per phase first: a Creating pool tells more than a second Running one.
    assert result.sampled == [f"a-pool-{PROJECT_ID}", f"b-pool-{PROJECT_ID}"]
    assert [exchange.label for exchange in result.exchanges] == ["list", "list status=failed", "get", "get"]


async def test_refused_credentials_end_the_probe_after_one_request() -> None:
    cloud = FakeCloud([pool()])
    cloud.override = lambda request: json_response(
        401, {"error_code": "APIGW.0301", "error_msg": f"Get secretKey failed,ak:{ACCESS_KEY},err:ak not exist"}
    )
    result = await probe(cloud)
    assert result.exit_code == 2 and result.verdict == "unreachable"
    assert len(cloud.requests) == 1  # five failures would lock the key for five minutes
    assert result.unreachable is not None and ACCESS_KEY not in result.unreachable


async def test_a_connection_that_fails_is_unreachable() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    result = await run_probe(TARGET, CREDENTIALS, transport=httpx.MockTransport(refuse), retry=RetryPolicy.never())
    assert result.exit_code == 2 and "ConnectError" in (result.unreachable or "")


async def test_something_that_is_not_modelarts_is_unreachable() -> None:
    cloud = FakeCloud([pool()])
    cloud.override = lambda request: httpx.Response(
        404, content=b"<html>Not Found</html>", headers={"Content-Type": "text/html"}
    )
    result = await probe(cloud)
    assert result.exit_code == 2 and "not ModelArts JSON" in (result.unreachable or "")
    assert len(cloud.requests) == 1


async def test_a_list_the_operator_cannot_read_is_a_difference_and_the_pools_are_still_read() -> None:
    broken = pool("b-pool")
    del broken["spec"]
    cloud = FakeCloud([pool("a-pool"), broken])
    result = await probe(cloud, sample=3)
    assert result.exit_code == 1
    assert ("incompatible", "unreadable", "items[*].spec") in {
        (str(f.finding.severity), f.finding.kind, f.finding.field) for f in result.findings
    }
    assert len(result.sampled) == 2  # names taken from the raw answer


async def test_every_list_page_is_followed_and_paging_is_reported() -> None:
    def page(request: httpx.Request) -> httpx.Response | None:
        if request.url.path.endswith("/pools") and "status" not in request.url.params:
            if "continue" not in request.url.params:
                return json_response(200, pool_list(pool("a-pool")) | {"metadata": {"continue": "next"}})
            return json_response(200, pool_list(pool("b-pool")))
        return None

    cloud = FakeCloud([pool("a-pool"), pool("b-pool")])
    cloud.override = page
    result = await probe(cloud, sample=0)
    assert result.pools_listed == 2
    assert [(f.finding.kind, f.finding.field, f.count) for f in result.findings] == [("unknown-field", "metadata", 1)]


async def test_compressed_answers_are_recorded_decompressed() -> None:
    def gzipped(request: httpx.Request) -> httpx.Response | None:
        if request.url.path.endswith("/pools") and "status" not in request.url.params:
            body = gzip.compress(json.dumps(pool_list(pool())).encode())
            return httpx.Response(
                200, content=body, headers={"Content-Type": "application/json", "Content-Encoding": "gzip"}
            )
        return None

    cloud = FakeCloud([pool()])
    cloud.override = gzipped
    result = await probe(cloud, sample=0)
    assert result.exit_code == 0 and result.pools_listed == 1
    assert result.exchanges[0].json_body()["kind"] == "PoolList"


async def test_the_recording_transport_sends_nothing_but_get() -> None:
    sent: list[httpx.Request] = []

    def count(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return json_response(200, {})

    async with httpx.AsyncClient(transport=RecordingTransport(httpx.MockTransport(count), max_body_bytes=1024)) as http:
        for method in ("POST", "PATCH", "DELETE", "PUT"):
            with pytest.raises(WriteRefused):
                await http.request(method, f"{ENDPOINT}/v2/{PROJECT_ID}/pools/x", content=b"{}")
        assert (await http.get(f"{ENDPOINT}/v2/{PROJECT_ID}/pools")).status_code == 200
    assert [request.method for request in sent] == ["GET"]


def test_sample_prefers_one_pool_per_phase() -> None:
    pools = [("a", "Running"), ("b", "Running"), ("c", "Deleting"), ("d", "Abnormal")]
    assert choose_sample(pools, 3) == ["a", "c", "d"]
    assert choose_sample(pools, 5) == ["a", "c", "d", "b"]
    assert choose_sample(pools, 0) == []
