"""Our SDK-HMAC-SHA256 signer and ``AkSkAuth`` against Huawei's own signer (huaweicloudsdkcore), the oracle.

Huawei's ``Signer`` hashes the real body only for ``application/json*`` (and bson) content types and signs
every header it is given whose name has no ``_``; the generated requests stay within that common ground.
"""

from __future__ import annotations

import string
from datetime import UTC, datetime
from types import SimpleNamespace
from urllib.parse import quote

import httpx
from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.signer.signer import Signer
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from modelarts_operator.modelarts import signer
from modelarts_operator.modelarts.auth import AkSkAuth, Credentials, raw_path

AK = "HPUAXXXXXXXXXXXXXXXX"
SK = "Zl7yZsOWtGQ0mYjYxxxxxxxxxxxxxxxxxxxxxxxx"

# Printable unicode without surrogates and control characters: spaces, reserved URL characters, CJK, emoji.
_text = st.characters(blacklist_categories=("Cs", "Cc"))
segments = st.text(_text, max_size=12)
query_pairs = st.lists(
    st.tuples(
        st.sampled_from(["a", "limit", "一", "x y", "k&=", "labelSelector"]) | st.text(_text, max_size=6),
        st.text(_text, max_size=10),
    ),
    max_size=6,
)
header_names = st.text(string.ascii_letters + string.digits + "-", min_size=1, max_size=12).filter(
    lambda name: name.lower() not in {"host", "x-sdk-date", "content-type", "authorization"}
)
header_values = st.text(string.ascii_letters + string.digits + " ;,=/:-.", max_size=20)
methods = st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"])
bodies = st.binary(max_size=64) | st.text(_text, max_size=40).map(str.encode)
content_types = st.sampled_from([None, "application/json", "application/json;charset=UTF-8"])
hosts = st.sampled_from(
    ["modelarts.cn-north-4.myhuaweicloud.com", "127.0.0.1:8443", "modelarts.ap-southeast-1.myhuaweicloud.cn"]
)
dates = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 1, 1)).map(
    lambda moment: moment.replace(microsecond=0, tzinfo=UTC)
)


def huawei_authorization(
    method: str, path: str, query: list[tuple[str, str]], headers: dict[str, str], body: bytes, host: str
) -> str:
    request = SdkRequest(
        method=method,
        schema="https",
        host=host,
        resource_path=path,
        query_params=list(query),
        header_params=dict(headers),
        body=body,
    )
    signed = Signer(SimpleNamespace(ak=AK, sk=SK)).sign(request)
    return str(signed.header_params["Authorization"])


@settings(max_examples=300, deadline=None)
@given(
    method=methods,
    path_segments=st.lists(segments, max_size=5),
    query=query_pairs,
    extra_headers=st.dictionaries(header_names, header_values, max_size=4),
    body=bodies,
    content_type=content_types,
    host=hosts,
    moment=dates,
)
def test_sign_equals_huawei_signer(
    method: str,
    path_segments: list[str],
    query: list[tuple[str, str]],
    extra_headers: dict[str, str],
    body: bytes,
    content_type: str | None,
    host: str,
    moment: datetime,
) -> None:
    path = "/" + "/".join(quote(segment, safe="") for segment in path_segments)
    headers = {"Host": host, "X-Sdk-Date": signer.format_sdk_date(moment)}
    # Header names are case-insensitive: keep one spelling per name, as a real request would.
    seen = {name.lower() for name in headers}
    for name, value in extra_headers.items():
        if name.lower() not in seen:
            seen.add(name.lower())
            headers[name] = value
    if content_type is not None:
        headers["Content-Type"] = content_type

    ours = signer.sign(
        access_key=AK, secret_key=SK, method=method, path=path, query_pairs=query, headers=headers, body=body
    )
    assert ours == huawei_authorization(method, path, query, headers, body, host)


