"""Kubernetes-style conditions kept as wire dicts (the shape written to ``status.conditions``)."""

from __future__ import annotations

from typing import Any

from modelarts_operator.resource.status import ConditionType

Condition = dict[str, Any]

# Reasons, one vocabulary for the whole operator (the Argo CD health check and the README rely on them).
READY_AVAILABLE = "Available"
READY_CREATING = "Creating"
READY_SCALING = "Scaling"
READY_DELETING = "Deleting"
READY_ABNORMAL = "Abnormal"
READY_ERROR = "Error"
READY_PENDING = "Pending"
READY_POOL_GONE = "PoolGone"

SYNCED = "Synced"
SYNCED_UPDATING = "Updating"
SYNCED_DRIFTED = "Drifted"
SYNCED_INVALID_REQUEST = "InvalidRequest"
SYNCED_INVALID_SPEC = "InvalidSpec"
SYNCED_UNAUTHORIZED = "Unauthorized"
SYNCED_THROTTLED = "Throttled"
SYNCED_CLOUD_ERROR = "CloudError"
SYNCED_ADOPTION_CONFLICT = "AdoptionConflict"
SYNCED_DISPLAY_NAME_TAKEN = "DisplayNameTaken"
SYNCED_POOL_NOT_FOUND = "PoolNotFound"
SYNCED_MALFORMED_RESPONSE = "MalformedResponse"

DELETION_REQUESTED = "DeletionRequested"
DELETION_IN_PROGRESS = "DeletionInProgress"
DELETION_STALLED = "DeletionStalled"


def find(conditions: list[Condition], condition_type: str) -> Condition | None:
    return next((c for c in conditions if c.get("type") == condition_type), None)


def upsert(
    conditions: list[Condition] | None,
    condition_type: ConditionType,
    status: bool,
    reason: str,
    message: str,
    *,
    generation: int | None,
    now: str,
) -> list[Condition]:
    """A new list with the condition set; ``lastTransitionTime`` moves only when ``status`` flips."""
    current = list(conditions or [])
    previous = find(current, condition_type)
    status_text = "True" if status else "False"
    transition = now if previous is None or previous.get("status") != status_text else previous["lastTransitionTime"]
    updated: Condition = {
        "type": str(condition_type),
        "status": status_text,
        "reason": reason,
        "message": message,
        "lastTransitionTime": transition,
    }
    if generation is not None:
        updated["observedGeneration"] = generation
    if previous is None:
        return [*current, updated]
    return [updated if c is previous else c for c in current]


def remove(conditions: list[Condition] | None, condition_type: ConditionType) -> list[Condition]:
    return [c for c in (conditions or []) if c.get("type") != condition_type]
