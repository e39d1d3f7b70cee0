"""The ModelArtsPool CustomResourceDefinition, generated from the spec and status models.

``crds/`` in the repository is this module's output (``modelarts-operator crd``); a test fails when it is stale.
pydantic's JSON schema is turned into a Kubernetes *structural* schema: ``$ref`` inlined, ``anyOf [X, null]``
collapsed to ``X`` (an absent field is how Kubernetes says null), titles and null defaults dropped.
"""

from __future__ import annotations

from typing import Any

import yaml

from modelarts_operator.resource import names
from modelarts_operator.resource.spec import OBJECT_RULES, ModelArtsPoolSpec
from modelarts_operator.resource.status import ModelArtsPoolStatus

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


def openapi_schema() -> JsonSchema:
    return {
        "type": "object",
        "description": "A Huawei Cloud ModelArts resource pool managed by the modelarts-pool-operator.",
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string", "description": "APIVersion of this object."},
            "kind": {"type": "string", "description": "Kind of this object."},
            "metadata": {"type": "object"},
            "spec": _without_defs(model_schema(ModelArtsPoolSpec)),
            "status": _without_defs(model_schema(ModelArtsPoolStatus)),
        },
        "x-kubernetes-validations": OBJECT_RULES,
    }


def _condition_column(name: str, condition: str, priority: int = 0) -> dict[str, Any]:
    column: dict[str, Any] = {
        "name": name,
        "type": "string",
        "jsonPath": f'.status.conditions[?(@.type=="{condition}")].status',
    }
    if priority:
        column["priority"] = priority
    return column


PRINTER_COLUMNS: list[dict[str, Any]] = [
    {"name": "Phase", "type": "string", "jsonPath": ".status.phase", "description": "Pool phase in ModelArts."},
    {"name": "Available", "type": "integer", "jsonPath": ".status.nodes.available",
     "description": "Nodes ready for jobs."},
    {"name": "Creating", "type": "integer", "jsonPath": ".status.nodes.creating",
     "description": "Nodes being created."},
    {"name": "Deleting", "type": "integer", "jsonPath": ".status.nodes.deleting",
     "description": "Nodes being removed."},
    _condition_column("Ready", "Ready"),
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    {"name": "Pool", "type": "string", "jsonPath": ".status.poolName", "priority": 1,
     "description": "ModelArts pool name."},
    {"name": "Type", "type": "string", "jsonPath": ".spec.type", "priority": 1},
    {"name": "Abnormal", "type": "integer", "jsonPath": ".status.nodes.abnormal", "priority": 1},
    _condition_column("Synced", "Synced", priority=1),
    {"name": "Message", "type": "string", "jsonPath": ".status.message", "priority": 1},
]


def custom_resource_definition() -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{names.PLURAL}.{names.GROUP}",
            "labels": {"app.kubernetes.io/name": "modelarts-operator", "app.kubernetes.io/part-of": "modelarts"},
        },
        "spec": {
            "group": names.GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": names.KIND,
                "listKind": f"{names.KIND}List",
                "plural": names.PLURAL,
                "singular": names.SINGULAR,
                "shortNames": list(names.SHORT_NAMES),
                "categories": list(names.CATEGORIES),
            },
            "versions": [
                {
                    "name": names.VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": PRINTER_COLUMNS,
                    "schema": {"openAPIV3Schema": openapi_schema()},
                }
            ],
        },
    }


def render_yaml() -> str:
    header = "# Generated by `modelarts-operator crd` from operator/modelarts_operator/resource; do not edit.\n"
    return header + yaml.safe_dump(custom_resource_definition(), sort_keys=False, width=120, allow_unicode=True)
