"""Request body validation with ModelArts' rules and messages (modelarts-api.md sections 2-4).

Every failure is a 400 ``ModelArts.50004000`` whose message names the offending field, so a test (or a user)
sees what the real service would refuse and why.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from modelarts_emulator.errors import bad_request

JSON = dict[str, Any]

LABEL_NAME = "os.modelarts/name"
LABEL_WORKSPACE = "os.modelarts/workspace.id"
ANNOTATION_DESCRIPTION = "os.modelarts/description"
ANNOTATION_BILLING_MODE = "os.modelarts/billing.mode"
ANNOTATION_PERIOD_TYPE = "os.modelarts/period.type"
ANNOTATION_PERIOD_NUM = "os.modelarts/period.num"

DISPLAY_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9-]*[a-z0-9]$")
DISPLAY_NAME_MIN, DISPLAY_NAME_MAX = 4, 32
POOL_TYPES = ("Dedicate", "Logical")
SCOPES = ("Train", "Infer", "Notebook")
UPDATE_STRATEGIES = ("force", "idle")
DESCRIPTION_FORBIDDEN = set("!<>=&\"'")


def _object(value: Any, where: str) -> JSON:
    if not isinstance(value, dict):
        raise bad_request(f"{where} must be a JSON object.")
    return value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _string_map(value: Any, where: str) -> dict[str, str]:
    mapping = _object(value, where)
    for key, item in mapping.items():
        if not isinstance(item, str):
            raise bad_request(f"{where}.{key} must be a string.")
    return mapping


def validate_display_name(name: Any) -> str:
    if not isinstance(name, str) or not name:
        raise bad_request(f"metadata.labels.{LABEL_NAME} is required.")
    if not DISPLAY_NAME_MIN <= len(name) <= DISPLAY_NAME_MAX:
        raise bad_request(
            f"metadata.labels.{LABEL_NAME} must be {DISPLAY_NAME_MIN} to {DISPLAY_NAME_MAX} characters long."
        )
    if not DISPLAY_NAME_PATTERN.match(name):
        raise bad_request(
            f"metadata.labels.{LABEL_NAME} must start with a lowercase letter, contain only lowercase "
            "letters, digits and hyphens, and not end with a hyphen."
        )
    return name


def _validate_metadata(metadata: JSON) -> None:
    labels = _string_map(metadata.get("labels", {}), "metadata.labels")
    validate_display_name(labels.get(LABEL_NAME))
    annotations = _string_map(metadata.get("annotations", {}), "metadata.annotations")
    description = annotations.get(ANNOTATION_DESCRIPTION, "")
    if DESCRIPTION_FORBIDDEN & set(description):
        raise bad_request(f"metadata.annotations.{ANNOTATION_DESCRIPTION} must not contain any of !<>=&\"'.")
    billing = annotations.get(ANNOTATION_BILLING_MODE, "0")
    if billing not in ("0", "1"):
        raise bad_request(f'metadata.annotations.{ANNOTATION_BILLING_MODE} must be "0" or "1".')
    if billing == "1" and (
        annotations.get(ANNOTATION_PERIOD_TYPE) not in ("2", "3") or not annotations.get(ANNOTATION_PERIOD_NUM)
    ):
        raise bad_request(
            f'{ANNOTATION_PERIOD_TYPE} ("2" or "3") and {ANNOTATION_PERIOD_NUM} are required for a yearly/monthly pool.'
        )


def _validate_resources(resources: Any, pool_type: str) -> None:
    if not isinstance(resources, list) or not resources:
        raise bad_request("spec.resources must contain at least one resource.")
    seen: set[str] = set()
    for index, resource in enumerate(resources):
        where = f"spec.resources[{index}]"
        _object(resource, where)
        flavor = resource.get("flavor")
        if not isinstance(flavor, str) or not flavor:
            raise bad_request(f"{where}.flavor is required.")
        if flavor in seen:
            raise bad_request(f"{where}.flavor {flavor} appears more than once.")
        seen.add(flavor)
        count = resource.get("count")
        if not _is_int(count) or count < 1:
            raise bad_request(f"{where}.count must be an integer of at least 1.")
        max_count = resource.get("maxCount", count)
        if not _is_int(max_count) or max_count < count:
            raise bad_request(f"{where}.maxCount must be an integer not smaller than count.")
        if pool_type == "Dedicate" and max_count != count:
            # Physical pools cannot grow on their own: real-testing notes in modelarts-api.md section 10.
            raise bad_request(f"{where}.maxCount must equal count for a Dedicate (physical) pool.")
        for az_index, az in enumerate(resource.get("azs") or []):
            az_where = f"{where}.azs[{az_index}]"
            _object(az, az_where)
            if not isinstance(az.get("az"), str) or not _is_int(az.get("count")) or az["count"] < 0:
                raise bad_request(f"{az_where} must have a string az and a non-negative integer count.")


def _validate_spec(spec: JSON) -> None:
    pool_type = spec.get("type")
    if pool_type not in POOL_TYPES:
        raise bad_request(f"spec.type must be one of {', '.join(POOL_TYPES)}.")
    scope = spec.get("scope")
    if (
        not isinstance(scope, list)
        or not scope
        or any(item not in SCOPES for item in scope)
        or len(set(scope)) != len(scope)
    ):
        raise bad_request(f"spec.scope must be a non-empty list of distinct values from {', '.join(SCOPES)}.")
    _validate_resources(spec.get("resources"), pool_type)
    network = spec.get("network")
    if pool_type == "Dedicate" and network is None:
        raise bad_request("spec.network is required")
    if network is not None:
        name = _object(network, "spec.network").get("name")
        if not isinstance(name, str) or not name:
            raise bad_request("spec.network.name is required.")
    job_flavors = spec.get("jobFlavors")
    if job_flavors is not None and (
        not isinstance(job_flavors, list) or not all(isinstance(item, str) for item in job_flavors)
    ):
        raise bad_request("spec.jobFlavors must be a list of strings.")
    driver = spec.get("driver")
    if driver is not None:
        _object(driver, "spec.driver")
        for key in ("gpuVersion", "npuVersion"):
            if key in driver and not isinstance(driver[key], str):
                raise bad_request(f"spec.driver.{key} must be a string.")
        if "updateStrategy" in driver and driver["updateStrategy"] not in UPDATE_STRATEGIES:
            raise bad_request(f"spec.driver.updateStrategy must be one of {', '.join(UPDATE_STRATEGIES)}.")


def normalize_spec(spec: JSON) -> JSON:
    """The server's defaults: ``maxCount`` is ``count`` when absent."""
    result = copy.deepcopy(spec)
    for resource in result["resources"]:
        resource.setdefault("maxCount", resource["count"])
    return result


def validate_pool_document(document: Any, *, creating: bool) -> JSON:
    """A validated, normalized copy of a pool document (a create body, or a pool after a merge patch)."""
    document = _object(document, "The request body")
    if creating:
        if document.get("apiVersion") != "v2":
            raise bad_request("apiVersion must be v2.")
        if document.get("kind") != "Pool":
            raise bad_request("kind must be Pool.")
    metadata = _object(document.get("metadata"), "metadata")
    _validate_metadata(metadata)
    spec = _object(document.get("spec"), "spec")
    _validate_spec(spec)
    return {
        "apiVersion": "v2",
        "kind": "Pool",
        "metadata": copy.deepcopy(metadata),
        "spec": normalize_spec(spec),
    }
