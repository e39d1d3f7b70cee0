"""Deleting a ModelArtsPool's pool: one decision (:func:`decide`), then steps until ModelArts answers 404.

The decision is typed: :class:`Release` (the object may go without asking the cloud: Retain, observe-only, nothing
ever created) or :class:`DeletePool` (steps of :class:`PoolDeletion`). Nothing here ever gives up: a refusal or
a stall becomes the ``Deleting`` condition with reason ``DeletionStalled`` and the cloud's own message, and the
step is tried again with backoff. The only ways out are the pool being gone (404, confirmed) or the user
switching ``deletionPolicy`` to ``Retain``.

Before every DELETE the pool is checked to be this object's (``ownership.refusal``): a forged ``status.poolName``
never deletes somebody else's pool. A 404 for a pool never seen and younger than the grace period is
read-after-create lag, not proof that it is gone: the finalizer stays until the failed list or time says so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from modelarts_operator.modelarts import errors
from modelarts_operator.modelarts.client import ModelArtsClient
from modelarts_operator.modelarts.models import Pool, PoolPhase
from modelarts_operator.reconcile import conditions as c
from modelarts_operator.reconcile import desired, mirror, ownership, recovery
from modelarts_operator.reconcile.binding import Binding
from modelarts_operator.reconcile.timing import Timing
from modelarts_operator.reconcile.view import (
    Claims,
    ObjectSink,
    PoolObject,
    PoolReader,
    Sighting,
    parse_timestamp,
    timestamp,
    utc_now,
)
from modelarts_operator.resource.project import Adoption
from modelarts_operator.resource.spec import DeletionPolicy, ManagementPolicy
from modelarts_operator.resource.status import ConditionType, DeletionProgress, ModelArtsPoolStatus

# DELETE was accepted but the pool still is not Deleting after this many transition intervals: send it again.
RESEND_AFTER_INTERVALS = 6
# The longest wait between two looks at a draining pool, however far away its predicted end.
MAX_DRAIN_POLL_SECONDS = 60.0
# lastCheckedAt is a heartbeat: written at most this often while nothing else a user can see changes.
HEARTBEAT_SECONDS = 60.0


@dataclass(frozen=True)
class Release:
    """The object may go now; the pool (if any) stays untouched. ``retained``: by ``deletionPolicy: Retain``."""

    message: str
    retained: bool = False

    @property
    def event_reason(self) -> str:
        return "Retained" if self.retained else "Released"


@dataclass(frozen=True)
class DeletePool:
    """The pool must be deleted (or found, if a create may have reached ModelArts) before the object goes."""


Decision = Release | DeletePool


def decide(obj: PoolObject, binding: Binding | None) -> Decision:
    """What deleting this object means, from the object alone (and its binding, for adopted pools)."""
    if obj.spec.deletion_policy == DeletionPolicy.RETAIN:
        if obj.pool_name:
            return Release(f"pool {obj.pool_name} retained in ModelArts (deletionPolicy Retain)", retained=True)
        return Release("deletionPolicy is Retain", retained=True)
    if obj.spec.pool_name is not None:
        if obj.pool_name is None:
            return Release(f"pool {obj.spec.pool_name} was never adopted by this object; left untouched")
        if obj.spec.effective_management_policy == ManagementPolicy.OBSERVE_ONLY:
            return Release(f"pool {obj.pool_name} left in ModelArts (managementPolicy ObserveOnly)")
        if binding is not None and binding.adoption != Adoption.FULL:
            return Release(
                f"pool {obj.pool_name} left in ModelArts: {binding.origin} no longer allows deleting "
                f"adopted pools (adoption {binding.adoption})"
            )
        return DeletePool()
    if obj.pool_name is None and obj.create_requested_at is None:
        return Release("no pool was created for this object")
    return DeletePool()


def next_drain_check(*, initial_nodes: int, nodes_left: int, elapsed_seconds: float, transition: float) -> float:
    """Seconds until the next look at a draining pool.

    Terraform waits 30 s and then polls every 10 s; looking every transition interval would cost more than that
    on a long deletion. So while nodes drain, the next look is half the predicted time to the end (from the
    drain rate so far), never sooner than the transition interval and never later than a minute: few looks
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
    # How often the pool must be looked at meanwhile, and when to step again regardless (a retry).
    observe_every: float = 0.0
    retry_after: float | None = None
    duration_seconds: float | None = None  # from the first DELETE to 404, when done after deleting
    message: str = ""  # why it is done (the step has posted the Event saying so)
    credentials_refused: bool = False


