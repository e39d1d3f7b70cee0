"""The wire models: the documented examples round-trip, unknown things survive, names match Huawei's SDK."""

from __future__ import annotations

import copy
import importlib
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from modelarts_operator.modelarts import models
from modelarts_operator.modelarts.models import (
    Pool,
    PoolList,
    PoolMetadata,
    PoolPhase,
    PoolResource,
    PoolSpec,
    PoolStatus,
)

PROJECT = "6f5da086876d4cd084d36f8bd3346036"

# modelarts-api.md section 3, the create body, as JSON.
CREATE_BODY: dict[str, Any] = {
    "apiVersion": "v2",
    "kind": "Pool",
    "metadata": {
        "labels": {
            "os.modelarts/name": "pool-ae01",
            "os.modelarts/workspace.id": "0",
            "os.modelarts/node.prefix": "ae01",
        },
        "annotations": {"os.modelarts/description": "training pool", "os.modelarts/billing.mode": "0"},
    },
    "spec": {
        "type": "Dedicate",
        "scope": ["Train", "Infer", "Notebook"],
        "resources": [
            {
                "flavor": "modelarts.vm.cpu.8ud",
                "count": 1,
                "maxCount": 1,
                "azs": [{"az": "cn-north-7c", "count": 1}],
                "extendParams": {"dockerBaseSize": "0"},
                "os": {"name": "EulerOS 2.10", "imageId": "img-1", "imageType": "private"},
            }
        ],
        "network": {"name": "network-pool-ae01"},
        "jobFlavors": ["modelarts.pool.visual.xlarge"],
        "driver": {"gpuVersion": "470.57.02", "npuVersion": "6.3.0", "updateStrategy": "force"},
    },
}

# The create answer: server-filled metadata, maxCount defaulted, status without a phase.
CREATE_RESPONSE: dict[str, Any] = {
    "apiVersion": "v2",
    "kind": "Pool",
    "metadata": {
        "name": f"pool-ae01-{PROJECT}",
        "creationTimestamp": "1681282808000",
        "labels": {
            "os.modelarts/name": "pool-ae01",
            "os.modelarts/workspace.id": "0",
            "os.modelarts/resource.id": "pool-ae01-9a1b2c",
            "os.modelarts/tenant.domain.id": "0a1b2c3d",
            "os.modelarts/tenant.project.id": PROJECT,
            "os.modelarts.pool/biz": "private",
            "os.modelarts/create-from": "console",
        },
        "annotations": {
            "os.modelarts/billing.mode": "0",
            "os.modelarts/flavor.resource.ids": '{"modelarts.vm.cpu.8ud":"abc"}',
            "os.modelarts.pool/subpools.count": "0",
        },
    },
    "spec": {
        "type": "Dedicate",
        "scope": ["Train"],
        "resources": [{"flavor": "modelarts.vm.cpu.8ud", "count": 1, "maxCount": 1}],
        "network": {"name": "network-pool-ae01"},
    },
    "status": {"resources": {}},
}

# modelarts-api.md section 4: the scale-out answer, already showing the new count and nodes being created.
SCALED_RESPONSE: dict[str, Any] = {
    **CREATE_RESPONSE,
    "spec": {
        "type": "Dedicate",
        "scope": ["Train"],
        "resources": [{"flavor": "modelarts.vm.cpu.4ud", "count": 3, "maxCount": 3}],
        "network": {"name": "network-pool-ae01"},
        "controlMode": 9,
    },
    "status": {
        "phase": "Running",
        "message": "",
        "parent": "pool-parent",
        "root": "pool-root",
        "resources": {
            "creating": [{"flavor": "modelarts.vm.cpu.4ud", "count": 1, "maxCount": 1}],
            "available": [
                {
                    "flavor": "modelarts.vm.cpu.4ud",
                    "count": 2,
                    "azs": [{"az": "cn-north-4a", "count": 2}],
                    "nodePool": "nodepool-default",
                }
            ],
        },
        "scope": [{"scopeType": "Train", "state": "Enabled"}, {"scopeType": "Infer", "state": "Enabling"}],
        "driver": {"gpu": {"version": "470.57.02", "state": "Running"}, "npu": {"state": "Upgrading"}},
    },
}

