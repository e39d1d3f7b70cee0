"""``ModelArtsProject.spec``: the platform's binding of one ModelArts project, its credentials and its endpoint to
the namespaces it serves (cluster-scoped, admin-only).

Tenants never choose where their pools live or with which credentials: a pool uses the project that selects its
namespace. These models are the source of the ModelArtsProject CRD's spec schema (see ``crd.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from pydantic import ConfigDict, Field

from modelarts_operator.resource.spec import (
    DNS_SUBDOMAIN_PATTERN,
    PROJECT_ID_PATTERN,
    REGION_PATTERN,
    SpecModel,
    cel,
    validations,
)

LABEL_KEY_PATTERN = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)
DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"


class Adoption(StrEnum):
    """What pools of this project may do with pools that existed before them (``spec.poolName``)."""

    FORBIDDEN = "Forbidden"
    OBSERVE_ONLY = "ObserveOnly"
    FULL = "Full"


class SelectorOperator(StrEnum):
    IN = "In"
    NOT_IN = "NotIn"
    EXISTS = "Exists"
    DOES_NOT_EXIST = "DoesNotExist"


class SelectorRequirement(SpecModel):
    """One matchExpressions entry (Kubernetes LabelSelectorRequirement)."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "self.operator in ['Exists', 'DoesNotExist'] ? !has(self.values) || size(self.values) == 0 : "
                "has(self.values) && size(self.values) > 0",
                "values must be given for In and NotIn, and only for them",
                field_path=".values",
            ),
        )
    )

    key: str = Field(description="The label key.", min_length=1, max_length=317, pattern=LABEL_KEY_PATTERN)
    operator: SelectorOperator = Field(description="In, NotIn, Exists or DoesNotExist.")
    values: list[str] | None = Field(
        default=None,
        description="Values for In and NotIn.",
        max_length=64,
        json_schema_extra={"items": {"type": "string", "maxLength": 63}},
    )

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        if self.operator == SelectorOperator.EXISTS:
            return present
        if self.operator == SelectorOperator.DOES_NOT_EXIST:
            return not present
        inside = present and labels[self.key] in (self.values or [])
        return inside if self.operator == SelectorOperator.IN else not inside


class NamespaceSelector(SpecModel):
    """A label selector on Namespaces (Kubernetes LabelSelector semantics: every term must hold)."""

    match_labels: dict[str, str] | None = Field(
        default=None,
        alias="matchLabels",
        description="Labels a namespace must carry, exactly.",
        json_schema_extra={"maxProperties": 32},
    )
    match_expressions: list[SelectorRequirement] | None = Field(
        default=None,
        alias="matchExpressions",
        description="Set-based requirements on namespace labels.",
        max_length=32,
    )

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether a namespace with these labels is selected (an empty selector selects every namespace)."""
        if any(labels.get(key) != value for key, value in (self.match_labels or {}).items()):
            return False
        return all(requirement.matches(labels) for requirement in self.match_expressions or [])


class ProjectSecretReference(SpecModel):
    """The Secret with the project's AK/SK; it lives in a namespace the platform controls."""

    namespace: str = Field(
        description="Namespace of the Secret (typically the operator's own).",
        min_length=1,
        max_length=63,
        pattern=DNS_LABEL_PATTERN,
    )
    name: str = Field(
        description="Name of the Secret; keys accessKey, secretKey and optionally securityToken.",
        min_length=1,
        max_length=253,
        pattern=DNS_SUBDOMAIN_PATTERN,
    )


class ModelArtsProjectSpec(SpecModel):
    """One ModelArts project, the credentials to reach it, and the namespaces whose pools may use it."""

    project_id: str = Field(
        alias="projectId",
        description="Huawei Cloud project ID.",
        min_length=1,
        max_length=64,
        pattern=PROJECT_ID_PATTERN,
    )
    region: str = Field(
        description="Huawei Cloud region, e.g. cn-north-4.", min_length=2, max_length=64, pattern=REGION_PATTERN
    )
    endpoint: str | None = Field(
        default=None,
        description="ModelArts endpoint URL; default https://modelarts.{region}.myhuaweicloud.com. It must match "
        "the operator's MODELARTS_ALLOWED_ENDPOINTS.",
        max_length=512,
        pattern=r"^https?://[^\s/?#@]+(/[^\s?#@]*)?$",
    )
    credentials_secret_ref: ProjectSecretReference = Field(
        alias="credentialsSecretRef", description="Where the project's AK/SK are."
    )
    namespace_selector: NamespaceSelector | None = Field(
        default=None,
        alias="namespaceSelector",
        description="Namespaces whose ModelArtsPools this project serves. Absent: none ({} selects all).",
    )
    adoption: Adoption = Field(
        default=Adoption.FORBIDDEN,
        description="Forbidden (default): pools may not adopt existing ModelArts pools. ObserveOnly: they may "
        "adopt to mirror, never to change or delete. Full: they may adopt and then update and delete.",
    )
