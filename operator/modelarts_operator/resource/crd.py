"""The operator's CustomResourceDefinitions (ModelArtsPool, ModelArtsProject), generated from the models.

``crds/`` in the repository is this module's output (``modelarts-operator crd``); a test fails when it is stale.
pydantic's JSON schema is turned into a Kubernetes *structural* schema: ``$ref`` inlined, ``anyOf [X, null]``
collapsed to ``X`` (an absent field is how Kubernetes says null), titles and null defaults dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml
from pydantic import BaseModel

from modelarts_operator.resource import names
from modelarts_operator.resource.project import ModelArtsProjectSpec
from modelarts_operator.resource.spec import OBJECT_RULES, ModelArtsPoolSpec
from modelarts_operator.resource.status import ModelArtsPoolStatus, ModelArtsProjectStatus

JsonSchema = dict[str, Any]
_DROPPED_KEYS = {"title"}


def structural(node: JsonSchema, defs: dict[str, JsonSchema]) -> JsonSchema:
    """Rewrite one pydantic JSON-schema node into the structural form the API server accepts."""
    node = dict(node)
    if "$ref" in node:
        target = defs[node.pop("$ref").rsplit("/", 1)[-1]]
        return _merge(structural(target, defs), structural(node, defs))
    if "anyOf" in node:
        variants = [v for v in node.pop("anyOf") if v.get("type") != "null"]
        if len(variants) != 1:
            raise ValueError(f"cannot express a union of {len(variants)} types in a structural schema")
        return _merge(structural(variants[0], defs), structural(node, defs))
    result: JsonSchema = {}
    for key, value in node.items():
        if key in _DROPPED_KEYS or (key == "default" and value is None):
            continue
        if key == "properties":
            result[key] = {name: structural(sub, defs) for name, sub in value.items()}
        elif key == "items" or (key == "additionalProperties" and isinstance(value, dict)):
            result[key] = structural(value, defs)
        else:
            result[key] = value
    return result


def _merge(base: JsonSchema, override: JsonSchema) -> JsonSchema:
    """The field's own keywords (description, default, rules) win over those of the referenced model."""
    merged = {**base, **override}
    rules = base.get("x-kubernetes-validations", []) + override.get("x-kubernetes-validations", [])
    if rules:
        merged["x-kubernetes-validations"] = rules
    return merged


def model_schema(model: type[Any]) -> JsonSchema:
    raw = model.model_json_schema(by_alias=True, mode="validation")
    return structural(raw, raw.get("$defs", {}))


def _without_defs(schema: JsonSchema) -> JsonSchema:
    return {key: value for key, value in schema.items() if key != "$defs"}


@dataclass(frozen=True)
class Kind:
    """What differs between the operator's CustomResourceDefinitions."""

    kind: str
    plural: str
    singular: str
    short_names: tuple[str, ...]
    scope: str
    description: str
    spec_model: type[BaseModel]
    status_model: type[BaseModel]
    printer_columns: tuple[dict[str, Any], ...]
    object_rules: tuple[dict[str, str], ...] = ()

    @property
    def crd_name(self) -> str:
        return f"{self.plural}.{names.GROUP}"

    @property
    def file_name(self) -> str:
        """The file in ``crds/`` (and the chart's and the kustomize base's copies)."""
        return f"{names.GROUP}_{self.plural}.yaml"


def _condition_column(name: str, condition: str, priority: int = 0) -> dict[str, Any]:
    column: dict[str, Any] = {
        "name": name,
        "type": "string",
        "jsonPath": f'.status.conditions[?(@.type=="{condition}")].status',
    }
    if priority:
        column["priority"] = priority
    return column


