"""The gateway's side of ``SDK-HMAC-SHA256``: rebuild the canonical request from what arrived and sign it.

Written apart from the operator's signer on purpose: the emulator stands in for Huawei's gateway, which shares no
code with our client, so a mistake in the client's signer must show up as a 401 here rather than be mirrored by
the same mistake on both sides. Both implementations are checked against the published test vectors
(``modelarts-api.md`` section 7) and against requests signed by Huawei's own SDK.

    CanonicalRequest = METHOD \\n CanonicalURI \\n CanonicalQuery \\n CanonicalHeaders \\n SignedHeaders \\n PayloadHash
    StringToSign     = SDK-HMAC-SHA256 \\n X-Sdk-Date \\n hex(sha256(CanonicalRequest))
    Signature        = hex(hmac_sha256(SK, StringToSign))
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
HEADER_SDK_DATE = "X-Sdk-Date"
HEADER_CONTENT_SHA256 = "X-Sdk-Content-Sha256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
EMPTY_PAYLOAD_SHA256 = hashlib.sha256(b"").hexdigest()
_SDK_DATE_FORMAT = "%Y%m%dT%H%M%SZ"
_AUTHORIZATION = re.compile(
    r"^SDK-HMAC-SHA256\s+Access=(?P<ak>[^,\s]+),\s*SignedHeaders=(?P<sh>[^,\s]+),\s*Signature=(?P<sig>[0-9a-f]+)$"
)


@dataclass(frozen=True)
class Authorization:
    access_key: str
    signed_headers: tuple[str, ...]
    signature: str


def parse_authorization(value: str) -> Authorization | None:
    """The parts of an ``Authorization`` header, or ``None`` when it is not an SDK-HMAC-SHA256 one."""
    match = _AUTHORIZATION.match(value.strip())
    if match is None:
        return None
    return Authorization(access_key=match["ak"], signed_headers=tuple(match["sh"].split(";")), signature=match["sig"])


def parse_sdk_date(value: str) -> datetime:
    return datetime.strptime(value, _SDK_DATE_FORMAT).replace(tzinfo=UTC)


def _encode(text: str) -> str:
    # Only A-Za-z0-9-_.~ stay as they are; a space is %20 and a slash %2F.
    return quote(text, safe="~")


def _canonical_uri(path: str) -> str:
    segments = "/".join(_encode(segment) for segment in unquote(path).split("/"))
    return segments if segments.endswith("/") else segments + "/"


def _canonical_query(pairs: Iterable[tuple[str, str]]) -> str:
    return "&".join(f"{_encode(key)}={_encode(value)}" for key, value in sorted(pairs))


def canonical_request(
    method: str,
    path: str,
    query_pairs: Iterable[tuple[str, str]],
    headers: Mapping[str, str],
    signed_headers: Sequence[str],
    payload_hash: str,
) -> str:
    """``headers`` maps each signed (lowercase) name to the value received."""
    canonical_headers = "".join(f"{name}:{headers[name].strip()}\n" for name in signed_headers)
    return "\n".join(
        [
            method.upper(),
            _canonical_uri(path),
            _canonical_query(query_pairs),
            canonical_headers,
            ";".join(signed_headers),
            payload_hash,
        ]
    )


def signature(secret_key: str, canonical: str, sdk_date: str) -> str:
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    to_sign = f"{ALGORITHM}\n{sdk_date}\n{digest}"
    return hmac.new(secret_key.encode("utf-8"), to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def payload_sha256(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()
