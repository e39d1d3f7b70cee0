"""The emulator's own gateway-side signature code against the published vectors (modelarts-api.md section 7).

The operator's signer passes the same vectors (test_signer_vectors.py); the two share no code.
"""

from __future__ import annotations

import pytest

from modelarts_emulator import signature

SDK_HOST = "service.endpoint.myhuaweicloud.com"


def sign(
    secret_key: str, method: str, path: str, query: list[tuple[str, str]], headers: dict[str, str], body: bytes
) -> tuple[str, str]:
    lowered = {name.lower(): value for name, value in headers.items()}
    signed = sorted(lowered)
    canonical = signature.canonical_request(method, path, query, lowered, signed, signature.payload_sha256(body))
    return ";".join(signed), signature.signature(secret_key, canonical, lowered["x-sdk-date"])


@pytest.mark.parametrize(
    ("method", "path", "query", "headers", "body", "secret_key", "expected"),
    [
        pytest.param(
            "GET",
            "/resources",
            [("size", "1")],
            {"Host": SDK_HOST, "X-Sdk-Date": "20200608T023900Z"},
            b"",
            "SecretKey",
            ("host;x-sdk-date", "cfb4171acec81de07d50e53d57eb77edd537414d66ddb1d7d780f128e12cd842"),
            id="sdk-core-get",
        ),
        pytest.param(
            "POST",
            "/resources",
            [("size", "1")],
            {"Host": SDK_HOST, "X-Sdk-Date": "20200608T023900Z"},
            b'{"name":"test","id":1}',
            "SecretKey",
            ("host;x-sdk-date", "436b1ac0a1ae03705934bb70ef2f2e09f7bfed2117d731a38235053199323a1f"),
            id="sdk-core-post",
        ),
        pytest.param(
            "DELETE",
            "/v2/6f5da086876d4cd084d36f8bd3346036/pools/pool-ae01-6f5da086876d4cd084d36f8bd3346036",
            [],
            {
                "Host": "modelarts.cn-north-4.myhuaweicloud.com",
                "X-Sdk-Date": "20240101T000000Z",
                "X-Project-Id": "6f5da086876d4cd084d36f8bd3346036",
                "Content-Type": "application/json",
            },
            b"",
            "SecretKey",
            (
                "content-type;host;x-project-id;x-sdk-date",
                "3422cfbb5d07d2fb4519ce5a6a0af6ac066041f9d6366c683e7ac2488c1ed313",
            ),
            id="modelarts-delete",
        ),
        pytest.param(
            "GET",
            "/v1/77b6a44cba5143ab91d13ab9a8ff44fd/vpcs",
            [("limit", "2"), ("marker", "13551d6b-755d-4757-b956-536f674975c0")],
            {
                "Content-Type": "application/json",
                "Host": "service.region.example.com",
                "X-Sdk-Date": "20191115T033655Z",
            },
            b"",
            "MFyfvK41ba2giqM7Uio6PznpdUKGpownRZlmVmHc",
            ("content-type;host;x-sdk-date", "7be6668032f70418fcc22abc52071e57aff61b84a1d2381bb430d6870f4f6ebe"),
            id="hw-docs-guide",
        ),
    ],
)
def test_published_vectors(
    method: str,
    path: str,
    query: list[tuple[str, str]],
    headers: dict[str, str],
    body: bytes,
    secret_key: str,
    expected: tuple[str, str],
) -> None:
    assert sign(secret_key, method, path, query, headers, body) == expected


def test_sdk_query_encoding_vector() -> None:
    pairs = [
        ("limit", "1"),
        ("enable", "true"),
        ("test", "一 (&=?!#%.*)"),
        ("path", "/tmp/123"),
        ("multi", "1"),
        ("multi", "3"),
        ("multi", "2"),
    ]
    canonical = signature.canonical_request("GET", "/", pairs, {}, [], "")
    assert canonical.split("\n")[2] == (
        "enable=true&limit=1&multi=1&multi=2&multi=3&path=%2Ftmp%2F123&test=%E4%B8%80%20%28%26%3D%3F%21%23%25.%2A%29"
    )


def test_parse_authorization() -> None:
    parsed = signature.parse_authorization("SDK-HMAC-SHA256 Access=AK, SignedHeaders=host;x-sdk-date, Signature=ab12")
    assert parsed == signature.Authorization("AK", ("host", "x-sdk-date"), "ab12")
    assert signature.parse_authorization("Bearer xyz") is None