POOL = Kind(
    kind=names.KIND,
    plural=names.PLURAL,
    singular=names.SINGULAR,
    short_names=names.SHORT_NAMES,
    scope="Namespaced",
    description="A Huawei Cloud ModelArts resource pool managed by the modelarts-pool-operator.",
    spec_model=ModelArtsPoolSpec,
    status_model=ModelArtsPoolStatus,
    object_rules=tuple(OBJECT_RULES),
    printer_columns=(
        {"name": "Phase", "type": "string", "jsonPath": ".status.phase", "description": "Pool phase in ModelArts."},
        {
            "name": "Available",
            "type": "integer",
            "jsonPath": ".status.nodes.available",
            "description": "Nodes ready for jobs.",
        },
        {
            "name": "Creating",
            "type": "integer",
            "jsonPath": ".status.nodes.creating",
            "description": "Nodes being created.",
        },
        {
            "name": "Deleting",
            "type": "integer",
            "jsonPath": ".status.nodes.deleting",
            "description": "Nodes being removed.",
        },
        _condition_column("Ready", "Ready"),
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        {
            "name": "Pool",
            "type": "string",
            "jsonPath": ".status.poolName",
            "priority": 1,
            "description": "ModelArts pool name.",
        },
        {"name": "Type", "type": "string", "jsonPath": ".spec.type", "priority": 1},
        {"name": "Abnormal", "type": "integer", "jsonPath": ".status.nodes.abnormal", "priority": 1},
        _condition_column("Synced", "Synced", priority=1),
        {"name": "Message", "type": "string", "jsonPath": ".status.message", "priority": 1},
    ),
)

PROJECT = Kind(
    kind=names.PROJECT_KIND,
    plural=names.PROJECT_PLURAL,
    singular=names.PROJECT_SINGULAR,
    short_names=names.PROJECT_SHORT_NAMES,
    scope="Cluster",
    description="A ModelArts project, its credentials and endpoint, bound by the platform team to the namespaces "
    "whose ModelArtsPools may use it.",
    spec_model=ModelArtsProjectSpec,
    status_model=ModelArtsProjectStatus,
    printer_columns=(
        {"name": "Project", "type": "string", "jsonPath": ".spec.projectId", "description": "ModelArts project ID."},
        {"name": "Region", "type": "string", "jsonPath": ".spec.region"},
        _condition_column("Ready", "Ready"),
        {
            "name": "Pools",
            "type": "integer",
            "jsonPath": ".status.pools",
            "description": "ModelArtsPool objects served.",
        },
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    ),
)

KINDS = (POOL, PROJECT)


def openapi_schema(kind: Kind = POOL) -> JsonSchema:
    schema: JsonSchema = {
        "type": "object",
        "description": kind.description,
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string", "description": "APIVersion of this object."},
            "kind": {"type": "string", "description": "Kind of this object."},
            "metadata": {"type": "object"},
            "spec": _without_defs(model_schema(kind.spec_model)),
            "status": _without_defs(model_schema(kind.status_model)),
        },
    }
    if kind.object_rules:
        schema["x-kubernetes-validations"] = list(kind.object_rules)
    return schema


def custom_resource_definition(kind: Kind = POOL) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": kind.crd_name,
            "labels": {"app.kubernetes.io/name": "modelarts-operator", "app.kubernetes.io/part-of": "modelarts"},
        },
        "spec": {
            "group": names.GROUP,
            "scope": kind.scope,
            "names": {
                "kind": kind.kind,
                "listKind": f"{kind.kind}List",
                "plural": kind.plural,
                "singular": kind.singular,
                "shortNames": list(kind.short_names),
                "categories": list(names.CATEGORIES),
            },
            "versions": [
                {
                    "name": names.VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": list(kind.printer_columns),
                    "schema": {"openAPIV3Schema": openapi_schema(kind)},
                }
            ],
        },
    }


def render_yaml(kind: Kind = POOL) -> str:
    header = "# Generated by `modelarts-operator crd` from operator/modelarts_operator/resource; do not edit.\n"
    return header + yaml.safe_dump(custom_resource_definition(kind), sort_keys=False, width=120, allow_unicode=True)


def kind_named(name: str) -> Kind:
    """``pool``/``project`` (or the kind, plural or short name) → its :class:`Kind`."""
    short = name.lower()
    for kind in KINDS:
        kind_short = kind.singular.removeprefix("modelarts")
        if short in (kind.kind.lower(), kind.plural, kind.singular, *kind.short_names, kind_short, f"{kind_short}s"):
            return kind
    raise ValueError(f"unknown kind {name!r}")
