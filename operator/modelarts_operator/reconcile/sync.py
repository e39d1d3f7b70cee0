"""One reconcile pass of a live ModelArtsPool: create or adopt its pool, mirror it, apply spec changes and drift.

Creation never leaks nor duplicates a pool: the moment of the first create is recorded in ``status`` before
``POST``, and every later attempt (after a crash, a timeout or a 409) first looks for a pool with the display
name created since then, so an unanswered ``POST`` is recovered instead of repeated.

A pool that does not show up is not taken for gone too early: ModelArts may answer 404 for a pool it has just
created (read-after-create lag) and drops a pool whose creation failed from GET, listing it only under
``status=failed``. So a 404 for a pool younger than the grace period or never seen Running keeps the pool name;
the failed list and the list by display name are asked before anything is decided, and nothing is created again
for a pool that was never seen Running.
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
    parse_timestamp,
    timestamp,
    utc_now,
)
from modelarts_operator.resource.project import Adoption
from modelarts_operator.resource.spec import ManagementPolicy
from modelarts_operator.resource.status import ConditionType, ModelArtsPoolStatus


@dataclass(frozen=True)
class SyncResult:
    # How often the pool must be looked at (the shared list's interval follows the fastest need).
    observe_every: float
    # When to run the pass again whatever the cloud shows (a retry after a failure); None: only on a change.
    retry_after: float | None = None
    failed: bool = False
    # ModelArts refused the credentials (401/403): worth re-reading the Secret before the next attempt.
    credentials_refused: bool = False


class PoolSync:
    """Reconciles one object against ModelArts once; build a new one per pass."""

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
        failures: int = 0,
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
        self._failures = failures
        self._grace = visibility_grace_seconds
        self._now = now()
        self._status: ModelArtsPoolStatus = obj.status.deep_copy()
        self._status.project = binding.project
        self._status.project_id = binding.project_id

    async def run(self) -> SyncResult:
        try:
            return await self._run()
        except errors.ModelArtsError as exc:
            return await self._cloud_failure(exc)

    # --- the pass ---------------------------------------------------------------------------------

    async def _run(self) -> SyncResult:
        obj = self._obj
        if obj.pool_name is None:
            if obj.spec.pool_name is not None:
                return await self._adopt(obj.spec.pool_name)
            return await self._create()
        if self._needs_new_creation():
            return await self._start_over("the spec changed after the failed creation; creating a new pool")
        if self._creation_abandoned():
            return self._idle()
        sighting = await self._reader.look(obj.pool_name)
        if sighting.pool is None:
            return await self._not_listed(obj.pool_name, confirmed=sighting.confirmed)
        return await self._observe(sighting.pool)

    async def _adopt(self, name: str) -> SyncResult:
        policy = self._obj.spec.effective_management_policy
        allowed = self._binding.adoption
        if allowed == Adoption.FORBIDDEN or (policy == ManagementPolicy.FULL and allowed != Adoption.FULL):
            return await self._refuse(
                c.SYNCED_ADOPTION_FORBIDDEN,
                f"{self._binding.origin} does not allow adopting pools with managementPolicy {policy} (adoption: "
                f"{allowed}); ask your platform team, or use managementPolicy ObserveOnly if that is allowed",
            )
        others = ownership.managed_elsewhere(self._obj, self._claims, name)
        if others:
            return await self._refuse(
                c.SYNCED_ADOPTION_CONFLICT,
                f"pool {name} is already managed by ModelArtsPool {', '.join(sorted(others))}",
            )
        sighting = await self._reader.look(name)
        pool = sighting.pool if sighting.pool is not None or sighting.confirmed else await self._reader.confirm(name)
        if pool is None:
            self._set(ConditionType.READY, False, c.READY_POOL_GONE, f"pool {name} does not exist")
            return await self._refuse(c.SYNCED_POOL_NOT_FOUND, f"ModelArts has no pool {name}", retry=True)
        self._status.adopted = True
        self._sink.event(False, "Adopted", f"adopted existing ModelArts pool {name} (managementPolicy {policy})")
        return await self._observe(pool)

    async def _create(self) -> SyncResult:
        obj = self._obj
        display = desired.display_name(obj.spec, obj.name)
        rival = self._display_name_rival(display)
        if rival:
            return await self._refuse(
                c.SYNCED_DISPLAY_NAME_TAKEN,
                f"display name {display} is already used by ModelArtsPool {rival}; set spec.displayName",
                retry=True,
            )
        intent = obj.create_requested_at
        if intent is not None:
            recovered = await self._find_own_pool(display, intent)
            if recovered is not None:
                return await self._record_created(recovered, recovered_after_restart=True)
        else:
            # Recorded before the POST, so that after a crash the pool it makes is recognised, not made again.
            intent = self._now
            self._status.create_requested_at = timestamp(intent)
            await self._write()
        try:
            pool = await self._client.create_pool(desired.create_body(obj.spec, obj.name))
        except errors.PoolAlreadyExists:
            # Only an earlier attempt of ours can have made this pool; on a first attempt the 409 is proof
            # that the display name belongs to somebody else — and that this POST created nothing, so its intent
            # goes too: a retry must not then "recover" a pool that merely has the same name.
            if obj.create_requested_at is not None:
                recovered = await self._find_own_pool(display, intent)
                if recovered is not None:
                    return await self._record_created(recovered, recovered_after_restart=True)
            else:
                self._status.create_requested_at = None
            return await self._refuse(
                c.SYNCED_DISPLAY_NAME_TAKEN,
                f"a ModelArts pool with display name {display} already exists and was not created by this "
                "object; adopt it with spec.poolName, or choose another spec.displayName",
                retry=True,
            )
        if pool.name is None:
            # Created, but we cannot tell its name: the next pass finds it by display name (never re-POSTs blindly).
            raise errors.MalformedResponse("create response has no metadata.name", operation="create")
        return await self._record_created(pool, recovered_after_restart=False)

    def _display_name_rival(self, display: str) -> str | None:
        """Another object that has (or, being older, gets first) the pool with this display name."""
        obj = self._obj
        mine = (timestamp(obj.creation_timestamp) if obj.creation_timestamp else "", obj.key)
        for owner in self._claims.display_name_owners(self._client.project_id, display):
            if owner.key == obj.key:
                continue
            if owner.has_pool or (owner.creation_timestamp or "", owner.key) < mine:
                return owner.key
        return None

    async def _find_own_pool(self, display: str, intent: datetime) -> Pool | None:
        return await recovery.find_pool_created_since(
            self._client,
            display,
            intent,
            workspace_id=self._obj.spec.workspace_id,
            managed_elsewhere=lambda name: bool(ownership.managed_elsewhere(self._obj, self._claims, name)),
        )

    async def _record_created(self, pool: Pool, *, recovered_after_restart: bool) -> SyncResult:
        assert pool.name is not None
        self._mirror(pool)
        self._status.adopted = None
        self._set(ConditionType.SYNCED, True, c.SYNCED, "pool created")
        self._status.observed_generation = self._obj.generation
        await self._write()
        if recovered_after_restart:
            self._sink.event(False, "Recovered", f"found pool {pool.name} created by an earlier attempt")
        else:
            self._sink.event(False, "Created", f"created ModelArts pool {pool.name}")
        self._reader.wrote(pool.name, read_back=False)
        # Look again soon whatever the list shows: a new pool may stay out of it (read-after-create lag) or fail
        # and never enter it, and then no change of the list would wake this object.
        return SyncResult(self._timing.transition_seconds, retry_after=self._timing.transition_seconds)

    async def _observe(self, pool: Pool) -> SyncResult:
        obj = self._obj
        assert pool.name is not None
        if obj.spec.pool_name is None and not ownership.created_for(obj, pool):
            # status.poolName names a pool this object did not create (a forged status): neither change it nor
            # show another team's pool in this object's status.
            return await self._refuse(
                c.SYNCED_NOT_OWNED, f"pool {pool.name} was not created for this object; it is left untouched"
            )
        mirror.record_sighting(self._status, pool, self._now)
        patch = desired.pool_patch(obj.spec, pool)
        message = "pool matches spec"
        reason = c.SYNCED
        if obj.spec.effective_management_policy == ManagementPolicy.OBSERVE_ONLY:
            reason = c.SYNCED_OBSERVE_ONLY
            message = "observed only (managementPolicy ObserveOnly)"
            if patch:
                message += f"; the spec differs in {_describe(patch)}, which is not applied"
        elif patch:
            refused = ownership.refusal(obj, pool, self._claims, self._binding, action="update")
            if refused is not None:
                self._mirror(pool)
                return await self._refuse(c.SYNCED_NOT_OWNED, refused)
            changed = _describe(patch)
            if pool.status.phase != PoolPhase.RUNNING:
                self._mirror(pool)
                self._set(
                    ConditionType.SYNCED,
                    False,
                    c.SYNCED_UPDATING,
                    f"waiting for the pool to be Running before changing {changed}",
                )
                await self._write()
                return SyncResult(self._timing.transition_seconds)
            drifted = obj.status.observed_generation == obj.generation
            if drifted:
                self._set(
                    ConditionType.SYNCED,
                    False,
                    c.SYNCED_DRIFTED,
                    f"pool {pool.name} was changed outside the operator ({changed}); correcting",
                )
                await self._write()
                self._sink.event(True, c.SYNCED_DRIFTED, f"pool {pool.name} drifted from spec ({changed}); correcting")
            pool = await self._client.patch_pool(pool.name, patch)
            self._reader.wrote(pool.name or obj.pool_name or "", read_back=True)
            self._sink.event(False, "Updated", f"patched pool {pool.name}: {changed}")
            message = f"drift in {changed} corrected" if drifted else f"applied {changed}"
        self._mirror(pool)
        self._set(ConditionType.SYNCED, True, reason, message)
        self._status.observed_generation = obj.generation
        await self._write()
        if mirror.in_transition(pool) or (patch and reason == c.SYNCED):
            return SyncResult(self._timing.transition_seconds)
        return SyncResult(self._timing.stable_for(obj.annotations))

    async def _not_listed(self, name: str, *, confirmed: bool) -> SyncResult:
        """The pool is not in the list (``confirmed``: a GET said 404 too)."""
        young = self._young()
        if not confirmed:
            if young and not self._ever_seen():
                # Hidden by read-after-create lag, or failed already: a failed creation leaves GET and the list
                # and shows only among the failed ones (one shared, cached list call for every new pool).
                failed = await self._reader.failed(name)
                if failed is not None:
                    return await self._creation_failed(name, failed)
                return await self._not_visible_yet(name)
            pool = await self._reader.confirm(name)
            if pool is not None:
                return await self._observe(pool)
        failed = await self._reader.failed(name)
        if failed is not None:
            return await self._creation_failed(name, failed)
        listed = await self._reader.listed(name, desired.display_name(self._obj.spec, self._obj.name))
        if listed is not None:
            return await self._observe(listed)
        if self._obj.spec.pool_name is not None:
            # Adoption of a pool that no longer exists: never create in its place.
            self._set(ConditionType.READY, False, c.READY_POOL_GONE, f"pool {name} does not exist")
            return await self._refuse(c.SYNCED_POOL_NOT_FOUND, f"ModelArts has no pool {name}", retry=True)
        if young and not self._seen_running():
            return await self._not_visible_yet(name)
        if not self._seen_running():
            message = (
                f"ModelArts no longer shows pool {name}, which was never seen Running (not even among failed "
                "creations); no new pool is created automatically: change the spec to create one, or delete "
                "the object"
            )
            self._set(ConditionType.READY, False, c.READY_POOL_GONE, message)
            return await self._refuse(c.SYNCED_POOL_NOT_FOUND, message)
        # The pool this object created was deleted behind the operator's back: the object still declares a
        # pool, so a new one is created, under a fresh intent so the old moment cannot match somebody else's.
        self._sink.event(True, "PoolGone", f"pool {name} was deleted outside the operator; creating a new one")
        mirror.clear_mirror(self._status)
        self._set(ConditionType.READY, False, c.READY_POOL_GONE, f"pool {name} was deleted outside the operator")
        self._set(ConditionType.SYNCED, False, c.SYNCED_POOL_NOT_FOUND, "a new pool will be created")
        self._status.create_requested_at = None  # the next create records a fresh intent
        await self._write()
        return SyncResult(self._timing.transition_seconds, retry_after=self._timing.transition_seconds)

    async def _not_visible_yet(self, name: str) -> SyncResult:
        age = self._age_seconds()
        message = (
            f"ModelArts does not show pool {name} yet (created {int(age)}s ago; a new pool may answer 404 "
            "for a while); looking again"
        )
        self._set(ConditionType.READY, False, c.READY_CREATING, message)
        await self._write()
        return SyncResult(self._timing.transition_seconds, retry_after=self._timing.transition_seconds)

    async def _creation_failed(self, name: str, failed: Pool) -> SyncResult:
        cloud = failed.status.message or "no message from ModelArts"
        message = f"ModelArts failed to create pool {name}: {cloud}"
        previous = c.find(self._status.conditions, ConditionType.SYNCED)
        if previous is None or previous.reason != c.SYNCED_CREATION_FAILED:
            self._sink.event(True, c.SYNCED_CREATION_FAILED, message)
        self._mirror(failed)
        self._status.phase = failed.status.phase or PoolPhase.CREATION_FAILED
        self._set(ConditionType.READY, False, c.READY_CREATION_FAILED, message)
        self._set(
            ConditionType.SYNCED,
            False,
            c.SYNCED_CREATION_FAILED,
            f"{message}; change the spec to try again, or delete the object",
        )
        self._status.observed_generation = self._obj.generation
        await self._write()
        return self._idle()

    def _needs_new_creation(self) -> bool:
        """A failed or lost creation, and the spec has changed since: try again with a new pool."""
        synced = c.find(self._obj.status.conditions, ConditionType.SYNCED)
        if synced is None or synced.reason not in (c.SYNCED_CREATION_FAILED, c.SYNCED_POOL_NOT_FOUND):
            return False
        if self._obj.spec.pool_name is not None or (synced.reason == c.SYNCED_POOL_NOT_FOUND and self._seen_running()):
            return False
        return (synced.observed_generation or 0) < self._obj.generation

    def _creation_abandoned(self) -> bool:
        """Reported already; nothing to do until the spec changes (no retry loop)."""
        synced = c.find(self._obj.status.conditions, ConditionType.SYNCED)
        return synced is not None and synced.reason == c.SYNCED_CREATION_FAILED

    async def _start_over(self, message: str) -> SyncResult:
        self._sink.event(False, "Recreating", message)
        mirror.clear_mirror(self._status)
        self._set(ConditionType.READY, False, c.READY_CREATING, message)
        self._set(ConditionType.SYNCED, False, c.SYNCED_UPDATING, message)
        self._status.create_requested_at = None
        await self._write()
        return SyncResult(self._timing.transition_seconds, retry_after=0.0)

    def _idle(self) -> SyncResult:
        return SyncResult(self._timing.stable_for(self._obj.annotations), retry_after=self._timing.max_backoff_seconds)

    # --- read-after-create ------------------------------------------------------------------------

    def _created_at(self) -> datetime | None:
        cloud = self._obj.status.cloud
        return parse_timestamp(cloud.creation_timestamp if cloud else None) or self._obj.create_requested_at

    def _age_seconds(self) -> float:
        created = self._created_at()
        return (self._now - created).total_seconds() if created else 0.0

    def _young(self) -> bool:
        return self._created_at() is None or self._age_seconds() < self._grace

    def _ever_seen(self) -> bool:
        seen = self._obj.status.seen
        return seen is not None and seen.first_at is not None

    def _seen_running(self) -> bool:
        seen = self._obj.status.seen
        return seen is not None and seen.running_at is not None

    # --- failures ---------------------------------------------------------------------------------

    async def _refuse(self, reason: str, message: str, *, retry: bool = False) -> SyncResult:
        """Report a condition that the cloud will not fix by itself."""
        previous = c.find(self._status.conditions, ConditionType.SYNCED)
        if previous is None or previous.reason != reason or previous.message != message:
            self._sink.event(True, reason, message)
        self._set(ConditionType.SYNCED, False, reason, message)
        if c.ready_waits_on(self._status.conditions, has_pool=self._status.pool_name is not None):
            self._set(ConditionType.READY, False, c.READY_PENDING, message)
        await self._write()
        delay = self._timing.backoff(self._failures + 1) if retry else self._timing.max_backoff_seconds
        return SyncResult(self._timing.stable_for(self._obj.annotations), retry_after=delay, failed=True)

    async def _cloud_failure(self, exc: errors.ModelArtsError) -> SyncResult:
        detail = str(exc)
        if isinstance(exc, errors.InvalidRequest):
            return await self._refuse(c.SYNCED_INVALID_REQUEST, detail)
        reason = c.SYNCED_CLOUD_ERROR
        at_least = 0.0
        if isinstance(exc, errors.Unauthorized | errors.Forbidden):
            reason = c.SYNCED_UNAUTHORIZED
            at_least = exc.retry_after or 0.0
        elif isinstance(exc, errors.Throttled):
            reason, at_least = c.SYNCED_THROTTLED, exc.retry_after or 0.0
        elif isinstance(exc, errors.MalformedResponse):
            reason = c.SYNCED_MALFORMED_RESPONSE
        previous = c.find(self._status.conditions, ConditionType.SYNCED)
        if previous is None or previous.reason != reason:
            self._sink.event(True, reason, detail)
        self._set(ConditionType.SYNCED, False, reason, detail)
        if c.ready_waits_on(self._status.conditions, has_pool=self._status.pool_name is not None):
            self._set(ConditionType.READY, False, c.READY_PENDING, detail)
        await self._write()
        return SyncResult(
            self._timing.transition_seconds,
            retry_after=self._timing.backoff(self._failures + 1, at_least=at_least),
            failed=True,
            credentials_refused=_refused_by_modelarts(exc),
        )

    # --- status -----------------------------------------------------------------------------------

    def _mirror(self, pool: Pool) -> None:
        mirror.apply_mirror(self._status, pool)
        ready, reason, message = mirror.readiness(pool)
        self._set(ConditionType.READY, ready, reason, message)

    def _set(self, condition: ConditionType, status: bool, reason: str, message: str) -> None:
        self._status.conditions = c.upsert(
            self._status.conditions,
            condition,
            status,
            reason,
            message,
            generation=self._obj.generation,
            now=timestamp(self._now),
        )

    async def _write(self) -> None:
        await self._sink.write_status(stamped(self._obj.status, self._status, timestamp(self._now)))


def _refused_by_modelarts(exc: errors.ModelArtsError) -> bool:
    """ModelArts itself refused the credentials (worth re-reading the Secret), not the lockout guard before sending."""
    return isinstance(exc, errors.Unauthorized | errors.Forbidden) and not isinstance(exc, errors.CredentialsLocked)


def stamped(before: ModelArtsPoolStatus, after: ModelArtsPoolStatus, now: str) -> ModelArtsPoolStatus:
    """``after`` with ``lastSyncTime`` moved to now only when something a user can see changed: an idle pool
    costs no status write at all."""
    if before.model_copy(update={"last_sync_time": None}) == after.model_copy(update={"last_sync_time": None}):
        return before
    return after.model_copy(update={"last_sync_time": now})


def _describe(patch: dict[str, object]) -> str:
    spec = patch.get("spec")
    fields = [f"spec.{key}" for key in spec] if isinstance(spec, dict) else []
    metadata = patch.get("metadata")
    if isinstance(metadata, dict):
        if "labels" in metadata:
            fields.append("workspaceId")
        if "annotations" in metadata:
            fields.append("description")
    return ", ".join(fields)
