"""The emulator's signature verification, with Huawei's own SDK signer as the oracle for what must pass."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.signer.signer import Signer
from hypothesis import given, settings
from hypothesis import strategies as st

from modelarts_emulator.auth import Verifier
from modelarts_emulator.errors import ApiError
from modelarts_operator.modelarts import signer

AK, SK = "EMULATORACCESSKEY000", "EmulatorSecretKeyForLocalDevelopment0000"
HOST = "127.0.0.1:8080"
NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
VERIFIER = Verifier(credentials={AK: SK, "OTHERKEY": "other-secret"}, token="tok-123", max_clock_skew_seconds=900)


class Headers(dict[str, str]):
    """Case-insensitive lookups, like the server's request headers."""

    def __init__(self, items: dict[str, str]) -> None:
        super().__init__({key.lower(): value for key, value in items.items()})

    def get(self, key: str, default: Any = None) -> Any:
        return super().get(key.lower(), default)

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())


def sdk_signed(
    method: str,
    path: str,
    query: list[tuple[str, Any]],
    body: bytes,
    content_type: str,
    *,
    sk: str = SK,
    extra: dict[str, str] | None = None,
) -> tuple[str, dict[str, str]]:
    """What huaweicloudsdkcore sends: the raw path+query and the headers, signed by its ``Signer``."""
    headers = {
        "Content-Type": content_type,
        "X-Project-Id": "p1",
        "X-Sdk-Date": signer.format_sdk_date(NOW),
        **(extra or {}),
    }
    request = SdkRequest(
        method=method,
        schema="http",
        host=HOST,
        resource_path=path,
        query_params=query,
        header_params=headers,
        body=body,
    )
    Signer(BasicCredentials(AK, sk)).sign(request)
    return request.uri, dict(request.header_params)


def verify(method: str, raw_path: str, headers: dict[str, str], body: bytes, now: datetime = NOW) -> str:
    return VERIFIER.authenticate(method=method, raw_path=raw_path, headers=Headers(headers), body=body, now=now)


def refused(method: str, raw_path: str, headers: dict[str, str], body: bytes, now: datetime = NOW) -> ApiError:
    with pytest.raises(ApiError) as caught:
        verify(method, raw_path, headers, body, now)
    assert caught.value.status == 401
    assert caught.value.error_code == "APIGW.0301"
    assert caught.value.error_msg.startswith("Incorrect IAM authentication information")
    return caught.value


@pytest.mark.parametrize(
    ("method", "query", "body", "content_type"),
    [
        ("GET", [], b"", "application/json"),
        (
            "GET",
            [("workspaceId", "0"), ("labelSelector", "os.modelarts/name=a b&c"), ("status", "created")],
            b"",
            "application/json",
        ),
        ("POST", [], b'{"apiVersion": "v2", "kind": "Pool"}', "application/json"),
        ("PATCH", [], b'{"spec": {}}', "application/json;charset=UTF-8"),
        # Non-JSON content types: the SDK signs UNSIGNED-PAYLOAD and says so in X-Sdk-Content-Sha256.
        ("PATCH", [], b'{"spec": {}}', "application/merge-patch+json"),
        ("DELETE", [], b"", "application/merge-patch+json"),
    ],
)
def test_huawei_sdk_signatures_pass(method: str, query: list[tuple[str, Any]], body: bytes, content_type: str) -> None:
    path = "/v2/p1/pools" if method in ("GET", "POST") else "/v2/p1/pools/pool-a-p1"
    uri, headers = sdk_signed(method, path, query, body, content_type)
    assert verify(method, uri, headers, body) == AK


def test_unsigned_payload_is_used_for_merge_patch_by_the_sdk() -> None:
    _, headers = sdk_signed("PATCH", "/v2/p1/pools/x", [], b"{}", "application/merge-patch+json")
    assert headers["X-Sdk-Content-Sha256"] == "UNSIGNED-PAYLOAD"


def test_project_signer_with_real_body_hash_passes() -> None:
    headers = {"Host": HOST, "X-Sdk-Date": signer.format_sdk_date(NOW), "Content-Type": "application/json"}
    body = b'{"a": 1}'
    headers["Authorization"] = signer.sign(
        access_key="OTHERKEY",
        secret_key="other-secret",
        method="POST",
        path="/v2/p1/pools",
        query_pairs=[],
        headers=headers,
        body=body,
    )
    assert verify("POST", "/v2/p1/pools", headers, body) == "OTHERKEY"


def test_wrong_secret_key() -> None:
    uri, headers = sdk_signed("GET", "/v2/p1/pools", [], b"", "application/json", sk="not-the-secret")
    error = refused("GET", uri, headers, b"")
    assert "signature" in error.error_msg
    assert "not-the-secret" not in error.error_msg and SK not in error.error_msg


def test_tampered_body() -> None:
    uri, headers = sdk_signed("POST", "/v2/p1/pools", [], b'{"count": 1}', "application/json")
    refused("POST", uri, headers, b'{"count": 9}')


