"""The credentials Secret is read once however many objects ask for it at the same moment (operator restart)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from modelarts_operator.cloud import ConfigurationError, CredentialSource
from modelarts_operator.kube import ObjectGone
from modelarts_operator.resource.spec import ModelArtsPoolSpec
from modelarts_operator.settings import OperatorSettings

SPEC = ModelArtsPoolSpec.model_validate({
    "type": "Logical", "scope": ["Train"], "resources": [{"flavor": "modelarts.vm.cpu.8ud", "count": 1}],
    "credentialsSecretRef": {"name": "modelarts-credentials"},
})


class SlowSecrets:
    def __init__(self, data: dict[str, str] | None) -> None:
        self.data = data
        self.reads = 0

    async def read_secret(self, namespace: str, name: str) -> dict[str, str]:
        self.reads += 1
        await asyncio.sleep(0.05)
        if self.data is None:
            raise ObjectGone(f"{namespace}/{name}")
        return self.data


def source(kube: Any) -> CredentialSource:
    return CredentialSource(kube, OperatorSettings())


async def test_a_thousand_callers_one_read() -> None:
    kube = SlowSecrets({"accessKey": "AK", "secretKey": "SK"})
    credentials = source(kube)
    results = await asyncio.gather(*(credentials.for_object("ml", SPEC) for _ in range(1000)))
    assert kube.reads == 1
    assert {r.access_key for r in results} == {"AK"}
    await credentials.for_object("ml", SPEC)
    assert kube.reads == 1, "cached afterwards"
    credentials.forget("ml", SPEC)
    await credentials.for_object("ml", SPEC)
    assert kube.reads == 2


async def test_a_cancelled_caller_does_not_cancel_the_others() -> None:
    kube = SlowSecrets({"accessKey": "AK", "secretKey": "SK"})
    credentials = source(kube)
    first = asyncio.ensure_future(credentials.for_object("ml", SPEC))
    second = asyncio.ensure_future(credentials.for_object("ml", SPEC))
    await asyncio.sleep(0)
    first.cancel()
    assert (await second).access_key == "AK"
    assert kube.reads == 1


async def test_every_waiter_gets_the_error_and_the_next_call_reads_again() -> None:
    kube = SlowSecrets(None)
    credentials = source(kube)
    outcomes = await asyncio.gather(*(credentials.for_object("ml", SPEC) for _ in range(5)), return_exceptions=True)
    assert all(isinstance(o, ConfigurationError) for o in outcomes) and kube.reads == 1
    with pytest.raises(ConfigurationError):
        await credentials.for_object("ml", SPEC)
    assert kube.reads == 2
