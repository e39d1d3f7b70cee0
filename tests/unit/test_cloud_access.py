"""Credentials and cloud access: one Secret read for a thousand callers, only Secrets marked for the operator,
values that are not text reported by key, and no call on credentials ModelArts has just refused."""

from __future__ import annotations

import asyncio
import base64

import pytest

from modelarts_operator.controller.cloud import (
    UNUSED_LOCK_SECONDS,
    ConfigurationError,
    CredentialStore,
    LockoutGuard,
    origin_of,
)
from modelarts_operator.controller.kube import ObjectGone, SecretData
from modelarts_operator.modelarts.errors import CredentialsLocked, Unauthorized
from modelarts_operator.reconcile.binding import CredentialsKind, CredentialsRef
from modelarts_operator.settings import OperatorSettings

TENANT = CredentialsRef(CredentialsKind.TENANT_SECRET, "ml", "modelarts-credentials")
PROJECT = CredentialsRef(CredentialsKind.PROJECT_SECRET, "modelarts-system", "team-a")
MARKED = {"modelarts.operator.dev/credentials": "true"}


class SlowSecrets:
    def __init__(self, data: dict[str, bytes] | None, labels: dict[str, str] | None = None) -> None:
        self.data = data
        self.labels = MARKED if labels is None else labels
        self.reads = 0

    async def read_secret(self, namespace: str, name: str) -> SecretData:
        self.reads += 1
        await asyncio.sleep(0.05)
        if self.data is None:
            raise ObjectGone(f"{namespace}/{name}")
        return SecretData(labels=self.labels, data=self.data)


def store(kube: object) -> CredentialStore:
    return CredentialStore(kube, OperatorSettings())  # type: ignore[arg-type]


async def test_a_thousand_callers_one_read() -> None:
    kube = SlowSecrets({"accessKey": b"AK", "secretKey": b"SK"})
    credentials = store(kube)
    results = await asyncio.gather(*(credentials.credentials(TENANT) for _ in range(1000)))
    assert kube.reads == 1
    assert {r.access_key for r in results} == {"AK"}
    await credentials.credentials(TENANT)
    assert kube.reads == 1, "cached afterwards"
    credentials.forget(TENANT)
    await credentials.credentials(TENANT)
    assert kube.reads == 2


async def test_a_cancelled_caller_does_not_cancel_the_others() -> None:
    kube = SlowSecrets({"accessKey": b"AK", "secretKey": b"SK"})
    credentials = store(kube)
    first = asyncio.ensure_future(credentials.credentials(TENANT))
    second = asyncio.ensure_future(credentials.credentials(TENANT))
    await asyncio.sleep(0)
    first.cancel()
    assert (await second).access_key == "AK"
    assert kube.reads == 1


async def test_every_waiter_gets_the_error_and_the_next_call_reads_again() -> None:
    kube = SlowSecrets(None)
    credentials = store(kube)
    outcomes = await asyncio.gather(*(credentials.credentials(TENANT) for _ in range(5)), return_exceptions=True)
    assert all(isinstance(o, ConfigurationError) for o in outcomes) and kube.reads == 1
    with pytest.raises(ConfigurationError):
        await credentials.credentials(TENANT)
    assert kube.reads == 2


async def test_a_tenant_secret_must_be_marked_for_the_operator() -> None:
    """A tenant who may create pools but not read Secrets cannot point the operator at a Secret nobody meant
    for it (security review F1b)."""
    unmarked = SlowSecrets({"accessKey": b"AK", "secretKey": b"SK"}, labels={})
    with pytest.raises(ConfigurationError, match=r"not labelled modelarts\.operator\.dev/credentials=true"):
        await store(unmarked).credentials(TENANT)
    # A ModelArtsProject's Secret is the platform's own choice: no label needed.
    assert (await store(unmarked).credentials(PROJECT)).access_key == "AK"


