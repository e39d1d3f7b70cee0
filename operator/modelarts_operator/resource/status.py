"""``ModelArtsPool.status``: the pool's cloud status mirrored, plus the operator's own bookkeeping.

Written only by the operator, through the status subresource. The models are the source of the CRD's status
schema and the shape the reconcile logic fills in.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Self

from pydantic import BaseModel, ConfigDict, Field


class StatusModel(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    def deep_copy(self) -> Self:
        """An independent copy, made by a round trip through pydantic-core: ``model_copy(deep=True)`` runs
        ``copy.deepcopy`` in Python, 6 % of the operator's CPU while 500 deletions were sent."""
        return self.model_validate(self.model_dump(by_alias=True))


class ConditionType(StrEnum):
    READY = "Ready"
    SYNCED = "Synced"
    DELETING = "Deleting"


class ConditionStatus(StrEnum):
    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class Condition(StatusModel):
    """A Kubernetes-style condition (metav1.Condition shape)."""

    type: str = Field(description="Ready, Synced or Deleting.", max_length=316)
    status: ConditionStatus = Field(description="True, False or Unknown.")
    reason: str = Field(description="CamelCase reason for the last transition.", max_length=1024)
    message: str = Field(
        default="", description="Human-readable details; ModelArts' own message when it has one.", max_length=32768
    )
    last_transition_time: str = Field(
        alias="lastTransitionTime", description="When status last changed.", json_schema_extra={"format": "date-time"}
    )
    observed_generation: int | None = Field(
        default=None, alias="observedGeneration", description="metadata.generation the condition was set for.", ge=0
    )


class AzCount(StatusModel):
    az: str = Field(description="Availability zone.")
    count: int = Field(description="Nodes in this availability zone.")


class ResourceState(StatusModel):
    """Nodes of one flavor in one state, as ModelArts reports them."""

    flavor: str | None = Field(default=None, description="Resource flavor ID.")
    count: int = Field(default=0, description="Number of nodes.")
    max_count: int | None = Field(default=None, alias="maxCount", description="Elastic upper bound.")
    azs: list[AzCount] | None = Field(default=None, description="Spread over availability zones.")
    node_pool: str | None = Field(default=None, alias="nodePool", description="Node pool name.")


class ResourcesByState(StatusModel):
    """Mirror of the pool's status.resources."""

    creating: list[ResourceState] = Field(default_factory=list, description="Nodes being created.")
    available: list[ResourceState] = Field(default_factory=list, description="Nodes ready for jobs.")
    abnormal: list[ResourceState] = Field(default_factory=list, description="Nodes in trouble.")
    deleting: list[ResourceState] = Field(default_factory=list, description="Nodes being removed.")
    creation_failed: list[ResourceState] = Field(
        default_factory=list, alias="creationFailed", description="Nodes whose creation failed."
    )


class NodeTotals(StatusModel):
    """Totals of resources by state (the counts behind kubectl get's columns)."""

    creating: int = Field(default=0, description="Nodes being created.")
    available: int = Field(default=0, description="Nodes ready for jobs.")
    abnormal: int = Field(default=0, description="Nodes in trouble.")
    deleting: int = Field(default=0, description="Nodes being removed.")
    creation_failed: int = Field(default=0, alias="creationFailed", description="Nodes whose creation failed.")

    @property
    def total(self) -> int:
        """Every node the pool still has, whatever its state."""
        return self.creating + self.available + self.abnormal + self.deleting + self.creation_failed


class ScopeState(StatusModel):
    scope_type: str = Field(alias="scopeType", description="Train, Infer or Notebook.")
    state: str | None = Field(default=None, description="Enabling, Enabled, Disabling, Disabled, ...")


class DriverState(StatusModel):
    version: str | None = Field(default=None, description="Driver version.")
    state: str | None = Field(default=None, description="Creating, Upgrading, Running or Abnormal.")


class DriverStatus(StatusModel):
    gpu: DriverState | None = Field(default=None, description="GPU driver.")
    npu: DriverState | None = Field(default=None, description="NPU driver.")


class CloudMetadata(StatusModel):
    """Selected metadata of the ModelArts pool."""

    display_name: str | None = Field(default=None, alias="displayName", description="Label os.modelarts/name.")
    creation_timestamp: str | None = Field(
        default=None, alias="creationTimestamp", description="When ModelArts created the pool."
    )
    deletion_timestamp: str | None = Field(
        default=None, alias="deletionTimestamp", description="When ModelArts accepted the pool's deletion."
    )
    billing_mode: str | None = Field(
        default=None, alias="billingMode", description='"0" on demand, "1" yearly/monthly subscription.'
    )
    resource_id: str | None = Field(default=None, alias="resourceId", description="Label os.modelarts/resource.id.")
    workspace_id: str | None = Field(default=None, alias="workspaceId", description="Label os.modelarts/workspace.id.")


