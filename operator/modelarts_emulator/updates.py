"""What a spec change does to a pool record (scale, scope, driver), and which changes PATCH refuses.

Effects are recorded with an absolute finish time (``until``); ``machine`` turns them into states at any time.
"""

from __future__ import annotations

from typing import Any

from modelarts_emulator.errors import bad_request
from modelarts_emulator.validation import ANNOTATION_BILLING_MODE, LABEL_NAME, LABEL_WORKSPACE

JSON = dict[str, Any]

# Labels and annotations the server owns: a PATCH may not change them.
SERVER_LABELS = (
    "os.modelarts/resource.id",
    "os.modelarts/tenant.domain.id",
    "os.modelarts/tenant.project.id",
    "os.modelarts.pool/biz",
    "os.modelarts/create-from",
)
IMMUTABLE_ANNOTATIONS = (ANNOTATION_BILLING_MODE, "os.modelarts/period.type", "os.modelarts/period.num")


def apply_resources(record: JSON, spec: JSON, until: float) -> None:
    desired = {item["flavor"]: item["count"] for item in spec["resources"]}
    current: dict[str, int] = {}
    for batch in record["nodes"]:
        if batch["state"] != "deleting":
            current[batch["flavor"]] = current.get(batch["flavor"], 0) + batch["count"]
    for flavor in sorted(set(desired) | set(current)):
        delta = desired.get(flavor, 0) - current.get(flavor, 0)
        if delta > 0:
            record["nodes"].append({"flavor": flavor, "count": delta, "state": "creating", "until": until})
        elif delta < 0:
            take_nodes(record["nodes"], flavor, -delta)
            record["nodes"].append({"flavor": flavor, "count": -delta, "state": "deleting", "until": until})
    record["nodes"] = [batch for batch in record["nodes"] if batch["count"] > 0]


def apply_scope(record: JSON, spec: JSON, until: float) -> None:
    wanted = list(spec["scope"])
    entries = []
    for entry in record["scope"]:
        if entry["scopeType"] in wanted and entry["state"] != "Disabling":
            entries.append(entry)
        elif entry["scopeType"] not in wanted and entry["state"] != "Disabling":
            entries.append({**entry, "state": "Disabling", "until": until})
        elif entry["state"] == "Disabling" and entry["scopeType"] not in wanted:
            entries.append(entry)
    present = {e["scopeType"] for e in entries if e["state"] != "Disabling"}
    entries += [{"scopeType": s, "state": "Enabling", "until": until} for s in wanted if s not in present]
    record["scope"] = entries


def apply_driver(record: JSON, old_spec: JSON, spec: JSON, *, until: float, initial: bool) -> None:
    old_driver, driver = old_spec.get("driver") or {}, spec.get("driver") or {}
    for key, field in (("gpu", "gpuVersion"), ("npu", "npuVersion")):
        version = driver.get(field)
        if not version:
            record["driver"].pop(key, None)
        elif version != old_driver.get(field):
            state = "Creating" if initial or key not in record["driver"] else "Upgrading"
            record["driver"][key] = {"version": version, "state": state, "until": until}


def take_nodes(batches: list[JSON], flavor: str, count: int) -> None:
    """Remove ``count`` nodes of a flavor for a scale-in: available ones first, then those still creating."""
    for state in ("available", "creating"):
        for batch in batches:
            if count == 0:
                return
            if batch["flavor"] == flavor and batch["state"] == state:
                taken = min(count, batch["count"])
                batch["count"] -= taken
                count -= taken


def check_update_rules(old: JSON, new: JSON) -> None:
    old_labels, new_labels = old["metadata"].get("labels", {}), new["metadata"].get("labels", {})
    if old_labels.get(LABEL_NAME) != new_labels.get(LABEL_NAME):
        raise bad_request(f"metadata.labels.{LABEL_NAME} (the display name) cannot be modified.")
    for label in SERVER_LABELS:
        if old_labels.get(label) != new_labels.get(label):
            raise bad_request(f"metadata.labels.{label} cannot be modified.")
    old_annotations, new_annotations = (
        old["metadata"].get("annotations", {}),
        new["metadata"].get("annotations", {}),
    )
    for annotation in IMMUTABLE_ANNOTATIONS:
        if old_annotations.get(annotation) != new_annotations.get(annotation):
            raise bad_request(f"metadata.annotations.{annotation} cannot be modified.")
    for field in ("type", "network"):
        if old["spec"].get(field) != new["spec"].get(field):
            raise bad_request(f"spec.{field} cannot be modified.")
    workspace_changed = old_labels.get(LABEL_WORKSPACE, "0") != new_labels.get(LABEL_WORKSPACE, "0")
    others_changed = (
        old["spec"] != new["spec"]
        or old_annotations != new_annotations
        or {k: v for k, v in old_labels.items() if k != LABEL_WORKSPACE}
        != {k: v for k, v in new_labels.items() if k != LABEL_WORKSPACE}
    )
    if workspace_changed and others_changed:
        raise bad_request("The workspace cannot be modified together with other fields.")
