"""Kubernetes-style conditions on the typed status, and the one vocabulary of reasons.

The Argo CD health check, the alert rules and the docs rely on these reasons; a reason is CamelCase (the
API server's Condition shape), so a phase ModelArts invents is never used as one (``UNKNOWN_PHASE``).
"""

from __future__ import annotations

from modelarts_operator.resource.status import Condition, ConditionStatus, ConditionType

# Ready
READY_AVAILABLE = "Available"
READY_CREATING = "Creating"
READY_SCALING = "Scaling"
READY_DELETING = "Deleting"
READY_ABNORMAL = "Abnormal"
READY_ERROR = "Error"
READY_PENDING = "Pending"
READY_POOL_GONE = "PoolGone"
READY_CREATION_FAILED = "CreationFailed"
READY_UNKNOWN_PHASE = "UnknownPhase"

# Synced
SYNCED = "Synced"
SYNCED_OBSERVE_ONLY = "ObserveOnly"
SYNCED_UPDATING = "Updating"
SYNCED_DRIFTED = "Drifted"
SYNCED_INVALID_REQUEST = "InvalidRequest"
SYNCED_INVALID_SPEC = "InvalidSpec"
SYNCED_NOT_BOUND = "NotBound"
SYNCED_PROJECT_NOT_FOUND = "ProjectNotFound"
SYNCED_ADOPTION_FORBIDDEN = "AdoptionForbidden"
SYNCED_UNAUTHORIZED = "Unauthorized"
SYNCED_THROTTLED = "Throttled"
SYNCED_CLOUD_ERROR = "CloudError"
SYNCED_ADOPTION_CONFLICT = "AdoptionConflict"
SYNCED_DISPLAY_NAME_TAKEN = "DisplayNameTaken"
SYNCED_POOL_NOT_FOUND = "PoolNotFound"
SYNCED_MALFORMED_RESPONSE = "MalformedResponse"
SYNCED_CREATION_FAILED = "CreationFailed"
SYNCED_NOT_OWNED = "NotOwned"

# Deleting
DELETION_REQUESTED = "DeletionRequested"
DELETION_IN_PROGRESS = "DeletionInProgress"
DELETION_STALLED = "DeletionStalled"

# Synced=False reasons no retry fixes: a human has to change the spec or the platform's settings.
TERMINAL_SYNC_REASONS = frozenset(
    {
        SYNCED_INVALID_SPEC,
        SYNCED_INVALID_REQUEST,
        SYNCED_NOT_BOUND,
        SYNCED_PROJECT_NOT_FOUND,
        SYNCED_ADOPTION_FORBIDDEN,
        SYNCED_ADOPTION_CONFLICT,
        SYNCED_DISPLAY_NAME_TAKEN,
        SYNCED_CREATION_FAILED,
        SYNCED_NOT_OWNED,
    }
)


def find(conditions: list[Condition] | None, condition_type: ConditionType | str) -> Condition | None:
    return next((c for c in conditions or [] if c.type == condition_type), None)


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
    status_value = ConditionStatus.TRUE if status else ConditionStatus.FALSE
    transition = now if previous is None or previous.status != status_value else previous.last_transition_time
    updated = Condition(
        type=str(condition_type),
        status=status_value,
        reason=reason,
        message=message,
        last_transition_time=transition,
        observed_generation=generation,
    )
    if previous is None:
        return [*current, updated]
    return [updated if c is previous else c for c in current]


def ready_waits_on(conditions: list[Condition] | None, *, has_pool: bool) -> bool:
    """Whether ``Ready`` should carry the latest refusal: nothing said yet, or only "Pending" on an earlier refusal
    while no pool exists (a stale Pending message would name a problem that is already solved)."""
    ready = find(conditions, ConditionType.READY)
    return ready is None or (ready.reason == READY_PENDING and not has_pool)


def remove(conditions: list[Condition] | None, condition_type: ConditionType) -> list[Condition]:
    return [c for c in conditions or [] if c.type != condition_type]


def reason_of(conditions: list[Condition] | None, condition_type: ConditionType) -> str | None:
    condition = find(conditions, condition_type)
    return condition.reason if condition else None
