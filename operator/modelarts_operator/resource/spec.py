"""``ModelArtsPool.spec``: the ModelArts ``PoolSpecModel`` mirror plus the fields that place and govern a pool.

These models are the single source of the CRD's spec schema (see ``crd.py``): every field's description,
enum, bound and CEL rule is declared here, so ``kubectl explain`` and the API server's validation can never
drift from what the operator reads.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

# The wire enums of the ModelArts API are the schema's enums: one list of allowed values, not two.
from modelarts_operator.modelarts.models import PoolScope, PoolType, UpdateStrategy

# ModelArts display names (label ``os.modelarts/name``): 4-32 chars, lowercase letters, digits and hyphens.
DISPLAY_NAME_PATTERN = r"^[a-z][a-z0-9-]*[a-z0-9]$"
PROJECT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]*$"
REGION_PATTERN = r"^[a-z][a-z0-9]*(-[a-z0-9]+)+$"
# Kubernetes resource names are DNS subdomains; Secret names too.
DNS_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"


def cel(rule: str, message: str, *, field_path: str | None = None, reason: str | None = None) -> dict[str, str]:
    """One ``x-kubernetes-validations`` entry."""
    entry = {"rule": rule, "message": message}
    if field_path:
        entry["fieldPath"] = field_path
    if reason:
        entry["reason"] = reason
    return entry


def validations(*rules: dict[str, str]) -> dict[str, Any]:
    return {"x-kubernetes-validations": list(rules)}


class SpecModel(BaseModel):
    """Base for spec models: camelCase on the wire, unknown fields refused (the API server prunes them anyway)."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore", use_attribute_docstrings=False)


class DeletionPolicy(StrEnum):
    DELETE = "Delete"
    RETAIN = "Retain"


class ManagementPolicy(StrEnum):
    """What the operator may do to the pool: everything, or only mirror it (never PATCH or DELETE)."""

    FULL = "Full"
    OBSERVE_ONLY = "ObserveOnly"


class ImageType(StrEnum):
    PRIVATE = "private"
    PRESET = ""


class SecretReference(SpecModel):
    """A Secret in the same namespace as the ModelArtsPool."""

    name: str = Field(
        description="Name of a Secret in the object's namespace with keys accessKey, secretKey and optionally "
        "securityToken (temporary AK/SK).",
        min_length=1,
        max_length=253,
        pattern=DNS_SUBDOMAIN_PATTERN,
    )


class ProjectReference(SpecModel):
    """A ModelArtsProject (cluster-scoped) that serves this object's namespace."""

    name: str = Field(
        description="Name of a ModelArtsProject whose namespaceSelector selects this namespace; it supplies the "
        "project, region, endpoint and credentials.",
        min_length=1,
        max_length=253,
        pattern=DNS_SUBDOMAIN_PATTERN,
    )


class AvailabilityZoneCount(SpecModel):
    """How many of a resource's nodes go to one availability zone."""

    az: str = Field(description="Availability zone, e.g. cn-north-4a.", min_length=1, max_length=64)
    count: int = Field(description="Nodes in this availability zone.", ge=0, le=10000)


class ResourceOs(SpecModel):
    """Operating system image of the nodes."""

    name: str | None = Field(default=None, description="OS name, e.g. EulerOS.", max_length=128)
    image_id: str | None = Field(default=None, alias="imageId", description="Image ID.", max_length=128)
    image_type: ImageType | None = Field(
        default=None,
        alias="imageType",
        description='Image type: "private" for a private image, "" (default) for a preset image.',
    )


class PoolResourceSpec(SpecModel):
    """One flavor of nodes in the pool (an element of PoolSpecModel.resources)."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "!has(self.maxCount) || self.maxCount >= self.count",
                "maxCount must be at least count",
                field_path=".maxCount",
            ),
            cel(
                "!has(self.azs) || self.azs.map(a, a.count).sum() == self.count",
                "the counts in azs must add up to count",
                field_path=".azs",
            ),
        )
    )

    flavor: str = Field(
        description="Resource flavor ID (from GET /v1/{project_id}/resourceflavors), e.g. modelarts.vm.cpu.8ud.",
        min_length=1,
        max_length=128,
    )
    count: int = Field(description="Number of nodes of this flavor.", ge=1, le=10000)
    max_count: int | None = Field(
        default=None,
        alias="maxCount",
        description="Elastic upper bound of nodes; ModelArts defaults it to count (physical pools need it equal).",
        ge=1,
        le=10000,
    )
    azs: list[AvailabilityZoneCount] | None = Field(
        default=None,
        description="Spread of the nodes over availability zones; the counts must add up to count.",
        max_length=16,
    )
    extend_params: dict[str, str] | None = Field(
        default=None,
        alias="extendParams",
        description='Extra flavor parameters, e.g. {"dockerBaseSize": "0"}.',
        json_schema_extra={"maxProperties": 32},
    )
    os: ResourceOs | None = Field(default=None, description="Node operating system image.")


class PoolNetwork(SpecModel):
    """ModelArts network the pool's nodes join (required for Dedicate pools)."""

    name: str = Field(
        description="metadata.name of a ModelArts network (GET /v1/{project_id}/networks).",
        min_length=1,
        max_length=128,
    )


