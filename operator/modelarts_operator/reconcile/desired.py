"""From ``spec`` to ModelArts requests: the create body, and the merge-patch that brings a pool in line.

Only what the user declared is managed: a field left out of the spec is never compared, so values that
ModelArts fills in (or that another tool owns) are not fought over.
"""

from __future__ import annotations

from typing import Any

from modelarts_operator.modelarts.models import (
    ANNOTATION_BILLING_MODE,
    ANNOTATION_DESCRIPTION,
    API_VERSION,
    KIND_POOL,
    LABEL_DISPLAY_NAME,
    LABEL_WORKSPACE_ID,
    Pool,
)
from modelarts_operator.resource.spec import ModelArtsPoolSpec, PoolResourceSpec

BILLING_ON_DEMAND = "0"


def display_name(spec: ModelArtsPoolSpec, object_name: str) -> str:
    """The pool's ModelArts display name: ``spec.displayName``, else the object's name (the CRD checks it fits)."""
    return spec.display_name or object_name


def _resource(resource: PoolResourceSpec) -> dict[str, Any]:
    wire = resource.model_dump(by_alias=True, exclude_none=True, mode="json")
    # ModelArts defaults maxCount to count; saying so keeps scaling from leaving a stale maxCount behind.
    wire.setdefault("maxCount", resource.count)
    return wire


def _spec_fields(spec: ModelArtsPoolSpec) -> dict[str, Any]:
    wire: dict[str, Any] = {}
    if spec.scope is not None:
        wire["scope"] = [str(s) for s in spec.scope]
    if spec.resources is not None:
        wire["resources"] = [_resource(r) for r in spec.resources]
    if spec.job_flavors is not None:
        wire["jobFlavors"] = list(spec.job_flavors)
    if spec.driver is not None:
        wire["driver"] = spec.driver.model_dump(by_alias=True, exclude_none=True, mode="json")
    return wire


def create_body(spec: ModelArtsPoolSpec, object_name: str) -> dict[str, Any]:
    """``POST /pools`` body: an on-demand pool (prepaid creation is out of scope; adopt those instead)."""
    labels = {LABEL_DISPLAY_NAME: display_name(spec, object_name)}
    if spec.workspace_id is not None:
        labels[LABEL_WORKSPACE_ID] = spec.workspace_id
    annotations = {ANNOTATION_BILLING_MODE: BILLING_ON_DEMAND}
    if spec.description is not None:
        annotations[ANNOTATION_DESCRIPTION] = spec.description
    pool_spec: dict[str, Any] = {"type": str(spec.type), **_spec_fields(spec)}
    if spec.network is not None:
        pool_spec["network"] = {"name": spec.network.name}
    return {
        "apiVersion": API_VERSION,
        "kind": KIND_POOL,
        "metadata": {"labels": labels, "annotations": annotations},
        "spec": pool_spec,
    }


def _resource_differs(wanted: dict[str, Any], actual: dict[str, Any] | None) -> bool:
    if actual is None:
        return True
    return any(actual.get(key) != value for key, value in wanted.items())


def _spec_patch(spec: ModelArtsPoolSpec, pool: Pool) -> dict[str, Any]:
    actual = pool.spec.to_wire()
    wanted = _spec_fields(spec)
    patch: dict[str, Any] = {}
    if "scope" in wanted and sorted(wanted["scope"]) != sorted(actual.get("scope") or []):
        patch["scope"] = wanted["scope"]
    if "resources" in wanted:
        actual_by_flavor = {r.get("flavor"): r for r in actual.get("resources") or []}
        differs = len(actual_by_flavor) != len(wanted["resources"]) or any(
            _resource_differs(r, actual_by_flavor.get(r["flavor"])) for r in wanted["resources"]
        )
        if differs:
            patch["resources"] = wanted["resources"]
    if "jobFlavors" in wanted and sorted(wanted["jobFlavors"]) != sorted(actual.get("jobFlavors") or []):
        patch["jobFlavors"] = wanted["jobFlavors"]
    if "driver" in wanted:
        actual_driver = actual.get("driver") or {}
        if any(actual_driver.get(k) != v for k, v in wanted["driver"].items()):
            patch["driver"] = wanted["driver"]
    return patch


def pool_patch(spec: ModelArtsPoolSpec, pool: Pool) -> dict[str, Any]:
    """The merge-patch for ``PATCH /pools/{name}``; ``{}`` when the pool matches the spec.

    ModelArts refuses a workspace change together with other changes, so a workspace move goes alone and the
    rest follows on the next pass.
    """
    if spec.workspace_id is not None and spec.workspace_id != (pool.metadata.workspace_id or "0"):
        return {"metadata": {"labels": {LABEL_WORKSPACE_ID: spec.workspace_id}}}
    patch: dict[str, Any] = {}
    if spec.description is not None and spec.description != (pool.metadata.description or ""):
        patch["metadata"] = {"annotations": {ANNOTATION_DESCRIPTION: spec.description}}
    spec_patch = _spec_patch(spec, pool)
    if spec_patch:
        patch["spec"] = spec_patch
    return patch