class DeletionProgress(StatusModel):
    """The operator's record of the pool's deletion."""

    requested_at: str | None = Field(
        default=None,
        alias="requestedAt",
        description="When DELETE was first sent.",
        json_schema_extra={"format": "date-time"},
    )
    last_checked_at: str | None = Field(
        default=None,
        alias="lastCheckedAt",
        description="When the pool was last looked at.",
        json_schema_extra={"format": "date-time"},
    )
    last_requested_at: str | None = Field(
        default=None,
        alias="lastRequestedAt",
        description="When DELETE was last sent.",
        json_schema_extra={"format": "date-time"},
    )
    last_progress_at: str | None = Field(
        default=None,
        alias="lastProgressAt",
        description="When the pool last showed progress (phase or node counts).",
        json_schema_extra={"format": "date-time"},
    )
    initial_nodes: int | None = Field(
        default=None, alias="initialNodes", description="Nodes the pool had when DELETE was accepted (drain rate)."
    )
    attempts: int = Field(default=0, description="DELETE calls made so far.")
    failures: int = Field(default=0, description="Consecutive failed calls (drives the retry backoff).")
    last_error: str | None = Field(default=None, alias="lastError", description="ModelArts' last refusal, if any.")


class Sightings(StatusModel):
    """When the operator saw the pool itself (not only its create answer): ModelArts may answer 404 for a pool it
    has just created, so a 404 before it was ever seen is read-after-create lag, not a disappearance."""

    first_at: str | None = Field(
        default=None,
        alias="firstAt",
        description="First seen through GET or list.",
        json_schema_extra={"format": "date-time"},
    )
    running_at: str | None = Field(
        default=None, alias="runningAt", description="First seen Running.", json_schema_extra={"format": "date-time"}
    )


class ModelArtsPoolStatus(StatusModel):
    """Observed state of the ModelArts pool, mirrored by the operator."""

    pool_name: str | None = Field(
        default=None,
        alias="poolName",
        description="The ModelArts pool's metadata.name, recorded as soon as it is known.",
    )
    project: str | None = Field(default=None, description="The ModelArtsProject serving this object, if any.")
    project_id: str | None = Field(
        default=None, alias="projectId", description="The ModelArts project the pool lives in, as resolved."
    )
    adopted: bool | None = Field(
        default=None, description="True when the pool existed before this object (adopted with spec.poolName)."
    )
    seen: Sightings | None = Field(default=None, description="When the pool was first seen, and first seen Running.")
    create_requested_at: str | None = Field(
        default=None,
        alias="createRequestedAt",
        description="When the operator was about to send the create (recorded first): after a crash, only a pool "
        "created since then, and not before this object, is recognised as its own.",
        json_schema_extra={"format": "date-time"},
    )
    phase: str | None = Field(
        default=None,
        description="Pool phase as ModelArts reports it (Creating, Running, Abnormal, Deleting, Error, ...).",
    )
    message: str | None = Field(default=None, description="Pool status message from ModelArts.")
    parent: str | None = Field(default=None, description="Parent pool, as ModelArts reports it.")
    root: str | None = Field(default=None, description="Root pool, as ModelArts reports it.")
    resources: ResourcesByState | None = Field(default=None, description="Nodes by state and flavor.")
    nodes: NodeTotals | None = Field(default=None, description="Node totals by state.")
    scope: list[ScopeState] | None = Field(default=None, description="Scope states.")
    driver: DriverStatus | None = Field(default=None, description="Driver versions and states.")
    cloud: CloudMetadata | None = Field(default=None, description="Selected pool metadata.")
    deletion: DeletionProgress | None = Field(default=None, description="Deletion progress, once it started.")
    observed_generation: int | None = Field(
        default=None, alias="observedGeneration", description="The metadata.generation last reconciled."
    )
    last_sync_time: str | None = Field(
        default=None,
        alias="lastSyncTime",
        description="When the pool was last read from ModelArts.",
        json_schema_extra={"format": "date-time"},
    )
    conditions: list[Condition] | None = Field(
        default=None,
        description="Ready, Synced and Deleting conditions.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )


# --- ModelArtsProject -----------------------------------------------------------------------------


class ModelArtsProjectStatus(StatusModel):
    """Whether the project's credentials work, and how many pools it serves."""

    observed_generation: int | None = Field(
        default=None, alias="observedGeneration", description="The metadata.generation last checked."
    )
    endpoint: str | None = Field(default=None, description="The ModelArts endpoint the project resolves to.")
    pools: int | None = Field(default=None, description="ModelArtsPool objects this project serves.", ge=0)
    last_checked_at: str | None = Field(
        default=None,
        alias="lastCheckedAt",
        description="When the credentials were last confirmed against ModelArts.",
        json_schema_extra={"format": "date-time"},
    )
    conditions: list[Condition] | None = Field(
        default=None,
        description="Ready: the credentials were accepted by ModelArts (or the cloud's own error).",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
