"""One step of deleting a ModelArtsPool's pool: DELETE, then mirror GETs until ModelArts answers 404.

Nothing here ever gives up: a refusal or a stall becomes the ``Deleting`` condition with reason
``DeletionStalled`` and the cloud's own message, and the step is tried again with backoff. The only ways out
are the pool being gone (404) or the user switching ``deletionPolicy`` to ``Retain``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from modelarts_operator.modelarts import errors
from modelarts_operator.modelarts.client import ModelArtsClient
from modelarts_operator.modelarts.models import Pool
from modelarts_operator.reconcile import conditions as c
from modelarts_operator.reconcile import desired, mirror, recovery
from modelarts_operator.reconcile.timing import Timing
from modelarts_operator.reconcile.view import Claims, ObjectSink, PoolObject, parse_timestamp, timestamp, utc_now
from modelarts_operator.resource.spec import DeletionPolicy
from modelarts_operator.resource.status import ConditionType

# DELETE was accepted but the pool still is not Deleting after this many transition intervals: send it again.
RESEND_AFTER_INTERVALS = 6
# The longest wait between two looks at a draining pool, however far away its predicted end.
MAX_DRAIN_POLL_SECONDS = 60.0


def next_drain_check(*, initial_nodes: int, nodes_left: int, elapsed_seconds: float, transition: float) -> float:
    """Seconds until the next GET of a draining pool.

    Terraform waits 30 s and then polls every 10 s; polling every transition interval would cost more GETs than
    that on a long deletion. So while nodes drain, the next look is half the predicted time to the end (from
    the drain rate so far), never sooner than the transition interval and never later than a minute: few GETs
    early on, the transition interval as the end nears, so the 404 is still seen within one interval.
    """
    drained = initial_nodes - nodes_left
    if nodes_left <= 0 or drained <= 0 or elapsed_seconds <= 0:
        return transition
    predicted_remaining = nodes_left * elapsed_seconds / drained
    return min(max(transition, predicted_remaining / 2), MAX_DRAIN_POLL_SECONDS)


@dataclass(frozen=True)
class DeletionStep:
    done: bool
    requeue_after: float = 0.0
    duration_seconds: float | None = None  # from the first DELETE to 404, when done after deleting


def releasable_without_cloud(obj: PoolObject) -> str | None:
    """Why the object can go without asking ModelArts anything, or ``None``."""
    if obj.spec.deletion_policy == DeletionPolicy.RETAIN:
        if obj.pool_name:
            return f"pool {obj.pool_name} retained in ModelArts (deletionPolicy Retain)"
        return "deletionPolicy is Retain"
    if obj.pool_name is None and obj.create_requested_at is None:
        if obj.spec.pool_name:
            return f"pool {obj.spec.pool_name} was never adopted by this object; left untouched"
        return "no pool was created for this object"
    return None


def _nodes_left(pool: Pool) -> int:
    totals = mirror.node_totals(pool)
    return totals.available + totals.creating + totals.abnormal + totals.deleting


class PoolDeletion:
    """Advances the deletion of one object's pool by one step; build a new one per step."""

    def __init__(
        self,
        client: ModelArtsClient,
        obj: PoolObject,
        sink: ObjectSink,
        claims: Claims,
        timing: Timing,
        *,
        now: Callable[[], datetime] = utc_now,
    ) -> None:
        self._client = client
        self._obj = obj
        self._sink = sink
        self._claims = claims
        self._timing = timing
        self._now = now()
        self._status: dict[str, Any] = dict(obj.status)
        self._deletion: dict[str, Any] = dict(self._status.get("deletion") or {})

    async def step(self) -> DeletionStep:
        name = self._obj.pool_name
        try:
            if name is None:
                found = await self._find_half_created()
                if found is None:
                    self._sink.event(False, "Released", "no pool was created for this object")
                    return DeletionStep(done=True)
                name = found
            if self._should_send_delete():
                return await self._send_delete(name)
            return await self._check(name)
        except errors.PoolNotFound:
            return self._gone(name)
        except errors.ModelArtsError as exc:
            return await self._failed(exc)

    async def _find_half_created(self) -> str | None:
        """A create may have reached ModelArts before a crash: find that pool rather than leak it (and never
        one that another object manages)."""
        intent = self._obj.create_requested_at
        if intent is None:
            return None
        pool = await recovery.find_pool_created_since(
            self._client, desired.display_name(self._obj.spec, self._obj.name), intent,
            workspace_id=self._obj.spec.workspace_id,
            managed_elsewhere=lambda name: bool(self._claims.pool_owners(name) - {self._obj.key}),
        )
        if pool is None or pool.name is None:
            return None
        self._status["poolName"] = pool.name
        return pool.name

    def _should_send_delete(self) -> bool:
        if not self._deletion.get("requestedAt") or self._deletion.get("lastError"):
            return True
        if self._status.get("phase") == "Deleting":
            return False
        last = parse_timestamp(self._deletion.get("lastRequestedAt") or self._deletion.get("requestedAt"))
        resend_after = RESEND_AFTER_INTERVALS * self._timing.transition_seconds
        return last is None or (self._now - last).total_seconds() >= resend_after

    async def _send_delete(self, name: str) -> DeletionStep:
        first = not self._deletion.get("requestedAt")
        self._deletion["attempts"] = int(self._deletion.get("attempts", 0)) + 1
        pool = await self._client.delete_pool(name)
        now = timestamp(self._now)
        self._deletion.setdefault("requestedAt", now)
        self._deletion.setdefault("initialNodes", _nodes_left(pool))
        self._deletion.update(lastRequestedAt=now, lastCheckedAt=now, lastProgressAt=now, failures=0)
        self._deletion.pop("lastError", None)
        self._mirror(pool)
        self._set(c.DELETION_REQUESTED, f"ModelArts accepted the deletion of pool {name}")
        await self._write()
        if first:
            self._sink.event(False, c.DELETION_REQUESTED, f"deleting ModelArts pool {name}")
        return DeletionStep(done=False, requeue_after=self._timing.transition_seconds)

    async def _check(self, name: str) -> DeletionStep:
        pool = await self._client.get_pool(name)
        now = timestamp(self._now)
        before = (self._status.get("phase"), self._status.get("nodes"))
        self._mirror(pool)
        if (self._status.get("phase"), self._status.get("nodes")) != before:
            self._deletion["lastProgressAt"] = now
        self._deletion.update(lastCheckedAt=now, failures=0)
        totals = mirror.node_totals(pool)
        last_progress = parse_timestamp(self._deletion.get("lastProgressAt")) or self._now
        idle = (self._now - last_progress).total_seconds()
        if idle >= self._timing.deletion_stall_seconds:
            message = (f"deletion of pool {name} has not progressed for {int(idle)}s (phase "
                       f"{pool.status.phase or 'unknown'}, {totals.deleting} nodes deleting)")
            self._stalled_event(message)
            self._set(c.DELETION_STALLED, message)
        else:
            self._set(c.DELETION_IN_PROGRESS, f"pool {name} is being deleted: {_nodes_left(pool)} nodes left")
        await self._write()
        requested = parse_timestamp(self._deletion.get("requestedAt")) or self._now
        delay = next_drain_check(
            initial_nodes=int(self._deletion.get("initialNodes") or 0), nodes_left=_nodes_left(pool),
            elapsed_seconds=(self._now - requested).total_seconds(), transition=self._timing.transition_seconds,
        )
        return DeletionStep(done=False, requeue_after=delay)

    def _gone(self, name: str | None) -> DeletionStep:
        requested = parse_timestamp(self._deletion.get("requestedAt"))
        duration = (self._now - requested).total_seconds() if requested else None
        self._sink.event(False, "Deleted", f"pool {name} is gone from ModelArts")
        return DeletionStep(done=True, duration_seconds=duration)

    async def _failed(self, exc: errors.ModelArtsError) -> DeletionStep:
        failures = int(self._deletion.get("failures", 0)) + 1
        message = str(exc)
        self._deletion.update(failures=failures, lastError=message, lastCheckedAt=timestamp(self._now))
        self._stalled_event(message)
        self._set(c.DELETION_STALLED, message)
        await self._write()
        retry_after = exc.retry_after if isinstance(exc, errors.Throttled) else None
        return DeletionStep(done=False, requeue_after=self._timing.backoff(failures, at_least=retry_after or 0.0))

    def _stalled_event(self, message: str) -> None:
        current = c.find(list(self._status.get("conditions") or []), ConditionType.DELETING)
        if current is None or current.get("reason") != c.DELETION_STALLED or current.get("message") != message:
            self._sink.event(True, c.DELETION_STALLED, message)

    def _mirror(self, pool: Pool) -> None:
        mirror.apply_mirror(self._status, pool)

    def _set(self, reason: str, message: str) -> None:
        now = timestamp(self._now)
        generation = self._obj.generation
        conditions = c.upsert(self._status.get("conditions"), ConditionType.DELETING, True, reason, message,
                              generation=generation, now=now)
        self._status["conditions"] = c.upsert(conditions, ConditionType.READY, False, c.READY_DELETING,
                                              "the object is being deleted", generation=generation, now=now)

    async def _write(self) -> None:
        self._status["deletion"] = self._deletion
        self._status["lastSyncTime"] = timestamp(self._now)
        await self._sink.write_status(self._status)