# The DELETE answer: a snapshot with deletionTimestamp (the phase can still be Running).
DELETE_RESPONSE: dict[str, Any] = {
    **SCALED_RESPONSE,
    "metadata": {**SCALED_RESPONSE["metadata"], "deletionTimestamp": "1681290000000"},
}

DELETING_RESPONSE: dict[str, Any] = {
    **DELETE_RESPONSE,
    "status": {
        "phase": "Deleting",
        "resources": {"deleting": [{"flavor": "modelarts.vm.cpu.4ud", "count": 3}]},
    },
}

UPDATE_BODY: dict[str, Any] = {
    "metadata": {
        "labels": {"os.modelarts/workspace.id": "ws-1"},
        "annotations": {"os.modelarts/description": "new"},
    },
    "spec": {
        "scope": ["Train"],
        "resources": [{"flavor": "modelarts.vm.cpu.4ud", "count": 3, "azs": [{"az": "cn-north-4a", "count": 3}]}],
        "jobFlavors": ["x"],
        "driver": {"gpuVersion": "v", "npuVersion": "w", "updateStrategy": "idle"},
    },
}


@pytest.mark.parametrize(
    "document",
    [CREATE_BODY, CREATE_RESPONSE, SCALED_RESPONSE, DELETE_RESPONSE, DELETING_RESPONSE],
    ids=["create-body", "create-response", "scaled", "delete-snapshot", "deleting"],
)
def test_pool_documents_round_trip(document: dict[str, Any]) -> None:
    pool = Pool.model_validate(copy.deepcopy(document))
    assert pool.model_dump(by_alias=True, exclude_unset=True) == document
    # Names and aliases both work on input: the attribute form gives the same object back.
    assert Pool.model_validate(pool.model_dump()) == pool


def test_create_body_from_the_model_is_the_documented_body() -> None:
    pool = Pool.model_validate(copy.deepcopy(CREATE_BODY))
    assert pool.to_create_body() == CREATE_BODY
    assert pool.to_wire() == {
        **CREATE_BODY,
        "status": {
            "resources": {"creating": [], "available": [], "abnormal": [], "deleting": [], "creationFailed": []},
            "scope": [],
        },
    }


def test_update_body_parts_round_trip() -> None:
    metadata = PoolMetadata.model_validate(UPDATE_BODY["metadata"])
    assert metadata.to_wire() == UPDATE_BODY["metadata"]
    resources = [PoolResource.model_validate(item) for item in UPDATE_BODY["spec"]["resources"]]
    assert [item.to_wire() for item in resources] == UPDATE_BODY["spec"]["resources"]


def test_parsed_values_and_convenience_properties() -> None:
    pool = Pool.model_validate(SCALED_RESPONSE)
    assert pool.name == f"pool-ae01-{PROJECT}"
    assert pool.phase == PoolPhase.RUNNING
    assert pool.metadata.display_name == "pool-ae01"
    assert pool.metadata.workspace_id == "0"
    assert pool.metadata.resource_id == "pool-ae01-9a1b2c"
    assert pool.metadata.billing_mode == models.BillingMode.ON_DEMAND
    assert pool.metadata.description is None
    control = models.ControlMode
    assert pool.spec.control_mode == control.BILLING_MODE_CHANGE_RESTRICTED | control.FROZEN
    assert pool.status.resources.creating[0].count == 1
    assert pool.status.resources.available[0].azs[0].az == "cn-north-4a"
    assert pool.status.resources.available[0].node_pool == "nodepool-default"
    assert pool.status.resources.deleting == []
    assert [scope.state for scope in pool.status.scope] == ["Enabled", "Enabling"]
    assert pool.status.driver is not None and pool.status.driver.npu is not None
    assert pool.status.driver.npu.state == "Upgrading" and pool.status.driver.npu.version is None
    assert Pool.model_validate(CREATE_BODY).metadata.description == "training pool"


def test_create_response_has_no_phase() -> None:
    pool = Pool.model_validate(CREATE_RESPONSE)
    assert pool.phase is None
    assert pool.status.resources.available == []