def _nodes_left(pool: Pool) -> int:
    return mirror.node_totals(pool).total


class PoolDeletion:
    """Advances the deletion of one object's pool by one step; build a new one per step."""

    def __init__(
        self,
        client: ModelArtsClient,
        reader: PoolReader,
        obj: PoolObject,
        binding: Binding,
        sink: ObjectSink,
        claims: Claims,
        timing: Timing,
        *,
        visibility_grace_seconds: float = 600.0,
        now: Callable[[], datetime] = utc_now,
    ) -> None:
        self._client = client
        self._reader = reader
        self._obj = obj
        self._binding = binding
        self._sink = sink
        self._claims = claims
        self._timing = timing
        self._grace = visibility_grace_seconds
        self._now = now()
        self._status: ModelArtsPoolStatus = obj.status.deep_copy()
        self._deletion: DeletionProgress = self._status.deletion or DeletionProgress()

    async def step(self) -> DeletionStep:
        name = self._obj.pool_name
        try:
            if name is None:
                found = await self._find_half_created()
                if found is None:
                    return self._released("no pool was created for this object")
                name = found
            sighting = await self._reader.look(name)
            pool = sighting.pool
            if pool is None and not sighting.confirmed and (self._ever_seen() or not self._young()):
                pool = await self._reader.confirm(name)  # the list lacks it: a GET confirms the 404
                sighting = Sighting(pool, confirmed=True)
            if pool is None:
                return await self._not_there(name, confirmed=sighting.confirmed)
            refused = ownership.refusal(self._obj, pool, self._claims, self._binding, action="delete")
            if refused is not None:
                return await self._failed_with(refused + "; set deletionPolicy Retain to release the object")
            if self._should_send_delete(pool):
                return await self._send_delete(name)
            return await self._watch(name, pool)
        except errors.PoolNotFound:
            assert name is not None
            return await self._not_there(name, confirmed=True)
        except errors.ModelArtsError as exc:
            return await self._failed(exc)

    async def _find_half_created(self) -> str | None:
        """A create may have reached ModelArts before a crash: find that pool rather than leak it (and never
        one that another object manages, or one older than the object)."""
        intent = self._obj.create_requested_at
        if intent is None:
            return None
        pool = await recovery.find_pool_created_since(
            self._client,
            desired.display_name(self._obj.spec, self._obj.name),
            intent,
            workspace_id=self._obj.spec.workspace_id,
            managed_elsewhere=lambda name: bool(ownership.managed_elsewhere(self._obj, self._claims, name)),
        )
        if pool is None or pool.name is None:
            return None
        self._status.pool_name = pool.name
        return pool.name

    def _should_send_delete(self, pool: Pool) -> bool:
        # A pool already going needs no DELETE, even when our record of having sent one is missing: the status
        # write after it failed (API server unreachable) or the replica that sent it died before writing.
        if pool.status.phase == PoolPhase.DELETING or pool.metadata.deletion_timestamp:
            return False
        if not self._deletion.requested_at or self._deletion.last_error:
            return True
        last = parse_timestamp(self._deletion.last_requested_at or self._deletion.requested_at)
        resend_after = RESEND_AFTER_INTERVALS * self._timing.transition_seconds
        return last is None or (self._now - last).total_seconds() >= resend_after

    async def _send_delete(self, name: str) -> DeletionStep:
        first = not self._deletion.requested_at
        self._deletion.attempts += 1
        try:
            pool = await self._client.delete_pool(name)
        except errors.PoolNotFound:
            return await self._not_there(name, confirmed=True)
        self._reader.wrote(name, read_back=False)
        now = timestamp(self._now)
        self._deletion.requested_at = self._deletion.requested_at or now
        if self._deletion.initial_nodes is None:
            self._deletion.initial_nodes = _nodes_left(pool)
        self._deletion.last_requested_at = now
        self._deletion.last_checked_at = now
        self._deletion.last_progress_at = now
        self._deletion.failures = 0
        self._deletion.last_error = None
        mirror.apply_mirror(self._status, pool)
        if first:
            self._sink.event(False, c.DELETION_REQUESTED, f"deleting ModelArts pool {name}")
        # One status write for the DELETE and what ModelArts shows right after it: the snapshot DELETE answers
        # may still say Running and the next look says Deleting, which cost two writes (and two watch events)
        # per pool. The look is the fresh list asked for after the DELETE (a GET only if the list fails), taken
        # when the write may go (in a burst, after the other objects' DELETEs: one list then serves them all).
        await self._sink.turn()
        try:
            after = (await self._reader.look(name)).pool
        except errors.ModelArtsError:
            after = None  # the DELETE was accepted all the same: say so; the next step looks again
        if after is not None and (after.status.phase == PoolPhase.DELETING or after.metadata.deletion_timestamp):
            return await self._watch(name, after)
        self._set(c.DELETION_REQUESTED, f"ModelArts accepted the deletion of pool {name}")
        await self._write()
        return DeletionStep(done=False, observe_every=self._timing.transition_seconds)

    async def _watch(self, name: str, pool: Pool, *, retry_after: float | None = None) -> DeletionStep:
        now = timestamp(self._now)
        before = (self._status.phase, self._status.nodes)
        mirror.apply_mirror(self._status, pool)
        mirror.record_sighting(self._status, pool, self._now)
        if (self._status.phase, self._status.nodes) != before:
            self._deletion.last_progress_at = now
        self._deletion.failures = 0
        totals = mirror.node_totals(pool)
        last_progress = parse_timestamp(self._deletion.last_progress_at) or self._now
        idle = (self._now - last_progress).total_seconds()
        if idle >= self._timing.deletion_stall_seconds:
            # A stable text (no running count of seconds): the Event is posted when the stall starts or changes,
            # not on every look.
            message = (
                f"deletion of pool {name} has not progressed since {self._deletion.last_progress_at} (phase "
                f"{pool.status.phase or 'unknown'}, {totals.deleting} nodes deleting)"
            )
            self._stalled_event(message)
            self._set(c.DELETION_STALLED, message)
        else:
            self._set(c.DELETION_IN_PROGRESS, f"pool {name} is being deleted: {_nodes_left(pool)} nodes left")
        await self._write(heartbeat=True)
        requested = parse_timestamp(self._deletion.requested_at) or self._now
        every = next_drain_check(
            initial_nodes=int(self._deletion.initial_nodes or 0),
            nodes_left=_nodes_left(pool),
            elapsed_seconds=(self._now - requested).total_seconds(),
            transition=self._timing.transition_seconds,
        )
        return DeletionStep(done=False, observe_every=every, retry_after=retry_after)

    async def _not_there(self, name: str, *, confirmed: bool) -> DeletionStep:
        """DELETE or GET answered 404 (``confirmed``), or the list no longer shows a young, unseen pool.

        A 404 is taken as proof only for a pool seen Running and older than the grace period; otherwise the
        failed creations and a fresh list are asked first (shared answers, not per pool)."""
        if not self._protected():
            return self._gone(name)
        if await self._reader.failed(name) is not None:
            return self._released(f"pool {name} failed to be created in ModelArts; nothing to delete")
        listed = await self._reader.listed(name, desired.display_name(self._obj.spec, self._obj.name))
        if listed is not None:
            # ModelArts shows it after all (GET and list disagree for a new pool): look again shortly, and the
            # next step deletes or watches it as usual.
            mirror.record_sighting(self._status, listed, self._now)
            return await self._watch(name, listed, retry_after=self._timing.transition_seconds)
        if self._ever_seen() or not self._young():
            return self._gone(name)
        created = self._created_at()
        age = int((self._now - created).total_seconds()) if created else 0
        message = (
            f"ModelArts does not show pool {name} yet (created {age}s ago); its deletion is confirmed once "
            "it shows up or the grace period for new pools has passed"
        )
        self._set(c.DELETION_IN_PROGRESS, message)
        await self._write(heartbeat=True)
        return DeletionStep(
            done=False, observe_every=self._timing.transition_seconds, retry_after=self._timing.transition_seconds
        )

    def _created_at(self) -> datetime | None:
        cloud = self._status.cloud
        return parse_timestamp(cloud.creation_timestamp if cloud else None) or self._obj.create_requested_at

    def _young(self) -> bool:
        created = self._created_at()
        return created is None or (self._now - created).total_seconds() < self._grace

    def _ever_seen(self) -> bool:
        seen = self._status.seen
        return seen is not None and seen.first_at is not None

    def _protected(self) -> bool:
        """A 404 may be read-after-create lag: the pool is younger than the grace period or never seen Running."""
        seen = self._status.seen
        return self._young() or seen is None or seen.running_at is None

    def _gone(self, name: str) -> DeletionStep:
        requested = parse_timestamp(self._deletion.requested_at)
        duration = (self._now - requested).total_seconds() if requested else None
        message = f"pool {name} is gone from ModelArts"
        self._sink.event(False, "Deleted", message)
        return DeletionStep(done=True, duration_seconds=duration, message=message)

    def _released(self, message: str) -> DeletionStep:
        """Done without deleting anything (there was nothing to delete)."""
        self._sink.event(False, "Released", message)
        return DeletionStep(done=True, message=message)

    async def _failed(self, exc: errors.ModelArtsError) -> DeletionStep:
        return await self._failed_with(
            str(exc),
            retry_after=exc.retry_after,
            credentials_refused=isinstance(exc, errors.Unauthorized | errors.Forbidden)
            and not isinstance(exc, errors.CredentialsLocked),
        )

    async def _failed_with(
        self, message: str, *, retry_after: float | None = None, credentials_refused: bool = False
    ) -> DeletionStep:
        failures = self._deletion.failures + 1
        self._deletion.failures = failures
        self._deletion.last_error = message
        self._deletion.last_checked_at = timestamp(self._now)
        self._stalled_event(message)
        self._set(c.DELETION_STALLED, message)
        await self._write()
        delay = self._timing.backoff(failures, at_least=retry_after or 0.0)
        return DeletionStep(
            done=False,
            observe_every=self._timing.transition_seconds,
            retry_after=delay,
            credentials_refused=credentials_refused,
        )

    def _stalled_event(self, message: str) -> None:
        current = c.find(self._status.conditions, ConditionType.DELETING)
        if current is None or current.reason != c.DELETION_STALLED or current.message != message:
            self._sink.event(True, c.DELETION_STALLED, message)

    def _set(self, reason: str, message: str) -> None:
        now = timestamp(self._now)
        generation = self._obj.generation
        conditions = c.upsert(
            self._status.conditions, ConditionType.DELETING, True, reason, message, generation=generation, now=now
        )
        self._status.conditions = c.upsert(
            conditions,
            ConditionType.READY,
            False,
            c.READY_DELETING,
            "the object is being deleted",
            generation=generation,
            now=now,
        )

    async def _write(self, *, heartbeat: bool = False) -> None:
        """Write what a user can see; ``lastCheckedAt`` moves at most once a heartbeat on its own."""
        now = timestamp(self._now)
        if heartbeat:
            last = parse_timestamp(self._deletion.last_checked_at)
            if last is None or (self._now - last).total_seconds() >= HEARTBEAT_SECONDS:
                self._deletion.last_checked_at = now
        self._status.deletion = self._deletion
        if self._status == self._obj.status:
            return
        self._status.last_sync_time = now
        await self._sink.write_status(self._status)