class PoolDriverSpec(SpecModel):
    """Accelerator driver versions of a Dedicate pool."""

    gpu_version: str | None = Field(default=None, alias="gpuVersion", description="GPU driver version.", max_length=64)
    npu_version: str | None = Field(default=None, alias="npuVersion", description="NPU driver version.", max_length=64)
    update_strategy: UpdateStrategy | None = Field(
        default=None,
        alias="updateStrategy",
        description="How a driver change is rolled out: force (now, may interrupt running jobs) or idle (when "
        "no job runs on the node).",
    )


def _unchanged_once_created(field: str, *, scalar: bool = True) -> str:
    """CEL: a spec field may still change until the operator has recorded a pool for the object."""
    value = f"self.spec.{field}" if scalar else f"self.spec.{field}.name"
    old = f"oldSelf.spec.{field}" if scalar else f"oldSelf.spec.{field}.name"
    return (
        "!has(oldSelf.status) || !has(oldSelf.status.poolName) || "
        f"(has(self.spec.{field}) ? {value} : '') == (has(oldSelf.spec.{field}) ? {old} : '')"
    )


IMMUTABLE_ONCE_CREATED = ("projectId", "region", "endpoint", "displayName", "type")
IMMUTABLE_REFERENCES_ONCE_CREATED = ("network", "projectRef")

OBJECT_RULES = [
    cel(
        "has(self.spec.poolName) || has(self.spec.displayName) || "
        "(size(self.metadata.name) >= 4 && size(self.metadata.name) <= 32 && "
        "self.metadata.name.matches('" + DISPLAY_NAME_PATTERN + "'))",
        "metadata.name is not a valid ModelArts display name (4-32 lowercase letters, digits and hyphens, "
        "starting with a letter): set spec.displayName",
        reason="FieldValueInvalid",
    ),
    *[
        cel(
            _unchanged_once_created(field),
            f"spec.{field} is immutable once the pool exists",
            field_path=f".spec.{field}",
            reason="FieldValueForbidden",
        )
        for field in IMMUTABLE_ONCE_CREATED
    ],
    *[
        cel(
            _unchanged_once_created(field, scalar=False),
            f"spec.{field} is immutable once the pool exists",
            field_path=f".spec.{field}",
            reason="FieldValueForbidden",
        )
        for field in IMMUTABLE_REFERENCES_ONCE_CREATED
    ],
]


