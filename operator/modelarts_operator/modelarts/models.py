"""Pydantic models of the ModelArts v2 ``Pool`` objects, as they travel on the wire.

Python attributes are snake_case; the wire names are the camelCase aliases, and both are accepted on input
(``populate_by_name``). ``model_dump(by_alias=True, exclude_none=True)`` (or :meth:`WireModel.to_wire`) gives
wire JSON.

Every model tolerates and keeps fields it does not know (``extra="allow"``): ModelArts adds fields over time,
and an operator that dropped them, or refused the whole pool because of them, would break on an API update.
For the same reason enumerated fields (phases, scope states, ...) are plain ``str``: the ``StrEnum`` classes
below name the documented values for reference and comparisons, but an unknown value survives as it is.

Shapes the sources disagree on are read both ways (modelarts-api.md §10): Huawei's doc table and every SDK
describe each ``status.resources`` bucket as one object, the real cloud (and the corrected OTC reference) sends
a list. A single object is read as a one-element list, an absent or null bucket as an empty one, and the fifth
bucket ``creationFailed`` (nodes whose creation failed, read by Terraform) is kept with the other four.
Strictness stays where it protects the user: a body that is not a pool (no ``spec``, a list, a number) is refused.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

API_VERSION = "v2"
KIND_POOL = "Pool"
KIND_POOL_LIST = "PoolList"

# Labels (metadata.labels) ModelArts reads or fills in.
LABEL_DISPLAY_NAME = "os.modelarts/name"
LABEL_WORKSPACE_ID = "os.modelarts/workspace.id"
LABEL_NODE_PREFIX = "os.modelarts/node.prefix"
LABEL_RESOURCE_ID = "os.modelarts/resource.id"
LABEL_TENANT_DOMAIN_ID = "os.modelarts/tenant.domain.id"
LABEL_TENANT_PROJECT_ID = "os.modelarts/tenant.project.id"
LABEL_POOL_BIZ = "os.modelarts.pool/biz"
LABEL_CREATE_FROM = "os.modelarts/create-from"
LABEL_ORDER_NAME = "os.modelarts/order.name"

# Annotations (metadata.annotations).
ANNOTATION_DESCRIPTION = "os.modelarts/description"
ANNOTATION_BILLING_MODE = "os.modelarts/billing.mode"
ANNOTATION_PERIOD_TYPE = "os.modelarts/period.type"
ANNOTATION_PERIOD_NUM = "os.modelarts/period.num"
ANNOTATION_AUTO_RENEW = "os.modelarts/auto.renew"
ANNOTATION_FLAVOR_RESOURCE_IDS = "os.modelarts/flavor.resource.ids"
ANNOTATION_SUBPOOLS_COUNT = "os.modelarts.pool/subpools.count"

DEFAULT_WORKSPACE_ID = "0"


class PoolPhase(StrEnum):
    """Documented ``status.phase`` values. The create response has none; unknown phases are non-terminal."""

    CREATING = "Creating"
    RUNNING = "Running"
    ABNORMAL = "Abnormal"
    DELETING = "Deleting"
    ERROR = "Error"
    CREATION_FAILED = "CreationFailed"
    SCALING_FAILED = "ScalingFailed"
    WAITING = "Waiting"


class PoolType(StrEnum):
    DEDICATE = "Dedicate"
    LOGICAL = "Logical"


class PoolScope(StrEnum):
    TRAIN = "Train"
    INFER = "Infer"
    NOTEBOOK = "Notebook"


class ScopeState(StrEnum):
    ENABLING = "Enabling"
    ENABLED = "Enabled"
    DISABLING = "Disabling"
    DISABLED = "Disabled"
    ENABLE_FAILED = "EnableFailed"


class DriverPhase(StrEnum):
    CREATING = "Creating"
    UPGRADING = "Upgrading"
    RUNNING = "Running"
    ABNORMAL = "Abnormal"


class UpdateStrategy(StrEnum):
    FORCE = "force"
    IDLE = "idle"


class BillingMode(StrEnum):
    ON_DEMAND = "0"
    PREPAID = "1"


class ControlMode:
    """Bit flags of ``spec.controlMode`` (additive: ``9`` = billing change restricted + frozen)."""

    NONE = 0
    BILLING_MODE_CHANGE_RESTRICTED = 1
    FLAVOR_CHANGE_RESTRICTED = 2
    SERVICE_RESTRICTED = 4
    FROZEN = 8
    POLICE_FROZEN = 16


class WireModel(BaseModel):
    """Base of every wire model: camelCase aliases, names accepted too, unknown fields kept."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")

    def to_wire(self) -> dict[str, Any]:
        """The wire JSON of this object (aliases, ``None`` fields left out, unknown fields kept)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


# --- metadata -----------------------------------------------------------------------------------


class PoolMetadata(WireModel):
    name: str | None = None
    creation_timestamp: str | None = None
    deletion_timestamp: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)

    @field_validator("labels", "annotations", mode="before")
    @classmethod
    def _null_is_empty(cls, value: Any) -> Any:
        return {} if value is None else value

    @property
    def display_name(self) -> str | None:
        return self.labels.get(LABEL_DISPLAY_NAME)

    @property
    def workspace_id(self) -> str | None:
        return self.labels.get(LABEL_WORKSPACE_ID)

    @property
    def resource_id(self) -> str | None:
        return self.labels.get(LABEL_RESOURCE_ID)

    @property
    def description(self) -> str | None:
        return self.annotations.get(ANNOTATION_DESCRIPTION)

    @property
    def billing_mode(self) -> str | None:
        return self.annotations.get(ANNOTATION_BILLING_MODE)


# --- spec ---------------------------------------------------------------------------------------


class PoolAz(WireModel):
    az: str
    count: int


class PoolOs(WireModel):
    name: str | None = None
    image_id: str | None = None
    image_type: str | None = None


class PoolResource(WireModel):
    """One entry of ``spec.resources``. Optional collections default to ``None`` so that a body built from
    this model never sends an empty list the user did not ask for."""

    flavor: str
    count: int
    max_count: int | None = None
    azs: list[PoolAz] | None = None
    extend_params: dict[str, Any] | None = None
    os: PoolOs | None = None
    node_pool: str | None = None


class PoolNetwork(WireModel):
    name: str | None = None


class PoolDriverSpec(WireModel):
    gpu_version: str | None = None
    npu_version: str | None = None
    update_strategy: str | None = None


class PoolSpec(WireModel):
    type: str
    scope: list[str] = Field(default_factory=list)
    resources: list[PoolResource] = Field(default_factory=list)
    network: PoolNetwork | None = None
    job_flavors: list[str] | None = None
    driver: PoolDriverSpec | None = None
    control_mode: int | None = None

    @field_validator("scope", "resources", mode="before")
    @classmethod
    def _null_is_empty(cls, value: Any) -> Any:
        return [] if value is None else value


# --- status -------------------------------------------------------------------------------------


class ResourceStatusItem(WireModel):
    """One entry of ``status.resources.{creating,available,abnormal,deleting,creationFailed}``."""

    flavor: str | None = None
    count: int = 0
    max_count: int | None = None
    azs: list[PoolAz] = Field(default_factory=list)
    node_pool: str | None = None

    @field_validator("azs", mode="before")
    @classmethod
    def _null_is_empty(cls, value: Any) -> Any:
        return [] if value is None else value


RESOURCE_BUCKETS = ("creating", "available", "abnormal", "deleting", "creation_failed")
"""The ``status.resources`` buckets, as attribute names (``creation_failed`` is ``creationFailed`` on the wire)."""


class PoolResourcesStatus(WireModel):
    creating: list[ResourceStatusItem] = Field(default_factory=list)
    available: list[ResourceStatusItem] = Field(default_factory=list)
    abnormal: list[ResourceStatusItem] = Field(default_factory=list)
    deleting: list[ResourceStatusItem] = Field(default_factory=list)
    creation_failed: list[ResourceStatusItem] = Field(default_factory=list)

    @field_validator(*RESOURCE_BUCKETS, mode="before")
    @classmethod
    def _list_or_single_object(cls, value: Any) -> Any:
        """The documented shape (one object) and the observed one (a list) both read as a list."""
        if value is None:
            return []
        if isinstance(value, dict):
            return [value] if value else []
        return value

    def bucket(self, name: str) -> list[ResourceStatusItem]:
        """One bucket by attribute name (see ``RESOURCE_BUCKETS``)."""
        items: list[ResourceStatusItem] = getattr(self, name)
        return items


class ScopeStatus(WireModel):
    scope_type: str
    state: str | None = None


class DriverState(WireModel):
    version: str | None = None
    state: str | None = None


class DriverStatus(WireModel):
    gpu: DriverState | None = None
    npu: DriverState | None = None


class PoolStatus(WireModel):
    phase: str | None = None
    message: str | None = None
    parent: str | None = None
    root: str | None = None
    resources: PoolResourcesStatus = Field(default_factory=PoolResourcesStatus)
    scope: list[ScopeStatus] = Field(default_factory=list)
    driver: DriverStatus | None = None

    @field_validator("resources", mode="before")
    @classmethod
    def _null_resources(cls, value: Any) -> Any:
        return {} if value is None else value

    @field_validator("scope", mode="before")
    @classmethod
    def _null_scope(cls, value: Any) -> Any:
        return [] if value is None else value


# --- top level ----------------------------------------------------------------------------------


class Pool(WireModel):
    api_version: str = API_VERSION
    kind: str = KIND_POOL
    metadata: PoolMetadata = Field(default_factory=PoolMetadata)
    spec: PoolSpec
    status: PoolStatus = Field(default_factory=PoolStatus)

    @field_validator("metadata", "status", mode="before")
    @classmethod
    def _null_is_empty(cls, value: Any) -> Any:
        return {} if value is None else value

    @property
    def name(self) -> str | None:
        """The ModelArts-generated pool name (``metadata.name``), the key of every per-pool call."""
        return self.metadata.name

    @property
    def phase(self) -> str | None:
        return self.status.phase

    def to_create_body(self) -> dict[str, Any]:
        """Wire JSON for ``POST /pools``: everything but ``status``, which is the server's to fill in."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True, exclude={"status"})


class ListMeta(WireModel):
    """``metadata`` of a list answer; ``continue`` (Kubernetes-style paging) names the next page, if any."""

    continue_: str | None = Field(default=None, alias="continue")
    remaining_item_count: int | None = None


class _ListAnswer(WireModel):
    """What every list answer has; ``null`` metadata or items read as empty."""

    api_version: str = API_VERSION
    kind: str = KIND_POOL_LIST
    metadata: ListMeta = Field(default_factory=ListMeta)

    @field_validator("metadata", mode="before")
    @classmethod
    def _null_metadata(cls, value: Any) -> Any:
        return {} if value is None else value

    @field_validator("items", mode="before", check_fields=False)
    @classmethod
    def _null_is_empty(cls, value: Any) -> Any:
        return [] if value is None else value


class PoolList(_ListAnswer):
    items: list[Pool] = Field(default_factory=list)


class RawPoolList(_ListAnswer):
    """A list answer with its items left as JSON objects, to be parsed one by one (``client.PoolMemo``)."""

    items: list[dict[str, Any]] = Field(default_factory=list)