async def test_a_value_that_is_not_text_is_named_never_shown() -> None:
    binary = SlowSecrets({"accessKey": b"AK", "secretKey": b"\x82\xffsecret-bytes", "keystore": b"\x00\x01"})
    with pytest.raises(ConfigurationError) as caught:
        await store(binary).credentials(TENANT)
    message = str(caught.value)
    assert "secretKey is not UTF-8" in message and "secret-bytes" not in message and "\\x82" not in message
    # Other keys of the Secret (a keystore) are never decoded at all.
    text = SlowSecrets({"accessKey": b"AK", "secretKey": b"SK", "keystore": b"\x00\x82"})
    assert (await store(text).credentials(TENANT)).access_key == "AK"


async def test_secret_reads_decode_base64_without_failing_on_garbage() -> None:
    from modelarts_operator.controller.kube import KubeApi

    class Fake(KubeApi):
        def __init__(self) -> None:
            pass

        async def _request(self, method: str, path: str, **_: object) -> dict[str, object]:
            return {
                "metadata": {"labels": MARKED},
                "data": {"accessKey": base64.b64encode(b"AK").decode(), "secretKey": "%%%not-base64"},
            }

    secret = await Fake().read_secret("ml", "x")
    assert secret.data["accessKey"] == b"AK" and secret.data["secretKey"] != b""


async def test_operator_defaults_need_configured_keys() -> None:
    with pytest.raises(ConfigurationError, match="no credentials of its own"):
        await store(SlowSecrets(None)).credentials(CredentialsRef(CredentialsKind.OPERATOR_DEFAULTS))


def test_origins_key_pools_and_buckets_without_paths() -> None:
    assert origin_of("https://ModelArts.x.myhuaweicloud.com/some/path") == "https://modelarts.x.myhuaweicloud.com"
    assert origin_of("http://127.0.0.1:8080/a") == "http://127.0.0.1:8080"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_after_a_401_no_call_until_the_window_has_passed_then_one_probe() -> None:
    clock = Clock()
    guard = LockoutGuard(window_seconds=300, probe_timeout=60, clock=clock)
    guard.check("key", "get")
    guard.observed("key", "401")
    with pytest.raises(Unauthorized) as caught:
        guard.check("key", "get")
    # Refused without a call; the caller comes back within the Secret cache period, so a fixed Secret (other
    # credentials, not locked) is used long before the old key's window ends.
    assert isinstance(caught.value, CredentialsLocked)
    assert "locks an access key for 5 minutes" in str(caught.value) and caught.value.retry_after == 30
    clock.now += 299
    with pytest.raises(Unauthorized):
        guard.check("key", "list")
    clock.now += 2
    guard.check("key", "get")  # the probe goes
    with pytest.raises(Unauthorized):
        guard.check("key", "get")  # the others wait for its answer
    guard.observed("key", "401")  # refused again: another full window
    clock.now += 299
    with pytest.raises(Unauthorized):
        guard.check("key", "get")
    clock.now += 2
    guard.check("key", "get")
    guard.observed("key", "200")
    guard.check("key", "get")
    guard.check("key", "get")


def test_other_keys_and_other_answers_are_not_locked() -> None:
    guard = LockoutGuard(window_seconds=300, probe_timeout=60, clock=Clock())
    guard.observed("a", "401")
    guard.check("b", "get")
    for code in ("403", "429", "500", "transport_error"):
        guard.observed("c", code)
        guard.check("c", "get")


def test_credentials_nobody_uses_any_more_stop_counting_as_refused() -> None:
    """The Secret was fixed: the refused key's lock ends and no probe ever comes. It must not keep the
    ModelArtsCredentialsRefused alert firing forever."""
    clock = Clock()
    counts: list[int] = []
    guard = LockoutGuard(window_seconds=300, probe_timeout=60, clock=clock, on_change=counts.append)
    guard.observed("old", "401")
    guard.observed("other", "401")
    clock.now += 300 + UNUSED_LOCK_SECONDS - 1
    guard.check("other", "get")  # "other" is still in use: its probe goes after the window
    guard.check("new", "get")
    assert counts == [1, 2]
    clock.now += 2
    guard.check("new", "get")
    assert counts == [1, 2, 1], "the unused lock is forgotten, the probed one stays until its answer"
    guard.observed("other", "401")
    assert counts == [1, 2, 1]