def test_tampered_query_and_path() -> None:
    uri, headers = sdk_signed("GET", "/v2/p1/pools", [("status", "created")], b"", "application/json")
    refused("GET", uri.replace("created", "failed"), headers, b"")
    refused("GET", uri.replace("/p1/", "/p2/"), headers, b"")


def test_tampered_signed_header() -> None:
    uri, headers = sdk_signed("GET", "/v2/p1/pools", [], b"", "application/json")
    refused("GET", uri, {**headers, "X-Project-Id": "p2"}, b"")


@pytest.mark.parametrize("skew", [timedelta(minutes=16), -timedelta(minutes=16)])
def test_stale_or_future_date(skew: timedelta) -> None:
    uri, headers = sdk_signed("GET", "/v2/p1/pools", [], b"", "application/json")
    assert "15 minutes" in refused("GET", uri, headers, b"", now=NOW + skew).error_msg
    assert verify("GET", uri, headers, b"", now=NOW + skew / 16 * 14) == AK  # 14 minutes is fine


@pytest.mark.parametrize("left_out", ["host", "x-sdk-date"])
def test_host_and_date_must_be_signed(left_out: str) -> None:
    """A correct signature over fewer headers is still refused: host and x-sdk-date are mandatory."""
    headers = {"Host": HOST, "X-Sdk-Date": signer.format_sdk_date(NOW), "X-Project-Id": "p1"}
    lowered = {k.lower(): v for k, v in headers.items()}
    names = sorted(name for name in lowered if name != left_out)
    canonical = signer.canonical_request("GET", "/v2/p1/pools", [], lowered, names, signer.EMPTY_PAYLOAD_SHA256)
    signature = signer.compute_signature(SK, signer.string_to_sign(canonical, headers["X-Sdk-Date"]))
    authorization = signer.authorization_value(AK, names, signature)
    error = refused("GET", "/v2/p1/pools", {**headers, "Authorization": authorization}, b"")
    assert left_out in error.error_msg


def test_unknown_access_key_missing_or_foreign_authorization() -> None:
    uri, headers = sdk_signed("GET", "/v2/p1/pools", [], b"", "application/json")
    headers["Authorization"] = headers["Authorization"].replace(AK, "UNKNOWNKEY")
    # The gateway's own words, echoing the unknown access key ID (modelarts-api.md section 10).
    assert refused("GET", uri, headers, b"").error_msg == (
        "Incorrect IAM authentication information: Get secretKey failed,ak:UNKNOWNKEY,err:ak not exist"
    )
    refused("GET", uri, {k: v for k, v in headers.items() if k != "Authorization"}, b"")
    refused("GET", uri, {**headers, "Authorization": "Bearer abc"}, b"")


def test_security_token_must_be_signed() -> None:
    uri, headers = sdk_signed(
        "GET", "/v2/p1/pools", [], b"", "application/json", extra={"X-Security-Token": "temporary"}
    )
    assert verify("GET", uri, headers, b"") == AK
    headers = {"Host": HOST, "X-Sdk-Date": signer.format_sdk_date(NOW)}
    headers["Authorization"] = signer.sign(
        access_key=AK,
        secret_key=SK,
        method="GET",
        path="/v2/p1/pools",
        query_pairs=[],
        headers=headers,
        body=b"",
    )
    refused("GET", "/v2/p1/pools", {**headers, "X-Security-Token": "temporary"}, b"")


def test_token_auth_only_with_the_configured_token() -> None:
    assert verify("GET", "/v2/p1/pools", {"X-Auth-Token": "tok-123"}, b"") == "token"
    refused("GET", "/v2/p1/pools", {"X-Auth-Token": "tok-999"}, b"")
    no_token = Verifier(credentials={AK: SK}, token=None, max_clock_skew_seconds=900)
    with pytest.raises(ApiError):
        no_token.authenticate(
            method="GET", raw_path="/v2/p1/pools", headers=Headers({"X-Auth-Token": "x"}), body=b"", now=NOW
        )


query_text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=12)


@settings(max_examples=60, deadline=None)
@given(
    method=st.sampled_from(["GET", "POST", "PATCH", "DELETE"]),
    query=st.lists(st.tuples(query_text.filter(bool), query_text), max_size=4),
    body=st.binary(max_size=64),
    content_type=st.sampled_from(["application/json", "application/merge-patch+json"]),
)
def test_any_sdk_signed_request_passes_and_any_body_change_fails(
    method: str, query: list[tuple[str, str]], body: bytes, content_type: str
) -> None:
    uri, headers = sdk_signed(method, "/v2/p1/pools/pool-x-p1", list(query), body, content_type)
    assert verify(method, uri, headers, body) == AK
    if headers.get("X-Sdk-Content-Sha256") != "UNSIGNED-PAYLOAD":
        with pytest.raises(ApiError):
            verify(method, uri, headers, body + b" ")
