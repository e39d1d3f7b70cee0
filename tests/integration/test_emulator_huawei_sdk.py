"""Huawei's official Python SDK against the emulator: its signatures must pass, its answers must parse.

The SDK is synchronous (``requests``), so each call runs in a worker thread while the emulator serves on the
test's event loop. It talks plain http to 127.0.0.1: ``with_endpoint`` keeps an explicit ``http://`` scheme.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from emulator_helpers import eventually
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkcore.http.http_config import HttpConfig
from huaweicloudsdkmodelarts.v1 import (
    CreatePoolRequest,
    CreatePoolRequestBody,
    DeletePoolRequest,
    ListPoolsRequest,
    ModelArtsClient,
    PatchPoolRequest,
    PoolLabelsCreation,
    PoolMetadataCreation,
    PoolResourceFlavor,
    PoolSpecCreation,
    PoolSpecCreationNetwork,
    PoolSpecUpdate,
    PoolSpecUpdateResources,
    PoolUpdateRequest,
    ShowPoolRequest,
)

from modelarts_emulator.config import Behaviour, EmulatorConfig, Timings
from modelarts_emulator.control_client import AsyncControlClient
from modelarts_emulator.server import RunningEmulator

T = TypeVar("T")
FLAVOR = "modelarts.vm.cpu.8ud"


@pytest.fixture
def sdk(emulator: RunningEmulator) -> ModelArtsClient:
    config = HttpConfig.get_default_config()
    config.retry_times = 0
    config.timeout = 10
    return (
        ModelArtsClient.new_builder()
        .with_http_config(config)
        .with_credentials(BasicCredentials(emulator.access_key, emulator.secret_key, emulator.project_id))
        .with_endpoint(emulator.url)
        .build()
    )


async def call(function: Callable[..., T], *args: Any) -> T:
    return await asyncio.to_thread(function, *args)


def create_request(display: str, count: int = 1) -> CreatePoolRequest:
    return CreatePoolRequest(
        body=CreatePoolRequestBody(
            api_version="v2",
            kind="Pool",
            metadata=PoolMetadataCreation(labels=PoolLabelsCreation(os_modelarts_name=display)),
            spec=PoolSpecCreation(
                type="Dedicate",
                scope=["Train"],
                resources=[PoolResourceFlavor(flavor=FLAVOR, count=count)],
                network=PoolSpecCreationNetwork(name="network-sdk"),
            ),
        )
    )


async def test_sdk_lifecycle(sdk: ModelArtsClient, control: AsyncControlClient) -> None:
    created = await call(sdk.create_pool, create_request("pool-sdk", count=2))
    assert created.status_code == 200
    name = created.metadata.name
    assert name.startswith("pool-sdk-")

    shown = await eventually(
        lambda: call(sdk.show_pool, ShowPoolRequest(pool_name=name)), lambda r: r.status.phase == "Running"
    )
    assert json.loads(shown.raw_content)["status"]["resources"]["available"][0]["count"] == 2

    listed = await call(
        sdk.list_pools,
        ListPoolsRequest(label_selector="os.modelarts/name=pool-sdk", workspace_id="0", status="created"),
    )
    assert [item.metadata.name for item in listed.items] == [name]

    deleted = await call(sdk.delete_pool, DeletePoolRequest(pool_name=name))
    assert deleted.status_code == 200 and deleted.metadata.deletion_timestamp

    def gone() -> int:
        try:
            sdk.show_pool(ShowPoolRequest(pool_name=name))
        except ClientRequestException as error:
            assert error.error_code == "ModelArts.50015001"
            return int(error.status_code)
        return 200

    await eventually(lambda: call(gone), lambda status: status == 404)
    # Every SDK request passed signature verification (none was a 401).
    assert {entry["status"] for entry in await control.requests()} <= {200, 404}
    assert {entry["operation"] for entry in await control.requests()} == {"create", "show", "list", "delete"}


async def test_sdk_patch_sends_json_and_is_refused(sdk: ModelArtsClient) -> None:
    name = (await call(sdk.create_pool, create_request("pool-sdk-patch"))).metadata.name
    request = PatchPoolRequest(
        pool_name=name,
        body=PoolUpdateRequest(spec=PoolSpecUpdate(resources=[PoolSpecUpdateResources(flavor=FLAVOR, count=2)])),
    )
    with pytest.raises(ClientRequestException) as refused:
        await call(sdk.patch_pool, request)
    assert refused.value.status_code == 400
    assert refused.value.error_code == "ModelArts.50004100"
    assert refused.value.error_msg == "Content type not supported"


async def test_sdk_errors_parse(sdk: ModelArtsClient) -> None:
    await call(sdk.create_pool, create_request("pool-sdk-dup"))
    with pytest.raises(ClientRequestException) as conflict:
        await call(sdk.create_pool, create_request("pool-sdk-dup"))
    assert (conflict.value.status_code, conflict.value.error_code) == (409, "ModelArts.50015000")
    assert conflict.value.request_id  # from the X-Request-Id header


async def test_sdk_with_wrong_secret_is_refused(emulator: RunningEmulator) -> None:
    config = HttpConfig.get_default_config()
    config.retry_times = 0
    client = (
        ModelArtsClient.new_builder()
        .with_http_config(config)
        .with_credentials(BasicCredentials(emulator.access_key, "wrong-secret", emulator.project_id))
        .with_endpoint(emulator.url)
        .build()
    )
    with pytest.raises(ClientRequestException) as refused:
        await call(client.list_pools, ListPoolsRequest())
    assert (refused.value.status_code, refused.value.error_code) == (401, "APIGW.0301")


@pytest.mark.parametrize(
    "emulator_config",
    [EmulatorConfig(timings=Timings(0.6, 1.0, 0.6), behaviour=Behaviour(resources_shape="object"))],
)
async def test_sdk_reads_the_documented_single_object_shape(sdk: ModelArtsClient, control: AsyncControlClient) -> None:
    """``--resources-shape object`` is what Huawei's SDK models describe: the SDK fills its typed objects from it."""
    body = {
        "apiVersion": "v2",
        "kind": "Pool",
        "metadata": {"labels": {"os.modelarts/name": "pool-sdk-object"}},
        "spec": {
            "type": "Logical",
            "scope": ["Train"],
            "resources": [{"flavor": FLAVOR, "count": 3, "azs": [{"az": "cn-north-4a", "count": 3}]}],
        },
    }
    name = (await control.create_pool(body, ready=True))["metadata"]["name"]
    shown = await call(sdk.show_pool, ShowPoolRequest(pool_name=name))
    available = shown.status.resources.available
    assert (available.flavor, available.count, available.max_count) == (FLAVOR, 3, 3)
    assert [(zone.az, zone.count) for zone in available.azs] == [("cn-north-4a", 3)]
