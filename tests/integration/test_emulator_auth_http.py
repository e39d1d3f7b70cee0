"""Signature verification over real HTTP: what the gateway refuses with 401, and what it lets through."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from emulator_helpers import SignedClient, pool_body, utc_now

from modelarts_emulator.config import EmulatorConfig
from modelarts_emulator.control_client import AsyncControlClient
from modelarts_emulator.server import RunningEmulator
from modelarts_operator.modelarts import signer


def assert_denied(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.json()["error_code"] == "APIGW.0301"
    assert response.json()["error_msg"].startswith("Incorrect IAM authentication information")


async def test_correct_signature_passes(api: SignedClient) -> None:
    assert (await api.list([("labelSelector", "os.modelarts/name=x y"), ("status", "created")])).status_code == 200


async def test_wrong_secret_key(api: SignedClient, control: AsyncControlClient) -> None:
    assert_denied(await api.request("GET", api.pools_path(), secret_key="wrong-secret"))
    # The denied request is recorded, with no credential material in it.
    (entry,) = await control.requests()
    assert entry["status"] == 401 and entry["access_key"] is None
    assert "wrong-secret" not in str(entry)


async def test_unknown_access_key(api: SignedClient) -> None:
    assert_denied(await api.request("GET", api.pools_path(), access_key="NOSUCHKEY"))


async def test_tampered_body(api: SignedClient, control: AsyncControlClient) -> None:
    signed = pool_body("pool-tamper", count=1)
    sent = pool_body("pool-tamper", count=99)
    import json

    response = await api.request("POST", api.pools_path(), json_body=signed, send_body=json.dumps(sent).encode())
    assert_denied(response)
    assert await control.pools() == []


async def test_stale_and_future_dates(api: SignedClient) -> None:
    assert_denied(await api.request("GET", api.pools_path(), sdk_date=utc_now() - timedelta(minutes=16)))
    assert_denied(await api.request("GET", api.pools_path(), sdk_date=utc_now() + timedelta(minutes=16)))
    assert (await api.request("GET", api.pools_path(), sdk_date=utc_now() - timedelta(minutes=10))).status_code == 200


@pytest.mark.parametrize("header", ["host", "x-sdk-date"])
async def test_host_and_date_must_be_signed(api: SignedClient, header: str) -> None:
    # Without x-sdk-date the project signer cannot sign at all, so that case signs host only by hand.
    if header == "host":
        response = await api.request("GET", api.pools_path(), drop_signed=["host"])
    else:
        response = await _signed_without_date(api)
    assert_denied(response)
    assert header in response.json()["error_msg"]


async def _signed_without_date(api: SignedClient) -> httpx.Response:
    host = httpx.URL(api.url).netloc.decode()
    date = signer.format_sdk_date()
    canonical = signer.canonical_request(
        "GET", api.pools_path(), [], {"host": host}, ["host"], signer.EMPTY_PAYLOAD_SHA256
    )
    signature = signer.compute_signature(api.secret_key, signer.string_to_sign(canonical, date))
    authorization = signer.authorization_value(api.access_key, ["host"], signature)
    return await api.http.get(api.url + api.pools_path(), headers={"X-Sdk-Date": date, "Authorization": authorization})


async def test_unsigned_request(http: httpx.AsyncClient, emulator: RunningEmulator) -> None:
    assert_denied(await http.get(f"{emulator.url}/v2/{emulator.project_id}/pools"))


async def test_signed_security_token_accepted(api: SignedClient) -> None:
    response = await api.request("GET", api.pools_path(), extra_headers={"X-Security-Token": "temporary-token"})
    assert response.status_code == 200
    unsigned = await api.request(
        "GET", api.pools_path(), extra_headers={"X-Security-Token": "t"}, drop_signed=["x-security-token"]
    )
    assert_denied(unsigned)


async def test_several_key_pairs(http: httpx.AsyncClient) -> None:
    from modelarts_emulator.server import running_emulator

    config = EmulatorConfig(credentials={"AK1": "sk-one", "AK2": "sk-two"})
    async with running_emulator(config) as emu:
        for ak, sk in (("AK1", "sk-one"), ("AK2", "sk-two")):
            client = SignedClient(http, url=emu.url, project_id=emu.project_id, access_key=ak, secret_key=sk)
            assert (await client.list()).status_code == 200
        crossed = SignedClient(http, url=emu.url, project_id=emu.project_id, access_key="AK1", secret_key="sk-two")
        assert_denied(await crossed.list())


async def test_token_auth_when_configured(http: httpx.AsyncClient) -> None:
    from modelarts_emulator.server import running_emulator

    async with running_emulator(EmulatorConfig(token="iam-token")) as emu:
        url = f"{emu.url}/v2/{emu.project_id}/pools"
        assert (await http.get(url, headers={"X-Auth-Token": "iam-token"})).status_code == 200
        assert_denied(await http.get(url, headers={"X-Auth-Token": "other"}))
