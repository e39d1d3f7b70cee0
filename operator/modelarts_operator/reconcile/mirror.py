"""What ModelArts says about a pool, copied into ``status`` (phase, nodes by state, scope, driver, metadata)."""

from __future__ import annotations

from typing import Any

from modelarts_operator.modelarts import models
from modelarts_operator.reconcile import conditions as c
from modelarts_operator.resource.status import (
    CloudMetadata,
    DriverState,
    DriverStatus,
    NodeTotals,
    ResourcesByState,
    ResourceState,
    ScopeState,
)

NODE_STATES = ("creating", "available", "abnormal", "deleting")
# Phases in which nothing is moving: the pool is polled slowly.
STABLE_PHASES = frozenset({
    models.PoolPhase.RUNNING, models.PoolPhase.ABNORMAL, models.PoolPhase.ERROR,
    models.PoolPhase.CREATION_FAILED, models.PoolPhase.SCALING_FAILED,
})
TRANSIENT_SCOPE_STATES = frozenset({models.ScopeState.ENABLING, models.ScopeState.DISABLING})
TRANSIENT_DRIVER_STATES = frozenset({models.DriverPhase.CREATING, models.DriverPhase.UPGRADING})


def _resource_state(item: models.ResourceStatusItem) -> ResourceState:
    return ResourceState.model_validate(item.to_wire())


def node_totals(pool: models.Pool) -> NodeTotals:
    resources = pool.status.resources
    return NodeTotals(**{state: sum(item.count for item in getattr(resources, state)) for state in NODE_STATES})


def mirrored_status(pool: models.Pool) -> dict[str, Any]:
    """The ``status`` fields that mirror the pool, as wire JSON. Absent cloud fields are ``None`` so that a
    merge-patch removes what the cloud no longer reports."""
    status = pool.status
    resources = ResourcesByState(
        **{state: [_resource_state(item) for item in getattr(status.resources, state)] for state in NODE_STATES}
    )
    driver = None
    if status.driver is not None:
        driver = DriverStatus(
            gpu=DriverState.model_validate(status.driver.gpu.to_wire()) if status.driver.gpu else None,
            npu=DriverState.model_validate(status.driver.npu.to_wire()) if status.driver.npu else None,
        )
    metadata = pool.metadata
    cloud = CloudMetadata(
        display_name=metadata.display_name,
        creation_timestamp=metadata.creation_timestamp,
        deletion_timestamp=metadata.deletion_timestamp,
        billing_mode=metadata.billing_mode,
        resource_id=metadata.resource_id,
        workspace_id=metadata.workspace_id,
    )
    return {
        "poolName": pool.name,
        "phase": status.phase,
        "message": status.message,
        "parent": status.parent,
        "root": status.root,
        "resources": resources.model_dump(by_alias=True, exclude_none=True),
        "nodes": node_totals(pool).model_dump(by_alias=True),
        "scope": [ScopeState(scope_type=s.scope_type, state=s.state).model_dump(by_alias=True, exclude_none=True)
                  for s in status.scope] or None,
        "driver": driver.model_dump(by_alias=True, exclude_none=True) if driver else None,
        "cloud": cloud.model_dump(by_alias=True, exclude_none=True),
    }


def apply_mirror(status: dict[str, Any], pool: models.Pool) -> None:
    """Copy the pool into ``status`` in place; what the cloud no longer reports is removed."""
    for key, value in mirrored_status(pool).items():
        if value is None:
            status.pop(key, None)
        else:
            status[key] = value


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
    cloud_message = pool.status.message or ""
    if phase == "Running":
        if totals.creating or totals.deleting:
            return False, c.READY_SCALING, (
                f"scaling: {totals.available} available, {totals.creating} creating, {totals.deleting} deleting"
            )
        if totals.abnormal:
            return False, c.READY_ABNORMAL, f"{totals.abnormal} abnormal nodes"
        return True, c.READY_AVAILABLE, f"pool is running; nodes available: {totals.available}"
    if phase in (None, "Creating"):
        return False, c.READY_CREATING, cloud_message or "pool is being created"
    if phase == "Deleting":
        return False, c.READY_DELETING, cloud_message or "pool is being deleted"
    if phase == "Waiting":
        return False, c.READY_PENDING, cloud_message or "pool is waiting (unpaid order or approval)"
    if phase == "Abnormal":
        return False, c.READY_ABNORMAL, cloud_message or "pool is abnormal"
    if phase in ("Error", "CreationFailed", "ScalingFailed"):
        return False, c.READY_ERROR, cloud_message or f"pool phase is {phase}"
    return False, phase, cloud_message or f"pool phase is {phase}"
