"""The ModelArts pool answers exactly as our notes describe them (``modelarts-api.md`` §1-3, §6, §10).

The operator reads answers tolerantly (``modelarts.models``: unknown fields kept, enums as plain strings, a bucket
read as a list or a single object). These models are the opposite: every field known, nothing extra
(``extra="forbid"``), no type coercion, enumerations closed, ``status.resources`` buckets as the list the real
cloud sends (§10). ``probe`` validates each answer against both; whatever only the strict models refuse is a place
where the cloud and our notes differ — a field the operator ignores, a phase it has never seen, the documented
object shape of a bucket — and whatever the tolerant models refuse, the operator cannot read at all.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from modelarts_operator.modelarts import models as wire

Phase = Literal["Creating", "Running", "Abnormal", "Deleting", "Error", "CreationFailed", "ScalingFailed", "Waiting"]
ScopeName = Literal["Train", "Infer", "Notebook"]
ScopeStateName = Literal["Enabling", "Enabled", "Disabling", "Disabled", "EnableFailed"]
DriverStateName = Literal["Creating", "Upgrading", "Running", "Abnormal"]

# metadata.name as §1 gives it; creationTimestamp as every example shows it (RFC 3339, UTC).
POOL_NAME_PATTERN = r"^[a-z][a-z0-9-]{34,61}[a-z0-9]$"
TIMESTAMP_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$"
ERROR_CODE_PATTERN = r"^(ModelArts|APIGW|APIG)\.[0-9A-Za-z]+$"

# Labels and annotations whose values the notes enumerate (a free-form map otherwise: extra keys are fine).
KNOWN_VALUES = {
    wire.LABEL_POOL_BIZ: ("public", "private"),
    wire.ANNOTATION_BILLING_MODE: ("0", "1"),
    wire.ANNOTATION_PERIOD_TYPE: ("2", "3"),
    wire.ANNOTATION_AUTO_RENEW: ("0", "1"),
}

# Error codes and the HTTP status each comes with: the notes' (§6, §10; the 401 family is ModelArts.0201 to
# ModelArts.0212), and the API gateway's own from Huawei's signing guide ("Common Errors Related to IAM
# Authentication Information", support.huaweicloud.com/devg-apisign/api-sign-0001.html): APIGW.0301 for any refused
# authentication (lockout included), APIGW.0101 for a path that is no API; APIG.* is the older spelling.
ERROR_CODE_STATUS = {
    "ModelArts.50015001": 404,
    "ModelArts.50015000": 409,
    "ModelArts.50004000": 400,
    "ModelArts.50004100": 400,
    "ModelArts.50001000": 401,
    "ModelArts.50005000": 500,
    "ModelArts.50025001": 404,
    "APIGW.0308": 429,
    "APIG.0308": 429,
    "APIGW.0301": 401,
    "APIG.0301": 401,
    "APIGW.0101": 404,
    "APIG.0101": 404,
} | {f"ModelArts.{number:04d}": 401 for number in range(201, 213)}
KNOWN_ERROR_CODES = frozenset(ERROR_CODE_STATUS)


class Strict(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, extra="forbid", strict=True)


def _check_known_values(mapping: dict[str, str]) -> dict[str, str]:
    for key, allowed in KNOWN_VALUES.items():
        if key in mapping and mapping[key] not in allowed:
            raise PydanticCustomError(
                "enum",
                "{key}={value!r} is none of the documented values {allowed}",
                {"key": key, "value": mapping[key], "allowed": ", ".join(allowed)},
            )
    return mapping


class StrictMetadata(Strict):
    name: str = Field(pattern=POOL_NAME_PATTERN)
    creation_timestamp: str = Field(pattern=TIMESTAMP_PATTERN)
    deletion_timestamp: str | None = Field(default=None, pattern=TIMESTAMP_PATTERN)
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)

    @field_validator("labels")
    @classmethod
    def _display_name_label(cls, labels: dict[str, str]) -> dict[str, str]:
        # The operator finds a half-created pool again by this label (recovery after a lost create answer).
        if not labels.get(wire.LABEL_DISPLAY_NAME):
            raise PydanticCustomError("missing_label", "label {label} is missing", {"label": wire.LABEL_DISPLAY_NAME})
        return _check_known_values(labels)

    @field_validator("annotations")
    @classmethod
    def _annotation_values(cls, annotations: dict[str, str]) -> dict[str, str]:
        return _check_known_values(annotations)


class StrictAz(Strict):
    az: str
    count: int = Field(ge=0)


class StrictOs(Strict):
    name: str | None = None
    image_id: str | None = None
    image_type: Literal["private", ""] | None = None


class StrictResource(Strict):
    flavor: str
    count: int = Field(ge=0)
    max_count: int | None = Field(default=None, ge=0)
    azs: list[StrictAz] | None = None
    extend_params: dict[str, Any] | None = None
    os: StrictOs | None = None
    node_pool: str | None = None  # not in the notes' create body, but mirrored by the operator


class StrictNetwork(Strict):
    name: str


class StrictDriverSpec(Strict):
    gpu_version: str | None = None
    npu_version: str | None = None
    update_strategy: Literal["force", "idle"] | None = None


class StrictSpec(Strict):
    type: Literal["Dedicate", "Logical"]
    scope: list[ScopeName] = Field(min_length=1)
    resources: list[StrictResource] = Field(min_length=1)
    network: StrictNetwork | None = None
    job_flavors: list[str] | None = None
    driver: StrictDriverSpec | None = None
    control_mode: int | None = Field(default=None, ge=0, le=31)


class StrictResourceCount(Strict):
    flavor: str
    count: int = Field(ge=0)
    max_count: int | None = Field(default=None, ge=0)
    azs: list[StrictAz] | None = None
    node_pool: str | None = None


class StrictResources(Strict):
    """Each bucket is a list (§10: what the real cloud sends); an empty bucket may be absent."""

    creating: list[StrictResourceCount] | None = None
    available: list[StrictResourceCount] | None = None
    abnormal: list[StrictResourceCount] | None = None
    deleting: list[StrictResourceCount] | None = None
    creation_failed: list[StrictResourceCount] | None = None


class StrictScopeStatus(Strict):
    scope_type: ScopeName
    state: ScopeStateName


class StrictDriverState(Strict):
    version: str | None = None
    state: DriverStateName | None = None


class StrictDriverStatus(Strict):
    gpu: StrictDriverState | None = None
    npu: StrictDriverState | None = None


class StrictStatus(Strict):
    phase: Phase | None = None  # the create answer has none; a pool read back should
    message: str | None = None
    parent: str | None = None
    root: str | None = None
    resources: StrictResources = Field(default_factory=StrictResources)
    scope: list[StrictScopeStatus] | None = None
    driver: StrictDriverStatus | None = None


class StrictPool(Strict):
    api_version: Literal["v2"]
    kind: Literal["Pool"]
    metadata: StrictMetadata
    spec: StrictSpec
    status: StrictStatus


class StrictPoolList(Strict):
    """§1: no paging on list pools, so no list ``metadata`` (the operator would follow a ``continue`` token)."""

    api_version: Literal["v2"]
    kind: Literal["PoolList"]
    items: list[StrictPool]


class StrictError(BaseModel):
    """§6: ``{"error_code": "ModelArts.XXXXXXXX", "error_msg": "..."}``, snake_case on the wire."""

    model_config = ConfigDict(extra="forbid", strict=True)

    error_code: str = Field(pattern=ERROR_CODE_PATTERN)
    error_msg: str
    request_id: str | None = None  # the gateway's answers carry it (signing guide, above)
