"""``SDK-HMAC-SHA256`` verification the way Huawei's API gateway does it, over the exact bytes received.

The canonical request is rebuilt from the path as received, the received query pairs, the headers the client
listed in ``SignedHeaders`` and the body's SHA-256 (or the literal ``UNSIGNED-PAYLOAD`` when the client
declared it with ``X-Sdk-Content-Sha256``, as Huawei's Python SDK does for non-JSON bodies), with the
emulator's own ``signature`` module (deliberately not the operator's signer; its docstring says why).
Failures answer 401 ``APIGW.0301`` "Incorrect IAM authentication information: ...", the gateway's code; the
message says which check failed. Like the gateway, an unknown access key ID is echoed back ("Get secretKey
failed,ak:<AK>,err:ak not exist"); a secret key or a signature never is. Lockout and throttling: ``gateway.py``.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import parse_qsl

from modelarts_emulator import signature
from modelarts_emulator.errors import GATEWAY_AUTH_FAILED, GATEWAY_AUTH_PREFIX, ApiError, unknown_access_key_msg

REQUIRED_SIGNED_HEADERS = ("host", "x-sdk-date")


@dataclass(frozen=True)
class Verifier:
    credentials: Mapping[str, str]
    token: str | None
    max_clock_skew_seconds: float

    def authenticate(
        self, *, method: str, raw_path: str, headers: Mapping[str, str], body: bytes, now: datetime
    ) -> str:
        """The caller's identity (its access key, or ``"token"``); raises a 401 ``ApiError`` otherwise."""
        authorization = headers.get("Authorization")
        if authorization is None and headers.get("X-Auth-Token") is not None:
            return self._token(headers["X-Auth-Token"])
        if authorization is None:
            raise _denied("no Authorization header")
        parsed = signature.parse_authorization(authorization)
        if parsed is None:
            raise _denied("the Authorization header is not SDK-HMAC-SHA256")
        signed = parsed.signed_headers
        if any(name != name.lower() for name in signed):
            raise _denied("SignedHeaders must be lowercase")
        missing = [name for name in REQUIRED_SIGNED_HEADERS if name not in signed]
        if missing:
            raise _denied(f"SignedHeaders must include {' and '.join(missing)}")
        if headers.get("X-Security-Token") is not None and "x-security-token" not in signed:
            raise _denied("X-Security-Token must be signed")
        absent = [name for name in signed if headers.get(name) is None]
        if absent:
            raise _denied(f"signed header {absent[0]} is missing from the request")
        try:
            sdk_date = signature.parse_sdk_date(headers[signature.HEADER_SDK_DATE])
        except ValueError:
            raise _denied("X-Sdk-Date is not in the format YYYYMMDDTHHMMSSZ") from None
        if abs((now - sdk_date).total_seconds()) > self.max_clock_skew_seconds:
            raise _denied("the request time (X-Sdk-Date) differs from the server time by more than 15 minutes")
        secret_key = self.credentials.get(parsed.access_key)
        if secret_key is None:
            raise ApiError(401, GATEWAY_AUTH_FAILED, unknown_access_key_msg(parsed.access_key))
        path, _, query = raw_path.partition("?")
        pairs = parse_qsl(query, keep_blank_values=True)
        signed_values = {name: headers[name] for name in signed}
        for payload_hash in _payload_hashes(headers, body):
            canonical = signature.canonical_request(method, path, pairs, signed_values, signed, payload_hash)
            expected = signature.signature(secret_key, canonical, headers[signature.HEADER_SDK_DATE])
            if hmac.compare_digest(expected, parsed.signature):
                return parsed.access_key
        raise _denied("verify aksk signature fail")

    def _token(self, token: str) -> str:
        if self.token is None or not hmac.compare_digest(token.encode(), self.token.encode()):
            raise _denied("the X-Auth-Token is invalid")
        return "token"


def _payload_hashes(headers: Mapping[str, str], body: bytes) -> list[str]:
    """The payload hashes a correct client may have signed.

    ``X-Sdk-Content-Sha256: UNSIGNED-PAYLOAD`` means the literal was signed; Huawei's Python SDK still
    signs the empty-body hash when there is no body, so both are accepted then.
    """
    if headers.get(signature.HEADER_CONTENT_SHA256) == signature.UNSIGNED_PAYLOAD:
        return [signature.UNSIGNED_PAYLOAD] + ([signature.EMPTY_PAYLOAD_SHA256] if not body else [])
    return [signature.payload_sha256(body)]


def _denied(reason: str) -> ApiError:
    return ApiError(401, GATEWAY_AUTH_FAILED, GATEWAY_AUTH_PREFIX + reason)