class ModelArtsPoolSpec(SpecModel):
    """Desired state of a ModelArts resource pool: PoolSpecModel at the top level, plus placement and policy."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "has(self.poolName) || (has(self.type) && has(self.scope) && has(self.resources))",
                "type, scope and resources are required unless poolName adopts an existing pool",
            ),
            cel(
                "!has(self.type) || self.type != 'Dedicate' || has(self.network)",
                "spec.network is required for Dedicate pools",
                field_path=".network",
                reason="FieldValueRequired",
            ),
            cel(
                "!has(self.type) || self.type != 'Logical' || !has(self.network)",
                "Logical pools have no network of their own: remove spec.network",
                field_path=".network",
            ),
            cel(
                "!has(self.type) || self.type != 'Dedicate' || !has(self.resources) || "
                "self.resources.all(r, !has(r.maxCount) || r.maxCount == r.count)",
                "Dedicate (physical) pools need maxCount equal to count (or no maxCount)",
                field_path=".resources",
            ),
            cel(
                "!has(self.poolName) || has(oldSelf.poolName)",
                "spec.poolName can only be set when the object is created",
                field_path=".poolName",
                reason="FieldValueForbidden",
            ),
            cel(
                "!has(oldSelf.poolName) || (has(self.poolName) && self.poolName == oldSelf.poolName)",
                "spec.poolName is immutable",
                field_path=".poolName",
                reason="FieldValueForbidden",
            ),
            cel(
                "!has(self.poolName) || has(self.managementPolicy)",
                "adopting an existing pool with spec.poolName needs spec.managementPolicy: ObserveOnly (mirror "
                "it, never change or delete it) or Full",
                field_path=".managementPolicy",
                reason="FieldValueRequired",
            ),
            cel(
                "!has(self.managementPolicy) || self.managementPolicy == 'Full' || has(self.poolName)",
                "managementPolicy ObserveOnly needs spec.poolName: an existing pool to observe",
                field_path=".managementPolicy",
            ),
            cel(
                "!has(self.projectRef) || (!has(self.projectId) && !has(self.region) && !has(self.endpoint) && "
                "!has(self.credentialsSecretRef))",
                "a pool bound to a ModelArtsProject (spec.projectRef) takes projectId, region, endpoint and "
                "credentials from it: remove them from the spec",
                field_path=".projectRef",
                reason="FieldValueForbidden",
            ),
        )
    )

    project_ref: ProjectReference | None = Field(
        default=None,
        alias="projectRef",
        description="The ModelArtsProject to use (it must select this namespace). Default: the one project "
        "whose namespaceSelector selects this namespace. Immutable once the pool exists.",
    )
    project_id: str | None = Field(
        default=None,
        alias="projectId",
        description="Huawei Cloud project ID the pool lives in, for a pool with its own credentialsSecretRef. "
        "Default: the serving ModelArtsProject's (which it may not contradict), else the operator's "
        "MODELARTS_PROJECT_ID. Immutable once the pool exists.",
        min_length=1,
        max_length=64,
        pattern=PROJECT_ID_PATTERN,
    )
    region: str | None = Field(
        default=None,
        description="Huawei Cloud region, e.g. cn-north-4. Default: the serving ModelArtsProject's, else the "
        "operator's MODELARTS_REGION. Immutable once the pool exists.",
        min_length=2,
        max_length=64,
        pattern=REGION_PATTERN,
    )
    endpoint: str | None = Field(
        default=None,
        description="ModelArts endpoint URL; it must match the operator's MODELARTS_ALLOWED_ENDPOINTS. Default: "
        "the serving ModelArtsProject's, else the operator's MODELARTS_ENDPOINT, else "
        "https://modelarts.{region}.myhuaweicloud.com. Immutable once the pool exists.",
        max_length=512,
        pattern=r"^https?://[^\s/?#@]+(/[^\s?#@]*)?$",
    )
    credentials_secret_ref: SecretReference | None = Field(
        default=None,
        alias="credentialsSecretRef",
        description="The team's own credentials: a Secret in this namespace, labelled "
        "modelarts.operator.dev/credentials=true, holding the AK/SK to call ModelArts with. Used only when the "
        "platform allows tenant Secrets (MODELARTS_TENANT_SECRETS). Default: the serving ModelArtsProject's.",
    )
    pool_name: str | None = Field(
        default=None,
        alias="poolName",
        description="Adopt this existing ModelArts pool (its metadata.name) instead of creating one; needs "
        "spec.managementPolicy and a ModelArtsProject that allows adoption. Only at creation of the object; "
        "immutable.",
        min_length=1,
        max_length=63,
        pattern=r"^[a-z][a-z0-9-]*[a-z0-9]$",
    )
    management_policy: ManagementPolicy | None = Field(
        default=None,
        alias="managementPolicy",
        description="Full (default for pools this object creates): create, update and delete the pool. "
        "ObserveOnly: only mirror an adopted pool (spec.poolName), never PATCH or DELETE it; deleting the object "
        "leaves the pool in ModelArts. Required with spec.poolName; Full adoption needs a ModelArtsProject whose "
        "adoption is Full.",
    )
    deletion_policy: DeletionPolicy = Field(
        default=DeletionPolicy.DELETE,
        alias="deletionPolicy",
        description="Delete (default): deleting the object deletes the pool. Retain: the pool stays in the "
        "cloud. Switching to Retain while the object is being deleted releases it at once.",
    )
    deletion_protection: bool = Field(
        default=False,
        alias="deletionProtection",
        description="When true, the API server refuses to delete this object (admission policy shipped with "
        "the chart). Set to false first to delete.",
    )
    display_name: str | None = Field(
        default=None,
        alias="displayName",
        description="ModelArts display name (label os.modelarts/name). Default: metadata.name. Immutable once "
        "the pool exists.",
        min_length=4,
        max_length=32,
        pattern=DISPLAY_NAME_PATTERN,
    )
    workspace_id: str | None = Field(
        default=None,
        alias="workspaceId",
        description='ModelArts workspace ID (label os.modelarts/workspace.id); "0" is the default workspace.',
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_-]+$",
    )
    description: str | None = Field(
        default=None,
        description="Pool description (annotation os.modelarts/description); must not contain !<>=&\"'.",
        max_length=256,
        pattern=r"^[^!<>=&\"']*$",
    )
    type: PoolType | None = Field(
        default=None,
        description="Dedicate: a physical pool with its own network and drivers. Logical: no network of its "
        "own, faster to create. Immutable once the pool exists.",
    )
    scope: list[PoolScope] | None = Field(
        default=None,
        description="Job types the pool serves: Train, Infer, Notebook (at least one).",
        min_length=1,
        max_length=3,
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    resources: list[PoolResourceSpec] | None = Field(
        default=None,
        description="Node flavors and counts of the pool (each flavor at most once).",
        min_length=1,
        max_length=16,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["flavor"]},
    )
    network: PoolNetwork | None = Field(
        default=None, description="Network of a Dedicate pool. Immutable once the pool exists."
    )
    job_flavors: list[str] | None = Field(
        default=None,
        alias="jobFlavors",
        description="Job flavors the pool supports.",
        max_length=64,
        json_schema_extra={"items": {"type": "string", "maxLength": 128}},
    )
    driver: PoolDriverSpec | None = Field(default=None, description="Accelerator drivers of a Dedicate pool.")

    @property
    def effective_management_policy(self) -> ManagementPolicy:
        """``Full`` unless the spec says otherwise (the CRD requires it to be said when adopting)."""
        return self.management_policy or ManagementPolicy.FULL