@settings(max_examples=200, deadline=None)
@example(  # a literal "%XX" in a segment: only the raw (still encoded) path signs it right
    method="GET",
    path_segments=["v2", "p%2Fq%41", "pools"],
    query=[("q", "%20")],
    body=b"",
    content_type=None,
    host="modelarts.cn-north-4.myhuaweicloud.com",
    moment=datetime(2024, 1, 1, tzinfo=UTC),
    project_id="p",
    security_token=None,
)
@given(
    method=methods,
    path_segments=st.lists(segments, min_size=1, max_size=4),
    query=query_pairs,
    body=bodies,
    content_type=content_types,
    host=hosts,
    moment=dates,
    project_id=st.text(string.ascii_lowercase + string.digits, min_size=1, max_size=32),
    security_token=st.none() | st.text(string.ascii_letters + string.digits + "+/=", min_size=1, max_size=40),
)
def test_aksk_auth_equals_huawei_signer(
    method: str,
    path_segments: list[str],
    query: list[tuple[str, str]],
    body: bytes,
    content_type: str | None,
    host: str,
    moment: datetime,
    project_id: str,
    security_token: str | None,
) -> None:
    """What ``AkSkAuth`` puts on an httpx request is what Huawei's signer computes for it, as sent."""
    path = "/" + "/".join(quote(segment, safe="") for segment in path_segments)
    headers = {"X-Project-Id": project_id, "User-Agent": "not-signed/1.0", "Accept": "*/*"}
    if content_type is not None:
        headers["Content-Type"] = content_type
    request = httpx.Request(method, f"https://{host}{path}", params=tuple(query), headers=headers, content=body)
    credentials = Credentials(
        access_key=AK,
        secret_key=SecretStr(SK),
        security_token=SecretStr(security_token) if security_token is not None else None,
    )
    AkSkAuth(credentials, clock=lambda: moment).sign_request(request)

    # httpx must send a query that decodes back to the pairs asked for (it groups repeated keys, which the
    # sorted canonical form does not see), or the server would verify other pairs than we signed.
    assert sorted(request.url.params.multi_items()) == sorted(query)
    expected_headers = {"Host": request.headers["Host"], "X-Sdk-Date": signer.format_sdk_date(moment)}
    expected_headers["X-Project-Id"] = project_id
    if content_type is not None:
        expected_headers["Content-Type"] = content_type
    if security_token is not None:
        expected_headers["X-Security-Token"] = security_token
        assert request.headers["X-Security-Token"] == security_token
    assert request.headers["Host"] == host.removesuffix(":443")
    assert request.headers["X-Sdk-Date"] == signer.format_sdk_date(moment)
    expected = huawei_authorization(method, raw_path(request.url), query, expected_headers, body, host)
    assert request.headers["Authorization"] == expected
    parsed = signer.parse_authorization(request.headers["Authorization"])
    assert parsed is not None
    assert "user-agent" not in parsed.signed_headers and "accept" not in parsed.signed_headers


def test_aksk_auth_host_drops_default_port_only() -> None:
    credentials = Credentials(access_key=AK, secret_key=SecretStr(SK))
    auth = AkSkAuth(credentials, clock=lambda: datetime(2024, 1, 1, tzinfo=UTC))
    for url, host in [
        ("https://modelarts.example.com:443/v2/p/pools", "modelarts.example.com"),
        ("http://127.0.0.1:80/v2/p/pools", "127.0.0.1"),
        ("http://127.0.0.1:8080/v2/p/pools", "127.0.0.1:8080"),
    ]:
        request = httpx.Request("GET", url)
        auth.sign_request(request)
        assert request.headers["Host"] == host
        assert request.headers["Authorization"] == huawei_authorization(
            "GET", "/v2/p/pools", [], {"Host": host, "X-Sdk-Date": "20240101T000000Z"}, b"", host
        )


def test_aksk_auth_matches_the_modelarts_vector() -> None:
    """modelarts-api.md section 7: the DELETE vector, produced through httpx and ``AkSkAuth``."""
    request = httpx.Request(
        "DELETE",
        "https://modelarts.cn-north-4.myhuaweicloud.com/v2/6f5da086876d4cd084d36f8bd3346036/pools/"
        "pool-ae01-6f5da086876d4cd084d36f8bd3346036",
        headers={"X-Project-Id": "6f5da086876d4cd084d36f8bd3346036", "Content-Type": "application/json"},
    )
    credentials = Credentials(access_key="AccessKey", secret_key=SecretStr("SecretKey"))
    AkSkAuth(credentials, clock=lambda: datetime(2024, 1, 1, tzinfo=UTC)).sign_request(request)
    assert request.headers["Authorization"] == (
        "SDK-HMAC-SHA256 Access=AccessKey, SignedHeaders=content-type;host;x-project-id;x-sdk-date, "
        "Signature=3422cfbb5d07d2fb4519ce5a6a0af6ac066041f9d6366c683e7ac2488c1ed313"
    )
