"""The gateway in front of the emulated ModelArts: access-key lockout and per-user throttling, on a fake clock."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from multidict import CIMultiDict

from modelarts_emulator.auth import Verifier
from modelarts_emulator.config import Gateway
from modelarts_emulator.errors import ApiError
from modelarts_emulator.gateway import AccessGate
from modelarts_operator.modelarts import signer

AK, SK = "GATEWAYTESTKEY000000", "gateway-test-secret"
OTHER_AK, OTHER_SK = "OTHERGATEWAYKEY00000", "other-secret"
START = 1_700_000_000.0
PATH = "/v2/p1/pools"
LOCKED = "Incorrect IAM authentication information: AK access failed to reach the limit,forbidden."


def gate(**settings: Any) -> AccessGate:
    verifier = Verifier(credentials={AK: SK, OTHER_AK: OTHER_SK}, token=None, max_clock_skew_seconds=900)
    return AccessGate(verifier, Gateway(**settings))


def headers(now: float, *, access_key: str = AK, secret_key: str = SK) -> CIMultiDict[str]:
    values = {"Host": "127.0.0.1:8080", "X-Sdk-Date": signer.format_sdk_date(datetime.fromtimestamp(now, UTC))}
    authorization = signer.sign(
        access_key=access_key, secret_key=secret_key, method="GET", path=PATH, query_pairs=[], headers=values, body=b""
    )
    return CIMultiDict({**values, "Authorization": authorization})


def admit(gateway: AccessGate, now: float, **signing: str) -> str:
    return gateway.admit(method="GET", raw_path=PATH, headers=headers(now, **signing), body=b"", now=now)


def refused(gateway: AccessGate, now: float, **signing: str) -> ApiError:
    with pytest.raises(ApiError) as caught:
        admit(gateway, now, **signing)
    return caught.value


def test_five_bad_signatures_lock_the_key_for_five_minutes_good_ones_included() -> None:
    gateway = gate(lockout_after=5, lockout_seconds=300)
    for second in range(5):
        error = refused(gateway, START + second, secret_key="wrong")
        assert error.error_msg != LOCKED  # the failures themselves say what failed
    locked = refused(gateway, START + 5)  # a correct signature now
    assert (locked.status, locked.error_code, locked.error_msg) == (401, "APIGW.0301", LOCKED)
    assert gateway.locked(START + 5) == {AK: START + 4 + 300}
    assert admit(gateway, START + 5, access_key=OTHER_AK, secret_key=OTHER_SK) == OTHER_AK  # other keys work
    assert refused(gateway, START + 303).error_msg == LOCKED
    assert admit(gateway, START + 304) == AK  # the lock ran out
    assert gateway.locked(START + 304) == {}


def test_a_success_resets_the_count() -> None:
    gateway = gate(lockout_after=3, lockout_seconds=60)
    for _ in range(2):
        refused(gateway, START, secret_key="wrong")
    admit(gateway, START)
    for _ in range(2):
        refused(gateway, START, secret_key="wrong")
    assert admit(gateway, START) == AK  # never three in a row


def test_no_lockout_unless_asked() -> None:
    gateway = gate()
    for _ in range(20):
        refused(gateway, START, secret_key="wrong")
    assert admit(gateway, START) == AK


def test_unknown_keys_are_never_counted_or_locked() -> None:
    gateway = gate(lockout_after=1)
    error = refused(gateway, START, access_key="NOSUCHKEY", secret_key="x")
    assert error.error_msg == (
        "Incorrect IAM authentication information: Get secretKey failed,ak:NOSUCHKEY,err:ak not exist"
    )
    assert gateway.locked(START) == {}


def test_throttling_per_caller_per_minute() -> None:
    gateway = gate(rate_limit_per_minute=3)
    for second in range(3):
        admit(gateway, START + second)
    throttled = refused(gateway, START + 10)
    assert (throttled.status, throttled.error_code, throttled.error_msg) == (
        429,
        "APIGW.0308",
        "The throttling threshold has been reached: policy user over ratelimit,limit:3,time:1 minute",
    )
    assert admit(gateway, START + 10, access_key=OTHER_AK, secret_key=OTHER_SK) == OTHER_AK  # per user
    assert admit(gateway, START + 60) == AK  # a new minute


def test_reset_forgets_locks_and_windows() -> None:
    gateway = gate(lockout_after=1, rate_limit_per_minute=1)
    admit(gateway, START, access_key=OTHER_AK, secret_key=OTHER_SK)
    refused(gateway, START, secret_key="wrong")
    gateway.reset()
    assert admit(gateway, START) == AK
    assert admit(gateway, START, access_key=OTHER_AK, secret_key=OTHER_SK) == OTHER_AK
