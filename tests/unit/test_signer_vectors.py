"""The official SDK-HMAC-SHA256 test vectors from modelarts-api.md, section 7."""

from __future__ import annotations

import pytest

from modelarts_operator.modelarts import signer


@pytest.mark.parametrize(
    ("method", "path", "query", "headers", "body", "expected"),
    [
        pytest.param(
            "GET",
            "/resources",
            [("size", "1")],
            {"Host": "service.endpoint.myhuaweicloud.com", "X-Sdk-Date": "20200608T023900Z"},
            b"",
            "SDK-HMAC-SHA256 Access=AccessKey, SignedHeaders=host;x-sdk-date, "
            "Signature=cfb4171acec81de07d50e53d57eb77edd537414d66ddb1d7d780f128e12cd842",
            id="sdk-core-get",
        ),
        pytest.param(
            "POST",
            "/resources",
            [("size", "1")],
            {"Host": "service.endpoint.myhuaweicloud.com", "X-Sdk-Date": "20200608T023900Z"},
            b'{"name":"test","id":1}',
            "SDK-HMAC-SHA256 Access=AccessKey, SignedHeaders=host;x-sdk-date, "
            "Signature=436b1ac0a1ae03705934bb70ef2f2e09f7bfed2117d731a38235053199323a1f",
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
            "SDK-HMAC-SHA256 Access=AccessKey, SignedHeaders=content-type;host;x-project-id;x-sdk-date, "
            "Signature=3422cfbb5d07d2fb4519ce5a6a0af6ac066041f9d6366c683e7ac2488c1ed313",
            id="modelarts-delete",
        ),
    ],
)
def test_official_vectors(
    method: str, path: str, query: list[tuple[str, str]], headers: dict[str, str], body: bytes, expected: str
) -> None:
    got = signer.sign(
        access_key="AccessKey",
        secret_key="SecretKey",
        method=method,
        path=path,
        query_pairs=query,
        headers=headers,
        body=body,
    )
    assert got == expected


def test_hw_docs_guide_vector() -> None:
    got = signer.sign(
        access_key="QTWAOYTTINDUT2QVKYUC",
        secret_key="MFyfvK41ba2giqM7Uio6PznpdUKGpownRZlmVmHc",
        method="GET",
        path="/v1/77b6a44cba5143ab91d13ab9a8ff44fd/vpcs",
        query_pairs=[("limit", "2"), ("marker", "13551d6b-755d-4757-b956-536f674975c0")],
        headers={
            "Content-Type": "application/json",
            "Host": "service.region.example.com",
            "X-Sdk-Date": "20191115T033655Z",
        },
        body=b"",
    )
    assert got.endswith(
        "SignedHeaders=content-type;host;x-sdk-date, "
        "Signature=7be6668032f70418fcc22abc52071e57aff61b84a1d2381bb430d6870f4f6ebe"
    )


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
    assert signer.canonical_query(pairs) == (
        "enable=true&limit=1&multi=1&multi=2&multi=3&path=%2Ftmp%2F123&test=%E4%B8%80%20%28%26%3D%3F%21%23%25.%2A%29"
    )


def test_canonical_uri_always_ends_with_slash() -> None:
    assert signer.canonical_uri("/v2/p/pools") == "/v2/p/pools/"
    assert signer.canonical_uri("/v2/p/pools/") == "/v2/p/pools/"
    assert signer.canonical_uri("/a b/%7Ec") == "/a%20b/~c/"


def test_parse_authorization_round_trip() -> None:
    value = signer.authorization_value("AK", ["host", "x-sdk-date"], "ab12")
    parsed = signer.parse_authorization(value)
    assert parsed == signer.ParsedAuthorization("AK", ("host", "x-sdk-date"), "ab12")
    assert signer.parse_authorization("Bearer xyz") is None