def test_unknown_fields_are_kept_everywhere() -> None:
    document = copy.deepcopy(SCALED_RESPONSE)
    document["futureTopLevel"] = {"x": 1}
    document["metadata"]["uid"] = "u-1"
    document["spec"]["containernetwork"] = {"mode": "overlay"}
    document["spec"]["resources"][0]["rootVolume"] = {"size": 100}
    document["status"]["clusters"] = [{"name": "c1"}]
    document["status"]["resources"]["creating"][0]["creatingStep"] = {"step": 1}
    document["status"]["scope"][0]["reason"] = "r"
    pool = Pool.model_validate(document)
    assert pool.model_extra == {"futureTopLevel": {"x": 1}}
    assert pool.model_dump(by_alias=True, exclude_unset=True) == document


def test_unknown_enum_values_survive() -> None:
    document = copy.deepcopy(SCALED_RESPONSE)
    document["status"]["phase"] = "Hibernating"
    document["spec"]["type"] = "Elastic"
    document["spec"]["scope"] = ["Train", "Batch"]
    document["status"]["scope"] = [{"scopeType": "Batch", "state": "Paused"}]
    document["status"]["driver"]["gpu"]["state"] = "Rebooting"
    pool = Pool.model_validate(document)
    assert pool.phase == "Hibernating"
    assert pool.phase not in set(PoolPhase)
    assert pool.spec.type == "Elastic"
    assert pool.model_dump(by_alias=True, exclude_unset=True) == document


def test_nulls_read_as_empty() -> None:
    document = {
        "apiVersion": "v2",
        "kind": "Pool",
        "metadata": {"name": "p", "labels": None, "annotations": None},
        "spec": {"type": "Logical", "scope": None, "resources": None},
        "status": {
            "phase": None,
            "resources": {"creating": None, "available": [{"flavor": "f", "azs": None}]},
            "scope": None,
        },
    }
    pool = Pool.model_validate(document)
    assert pool.metadata.labels == {} and pool.metadata.display_name is None
    assert pool.spec.scope == [] and pool.spec.resources == []
    assert pool.status.resources.creating == []
    assert pool.status.resources.available[0].count == 0
    assert pool.status.resources.available[0].azs == []
    bare = Pool.model_validate({"spec": {"type": "Logical"}, "metadata": None, "status": None})
    assert bare.status.phase is None and bare.metadata.name is None


