"""What ModelArts says about a pool, copied into the typed ``status`` (phase, nodes by state, scope, driver,
metadata), and what that means for readiness and polling."""

from __future__ import annotations

from datetime import datetime

from modelarts_operator.modelarts import models
from modelarts_operator.reconcile import conditions as c
from modelarts_operator.reconcile.view import timestamp
from modelarts_operator.resource.status import (
    CloudMetadata,
    DriverState,
    DriverStatus,
    ModelArtsPoolStatus,
    NodeTotals,
    ResourcesByState,
    ResourceState,
    ScopeState,
    Sightings,
)

# status.resources buckets, by attribute name (the wire bucket creationFailed is creation_failed).
NODE_STATES = models.RESOURCE_BUCKETS
# Phases in which nothing is moving: the pool is polled slowly.
STABLE_PHASES = frozenset(
    {
        models.PoolPhase.RUNNING,
        models.PoolPhase.ABNORMAL,
        models.PoolPhase.ERROR,
        models.PoolPhase.CREATION_FAILED,
        models.PoolPhase.SCALING_FAILED,
    }
)
TRANSIENT_SCOPE_STATES = frozenset({models.ScopeState.ENABLING, models.ScopeState.DISABLING})
TRANSIENT_DRIVER_STATES = frozenset({models.DriverPhase.CREATING, models.DriverPhase.UPGRADING})
# Cloud text copied into status is bounded: the status of one object must stay small whatever is answered.
MAX_PHASE = 64
MAX_MESSAGE = 1024


def _clip(text: str | None, limit: int) -> str | None:
    if text is None:
        return None
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _resource_state(item: models.ResourceStatusItem) -> ResourceState:
    return ResourceState.model_validate(item.to_wire())


def node_totals(pool: models.Pool) -> NodeTotals:
    resources = pool.status.resources
    return NodeTotals(**{state: sum(item.count for item in resources.bucket(state)) for state in NODE_STATES})


def apply_mirror(status: ModelArtsPoolStatus, pool: models.Pool) -> None:
    """Copy the pool into ``status`` in place; what the cloud no longer reports is removed."""
    source = pool.status
    status.pool_name = pool.name or status.pool_name
    status.phase = _clip(source.phase, MAX_PHASE)
    status.message = _clip(source.message, MAX_MESSAGE)
    status.parent = source.parent
    status.root = source.root
    status.resources = ResourcesByState(
        **{state: [_resource_state(item) for item in source.resources.bucket(state)] for state in NODE_STATES}
    )
    status.nodes = node_totals(pool)
    status.scope = [ScopeState(scope_type=s.scope_type, state=s.state) for s in source.scope] or None
    status.driver = None
    if source.driver is not None:
        status.driver = DriverStatus(
            gpu=DriverState.model_validate(source.driver.gpu.to_wire()) if source.driver.gpu else None,
            npu=DriverState.model_validate(source.driver.npu.to_wire()) if source.driver.npu else None,
        )
    metadata = pool.metadata
    status.cloud = CloudMetadata(
        display_name=metadata.display_name,
        creation_timestamp=metadata.creation_timestamp,
        deletion_timestamp=metadata.deletion_timestamp,
        billing_mode=metadata.billing_mode,
        resource_id=metadata.resource_id,
        workspace_id=metadata.workspace_id,
    )


def clear_mirror(status: ModelArtsPoolStatus) -> None:
    """Forget the pool (it is gone, or a new one will be created)."""
    for name in (
        "pool_name",
        "phase",
        "message",
        "parent",
        "root",
        "resources",
        "nodes",
        "scope",
        "driver",
        "cloud",
        "seen",
        "adopted",
    ):
        setattr(status, name, None)


def record_sighting(status: ModelArtsPoolStatus, pool: models.Pool, now: datetime) -> None:
    """The pool was seen through GET or list (not only in a create answer)."""
    seen = status.seen or Sightings()
    if seen.first_at is None:
        seen.first_at = timestamp(now)
    if seen.running_at is None and pool.status.phase == models.PoolPhase.RUNNING:
        seen.running_at = timestamp(now)
    status.seen = seen


def in_transition(pool: models.Pool) -> bool:
    """True while something is moving (creation, scaling, driver or scope changes, deletion)."""
    status = pool.status
    if status.phase not in STABLE_PHASES:
        return True
    totals = node_totals(pool)
    if totals.creating or totals.deleting:
        return True
    if any(s.state in TRANSIENT_SCOPE_STATES for s in status.scope):
        return True
    drivers = [status.driver.gpu, status.driver.npu] if status.driver else []
    return any(d is not None and d.state in TRANSIENT_DRIVER_STATES for d in drivers)


def readiness(pool: models.Pool) -> tuple[bool, str, str]:
    """(ready, reason, message) of the Ready condition for what the pool shows."""
    phase = pool.status.phase
    totals = node_totals(pool)
    cloud_message = _clip(pool.status.message, MAX_MESSAGE) or ""
    if phase == "Running":
        if totals.creating or totals.deleting:
            return (
                False,
                c.READY_SCALING,
                (f"scaling: {totals.available} available, {totals.creating} creating, {totals.deleting} deleting"),
            )
        if totals.abnormal:
            return False, c.READY_ABNORMAL, f"{totals.abnormal} abnormal nodes"
        if totals.creation_failed:
            return False, c.READY_ABNORMAL, f"{totals.creation_failed} nodes failed to be created"
        return True, c.READY_AVAILABLE, f"pool is running; nodes available: {totals.available}"
    if phase in (None, "Creating"):
        return False, c.READY_CREATING, cloud_message or "pool is being created"
    if phase == "Deleting":
        return False, c.READY_DELETING, cloud_message or "pool is being deleted"
    if phase == "Waiting":
        return False, c.READY_PENDING, cloud_message or "pool is waiting (unpaid order or approval)"
    if phase == "Abnormal":
        return False, c.READY_ABNORMAL, cloud_message or "pool is abnormal"
    if phase == "CreationFailed":
        return False, c.READY_CREATION_FAILED, cloud_message or "ModelArts failed to create the pool"
    if phase in ("Error", "ScalingFailed"):
        return False, c.READY_ERROR, cloud_message or f"pool phase is {phase}"
    shown = _clip(phase, MAX_PHASE)
    return False, c.READY_UNKNOWN_PHASE, cloud_message or f"ModelArts reports phase {shown!r}, unknown to the operator"
