"""Huawei Cloud ``SDK-HMAC-SHA256`` request signing, as pure functions.

The client signs with it (see ``auth.py``). The emulator verifies with its own implementation
(``modelarts_emulator.signature``), as the real gateway shares no code with us; both are checked against the
published test vectors and Huawei's own signer (the test oracle). The algorithm is the one of
``huaweicloudsdkcore.signer.signer.Signer`` and of golangsdk:

    CanonicalRequest = METHOD \\n CanonicalURI \\n CanonicalQuery \\n CanonicalHeaders \\n SignedHeaders \\n PayloadHash
    StringToSign     = SDK-HMAC-SHA256 \\n X-Sdk-Date \\n hex(sha256(CanonicalRequest))
    Signature        = hex(hmac_sha256(SK, StringToSign))

``CanonicalHeaders`` ends with a newline of its own, so an empty line separates it from ``SignedHeaders``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote, unquote

ALGORITHM = "SDK-HMAC-SHA256"
SDK_DATE_FORMAT = "%Y%m%dT%H%M%SZ"
HEADER_SDK_DATE = "X-Sdk-Date"
HEADER_CONTENT_SHA256 = "X-Sdk-Content-Sha256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
EMPTY_PAYLOAD_SHA256 = hashlib.sha256(b"").hexdigest()


def percent_encode(text: str) -> str:
    """Encode everything but ``A-Za-z0-9-_.~`` (space becomes ``%20``, ``/`` becomes ``%2F``)."""
    return quote(text, safe="~")


def canonical_uri(path: str) -> str:
    """Each segment decoded, then re-encoded; the canonical form always ends with ``/``."""
    encoded = "/".join(percent_encode(segment) for segment in unquote(path).split("/"))
    return encoded if encoded.endswith("/") else encoded + "/"


def canonical_query(pairs: Iterable[tuple[str, str]]) -> str:
    """Pairs sorted by key, and by value within a repeated key; keys and values encoded alike."""
    return "&".join(f"{percent_encode(key)}={percent_encode(value)}" for key, value in sorted(pairs))


def canonical_headers(headers: Mapping[str, str], signed_headers: Sequence[str]) -> str:
    lowered = {name.lower(): value.strip() for name, value in headers.items()}
    return "".join(f"{name}:{lowered[name]}\n" for name in signed_headers)


def payload_sha256(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def canonical_request(
    method: str,
    path: str,
    query_pairs: Iterable[tuple[str, str]],
    headers: Mapping[str, str],
    signed_headers: Sequence[str],
    payload_hash: str,
) -> str:
    return "\n".join(
        [
            method.upper(),
            canonical_uri(path),
            canonical_query(query_pairs),
            canonical_headers(headers, signed_headers),
            ";".join(signed_headers),
            payload_hash,
        ]
    )


def string_to_sign(canonical: str, sdk_date: str) -> str:
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    return f"{ALGORITHM}\n{sdk_date}\n{digest}"


def compute_signature(secret_key: str, text_to_sign: str) -> str:
    return hmac.new(secret_key.encode("utf-8"), text_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def format_sdk_date(moment: datetime | None = None) -> str:
    return (moment or datetime.now(UTC)).astimezone(UTC).strftime(SDK_DATE_FORMAT)


def parse_sdk_date(value: str) -> datetime:
    return datetime.strptime(value, SDK_DATE_FORMAT).replace(tzinfo=UTC)


def authorization_value(access_key: str, signed_headers: Sequence[str], signature: str) -> str:
    return f"{ALGORITHM} Access={access_key}, SignedHeaders={';'.join(signed_headers)}, Signature={signature}"


@dataclass(frozen=True)
class ParsedAuthorization:
    access_key: str
    signed_headers: tuple[str, ...]
    signature: str


_AUTHORIZATION = re.compile(
    r"^SDK-HMAC-SHA256\s+Access=(?P<ak>[^,\s]+),\s*SignedHeaders=(?P<sh>[^,\s]+),\s*Signature=(?P<sig>[0-9a-f]+)$"
)


def parse_authorization(value: str) -> ParsedAuthorization | None:
    """The parts of an ``Authorization`` header, or ``None`` when it is not an SDK-HMAC-SHA256 one."""
    match = _AUTHORIZATION.match(value.strip())
    if match is None:
        return None
    return ParsedAuthorization(
        access_key=match["ak"], signed_headers=tuple(match["sh"].split(";")), signature=match["sig"]
    )


def sign(
    *,
    access_key: str,
    secret_key: str,
    method: str,
    path: str,
    query_pairs: Iterable[tuple[str, str]],
    headers: Mapping[str, str],
    body: bytes,
) -> str:
    """The ``Authorization`` value for a request whose headers already hold ``Host`` and ``X-Sdk-Date``.

    Every header given is signed, so the caller chooses what to sign by what it passes.
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    signed_headers = sorted(lowered)
    canonical = canonical_request(method, path, query_pairs, lowered, signed_headers, payload_sha256(body))
    signature = compute_signature(secret_key, string_to_sign(canonical, lowered[HEADER_SDK_DATE.lower()]))
    return authorization_value(access_key, signed_headers, signature)