@pytest.mark.parametrize(
    "document",
    [
        {"metadata": {"name": "p"}},  # no spec
        {"spec": {"type": "Logical", "resources": [{"flavor": "f", "count": "three"}]}},
        {"spec": {"type": "Logical"}, "metadata": {"labels": {"a": {"nested": 1}}}},
        {"spec": {"type": "Logical"}, "status": {"resources": {"available": "three nodes"}}},  # not a bucket
        [{"spec": {"type": "Logical"}}],  # a list is not a pool
    ],
)
def test_wrong_shapes_are_refused(document: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Pool.model_validate(document)


def test_pool_list() -> None:
    document = {"apiVersion": "v2", "kind": "PoolList", "items": [CREATE_RESPONSE, SCALED_RESPONSE]}
    listing = PoolList.model_validate(document)
    assert [pool.phase for pool in listing.items] == [None, "Running"]
    assert listing.model_dump(by_alias=True, exclude_unset=True) == document
    assert PoolList.model_validate({"apiVersion": "v2", "kind": "PoolList", "items": None}).items == []
    assert PoolList.model_validate({}).items == []


def test_models_built_in_python_leave_out_what_was_not_given() -> None:
    spec = PoolSpec(type="Logical", scope=["Infer"], resources=[PoolResource(flavor="f", count=2)])
    assert spec.to_wire() == {
        "type": "Logical",
        "scope": ["Infer"],
        "resources": [{"flavor": "f", "count": 2}],
    }
    assert PoolStatus().phase is None


# Our wire names must be names Huawei's own SDK models use for the same objects.
_SDK_MODELS: list[tuple[type[BaseModel], list[str]]] = [
    (Pool, ["pool_model.PoolModel"]),
    (models.PoolMetadata, ["pool_metadata_deletion.PoolMetadataDeletion"]),
    (models.PoolSpec, ["pool_spec_model.PoolSpecModel"]),
    (models.PoolResource, ["pool_resource.PoolResource", "pool_spec_model_resources.PoolSpecModelResources"]),
    (models.PoolAz, ["pool_node_az.PoolNodeAz"]),
    (models.PoolOs, ["os.Os"]),
    (models.PoolNetwork, ["pool_spec_model_network.PoolSpecModelNetwork"]),
    (models.PoolDriverSpec, ["pool_driver.PoolDriver"]),
    (models.PoolStatus, ["pool_status.PoolStatus"]),
    (models.PoolResourcesStatus, ["pool_status_resources.PoolStatusResources"]),
    (models.ResourceStatusItem, ["pool_resource_flavor_count.PoolResourceFlavorCount"]),
    (models.ScopeStatus, ["pool_status_scope.PoolStatusScope"]),
    (models.DriverStatus, ["pool_status_driver.PoolStatusDriver"]),
    (models.DriverState, ["pool_driver_status.PoolDriverStatus"]),
]


@pytest.mark.parametrize(("model", "sdk_names"), _SDK_MODELS, ids=[model.__name__ for model, _ in _SDK_MODELS])
def test_wire_names_match_huaweis_sdk(model: type[BaseModel], sdk_names: list[str]) -> None:
    sdk_wire_names: set[str] = set()
    for qualified in sdk_names:
        module_name, class_name = qualified.rsplit(".", 1)
        module = importlib.import_module(f"huaweicloudsdkmodelarts.v1.model.{module_name}")
        sdk_wire_names |= set(getattr(module, class_name).attribute_map.values())
    ours = {field.alias or name for name, field in model.model_fields.items()}
    assert ours - BEYOND_THE_SDK.get(model, set()) <= sdk_wire_names


# Read by public clients that run against the real cloud but absent from the SDK's models (modelarts-api.md §10).
BEYOND_THE_SDK: dict[type[BaseModel], set[str]] = {models.PoolResourcesStatus: {"creationFailed"}}


def _with_resources(resources: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "v2",
        "kind": "Pool",
        "metadata": {"name": "p"},
        "spec": {"type": "Logical"},
        "status": {"phase": "Running", "resources": resources},
    }


def test_a_bucket_as_one_object_reads_as_a_one_element_list() -> None:
    """The shape Huawei's doc table and every SDK describe; the real cloud sends lists (§10). Both are read."""
    documented = Pool.model_validate(
        _with_resources(
            {
                "available": {"flavor": "modelarts.vm.cpu.8ud", "count": 2, "maxCount": 2},
                "deleting": {"flavor": "modelarts.vm.cpu.8ud", "count": 1},
            }
        )
    )
    observed = Pool.model_validate(
        _with_resources(
            {
                "available": [{"flavor": "modelarts.vm.cpu.8ud", "count": 2, "maxCount": 2}],
                "deleting": [{"flavor": "modelarts.vm.cpu.8ud", "count": 1}],
            }
        )
    )
    assert documented == observed
    assert [item.count for item in documented.status.resources.available] == [2]
    assert documented.status.resources.creating == []


def test_the_creation_failed_bucket_is_read() -> None:
    pool = Pool.model_validate(
        _with_resources(
            {
                "available": [{"flavor": "f", "count": 1}],
                "creationFailed": [{"flavor": "f", "count": 2}],
            }
        )
    )
    assert [item.count for item in pool.status.resources.creation_failed] == [2]
    assert pool.status.resources.bucket("creation_failed") == pool.status.resources.creation_failed


@pytest.mark.parametrize(
    "resources",
    [
        {},  # every bucket missing
        {"available": None, "creating": {}},  # null, and an empty object
        {"available": [{"count": 3}]},  # an entry without a flavor
        {"available": [{"flavor": "f", "count": 1, "brandNew": {"x": 1}}], "someNewBucket": [{"count": 1}]},
    ],
)
def test_missing_buckets_fields_and_unknown_ones_never_fail(resources: dict[str, Any]) -> None:
    pool = Pool.model_validate(_with_resources(resources))
    assert pool.status.phase == "Running"


def test_unknown_phase_reads_as_is() -> None:
    document = _with_resources({})
    document["status"]["phase"] = "Hibernating"
    assert Pool.model_validate(document).phase == "Hibernating"
