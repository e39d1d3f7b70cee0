"""The API gateway in front of ModelArts: who may call, and how often.

Before the signature is even checked, an access key that failed ``lockout_after`` times in a row is refused for
``lockout_seconds``, good signatures included, as Huawei's gateway does ("AK/SK authentication fails for more than
five consecutive times, and the AK/SK pair is locked for five minutes", API request signing guide). A successful
call resets the count. Only access keys the emulator knows are counted, so random keys cannot grow its memory.

After authentication, ``rate_limit_per_minute`` caps each caller's requests per minute (a fixed one-minute window
per identity, the gateway's "policy user" limit); over it, 429 ``APIGW.0308`` with the gateway's message.
Times are the world's clock (epoch seconds), so unit tests drive both with a fake clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from modelarts_emulator import signature
from modelarts_emulator.auth import Verifier
from modelarts_emulator.config import Gateway
from modelarts_emulator.errors import (
    GATEWAY_AUTH_FAILED,
    GATEWAY_LOCKED_MSG,
    GATEWAY_THROTTLED,
    ApiError,
    throttled_msg,
)

WINDOW_SECONDS = 60.0


@dataclass
class _Window:
    started: float
    requests: int


class AccessGate:
    def __init__(self, verifier: Verifier, settings: Gateway) -> None:
        self.verifier = verifier
        self.settings = settings
        self._failures: dict[str, int] = {}
        self._locked_until: dict[str, float] = {}
        self._windows: dict[str, _Window] = {}

    def admit(self, *, method: str, raw_path: str, headers: Mapping[str, str], body: bytes, now: float) -> str:
        """The caller's identity (its access key, or ``"token"``); raises a 401 or 429 ``ApiError`` otherwise."""
        claimed = _claimed_access_key(headers)
        if claimed is not None and self._locked(claimed, now):
            raise ApiError(401, GATEWAY_AUTH_FAILED, GATEWAY_LOCKED_MSG)
        try:
            identity = self.verifier.authenticate(
                method=method, raw_path=raw_path, headers=headers, body=body, now=datetime.fromtimestamp(now, UTC)
            )
        except ApiError:
            if claimed is not None and claimed in self.verifier.credentials:
                self._failed(claimed, now)
            raise
        self._failures.pop(identity, None)
        self._throttle(identity, now)
        return identity

    def locked(self, now: float) -> dict[str, float]:
        """Access keys locked at ``now`` and when each lock ends (for tests and the control API)."""
        return {key: until for key, until in self._locked_until.items() if until > now}

    def reset(self) -> None:
        self._failures.clear()
        self._locked_until.clear()
        self._windows.clear()

    def _locked(self, access_key: str, now: float) -> bool:
        until = self._locked_until.get(access_key)
        if until is None:
            return False
        if until > now:
            return True
        del self._locked_until[access_key]  # the lock expired: a fresh start
        return False

    def _failed(self, access_key: str, now: float) -> None:
        if self.settings.lockout_after <= 0:
            return
        failures = self._failures.get(access_key, 0) + 1
        if failures >= self.settings.lockout_after:
            self._locked_until[access_key] = now + self.settings.lockout_seconds
            failures = 0
        self._failures[access_key] = failures

    def _throttle(self, identity: str, now: float) -> None:
        limit = self.settings.rate_limit_per_minute
        if limit <= 0:
            return
        window = self._windows.get(identity)
        if window is None or now - window.started >= WINDOW_SECONDS:
            window = self._windows[identity] = _Window(started=now, requests=0)
        if window.requests >= limit:
            raise ApiError(429, GATEWAY_THROTTLED, throttled_msg(limit))
        window.requests += 1


def _claimed_access_key(headers: Mapping[str, str]) -> str | None:
    authorization = headers.get("Authorization")
    if authorization is None:
        return None
    parsed = signature.parse_authorization(authorization)
    return None if parsed is None else parsed.access_key
