"""One reconcile pass of a live ModelArtsPool: create or adopt its pool, mirror it, apply spec changes and drift.

Creation never leaks nor duplicates a pool: the moment of the first create is annotated on the object before
``POST``, and every later attempt (after a crash, a timeout or a 409) first looks for a pool with the display
name created since then, so an unanswered ``POST`` is recovered instead of repeated.
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
from modelarts_operator.reconcile.view import (
    Claims,
    ObjectSink,
    PoolObject,
    timestamp,
    utc_now,
)
from modelarts_operator.resource.status import ConditionType


@dataclass(frozen=True)
class SyncResult:
    requeue_after: float
    failed: bool = False
    # No hot retry: the spec has to change (or the long requeue pass) before the same request is tried again.
    wait_for_spec_change: bool = False
    # ModelArts refused the credentials (401/403): worth re-reading the Secret before the next attempt.
    credentials_refused: bool = False


class PoolSync:
    """Reconciles one object against ModelArts once; build a new one per pass."""

    def __init__(
        self,
        client: ModelArtsClient,
        obj: PoolObject,
        sink: ObjectSink,
        claims: Claims,
        timing: Timing,
        *,
        failures: int = 0,
        now: Callable[[], datetime] = utc_now,
    ) -> None:
        self._client = client
        self._obj = obj
        self._sink = sink
        self._claims = claims
        self._timing = timing
        self._failures = failures
        self._now = now()
        self._status: dict[str, Any] = dict(obj.status)

    async def run(self) -> SyncResult:
        try:
            return await self._run()
        except errors.ModelArtsError as exc:
            return await self._cloud_failure(exc)

    # --- the pass ---------------------------------------------------------------------------------

    async def _run(self) -> SyncResult:
        obj = self._obj
        name = obj.pool_name or obj.spec.pool_name
        if name is None:
            return await self._create()
        try:
            pool = await self._client.get_pool(name)
        except errors.PoolNotFound:
            return await self._pool_missing(name)
        if obj.pool_name is None:
            return await self._adopt(pool)
        return await self._observe(pool)

    async def _adopt(self, pool: Pool) -> SyncResult:
        assert pool.name is not None
        others = self._claims.pool_owners(pool.name) - {self._obj.key}
        if others:
            return await self._refuse(
                c.SYNCED_ADOPTION_CONFLICT,
                f"pool {pool.name} is already managed by ModelArtsPool {', '.join(sorted(others))}",
            )
        self._sink.event(False, "Adopted", f"adopted existing ModelArts pool {pool.name}")
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
            intent = self._now
            await self._sink.record_create_intent(timestamp(intent))
        try:
            pool = await self._client.create_pool(desired.create_body(obj.spec, obj.name))
        except errors.PoolAlreadyExists:
            # Only an earlier attempt of ours can have made this pool; on a first attempt the 409 is proof
            # that the display name belongs to somebody else.
            if obj.create_requested_at is not None:
                recovered = await self._find_own_pool(display, intent)
                if recovered is not None:
                    return await self._record_created(recovered, recovered_after_restart=True)
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
        mine = (obj.creation_timestamp or "", obj.key)
        for owner in self._claims.display_name_owners(self._client.project_id, display):
            if owner.key == obj.key:
                continue
            if owner.has_pool or (owner.creation_timestamp or "", owner.key) < mine:
                return owner.key
        return None

    async def _find_own_pool(self, display: str, intent: datetime) -> Pool | None:
        return await recovery.find_pool_created_since(
            self._client, display, intent, workspace_id=self._obj.spec.workspace_id,
            managed_elsewhere=lambda name: bool(self._claims.pool_owners(name) - {self._obj.key}),
        )

    async def _record_created(self, pool: Pool, *, recovered_after_restart: bool) -> SyncResult:
        self._mirror(pool)
        self._set(ConditionType.SYNCED, True, c.SYNCED, "pool created")
        self._status["observedGeneration"] = self._obj.generation
        await self._write()
        if recovered_after_restart:
            self._sink.event(False, "Recovered", f"found pool {pool.name} created by an earlier attempt")
        else:
            self._sink.event(False, "Created", f"created ModelArts pool {pool.name}")
        return SyncResult(self._timing.transition_seconds)

    async def _observe(self, pool: Pool) -> SyncResult:
        obj = self._obj
        assert pool.name is not None
        patch = desired.pool_patch(obj.spec, pool)
        message = "pool matches spec"
        if patch:
            changed = _describe(patch)
            if pool.status.phase != "Running":
                self._mirror(pool)
                self._set(ConditionType.SYNCED, False, c.SYNCED_UPDATING,
                          f"waiting for the pool to be Running before changing {changed}")
                await self._write()
                return SyncResult(self._timing.transition_seconds)
            drifted = obj.pool_name is not None and obj.status.get("observedGeneration") == obj.generation
            if drifted:
                self._set(ConditionType.SYNCED, False, c.SYNCED_DRIFTED,
                          f"pool {pool.name} was changed outside the operator ({changed}); correcting")
                await self._write()
                self._sink.event(True, c.SYNCED_DRIFTED, f"pool {pool.name} drifted from spec ({changed}); correcting")
            pool = await self._client.patch_pool(pool.name, patch)
            self._sink.event(False, "Updated", f"patched pool {pool.name}: {changed}")
            message = f"drift in {changed} corrected" if drifted else f"applied {changed}"
        self._mirror(pool)
        self._set(ConditionType.SYNCED, True, c.SYNCED, message)
        self._status["observedGeneration"] = obj.generation
        await self._write()
        if mirror.in_transition(pool):
            return SyncResult(self._timing.transition_seconds)
        return SyncResult(self._timing.spread(self._timing.stable_for(obj.annotations)))

    async def _pool_missing(self, name: str) -> SyncResult:
        obj = self._obj
        if obj.pool_name is None or obj.spec.pool_name is not None:
            # Adoption of a pool that does not exist (or no longer does): never create in its place.
            self._set(ConditionType.READY, False, c.READY_POOL_GONE, f"pool {name} does not exist")
            return await self._refuse(c.SYNCED_POOL_NOT_FOUND, f"ModelArts has no pool {name}", retry=True)
        # The pool this object created was deleted behind the operator's back: the object still declares a
        # pool, so a new one is created, under a fresh intent so the old moment cannot match somebody else's.
        self._sink.event(True, "PoolGone", f"pool {name} was deleted outside the operator; creating a new one")
        for field in ("poolName", "phase", "message", "parent", "root", "resources", "nodes", "scope", "driver",
                      "cloud"):
            self._status.pop(field, None)
        self._set(ConditionType.READY, False, c.READY_POOL_GONE, f"pool {name} was deleted outside the operator")
        self._set(ConditionType.SYNCED, False, c.SYNCED_POOL_NOT_FOUND, "a new pool will be created")
        await self._write()
        await self._sink.record_create_intent(timestamp(self._now))
        return SyncResult(self._timing.transition_seconds)

    # --- failures ---------------------------------------------------------------------------------

    async def _refuse(self, reason: str, message: str, *, retry: bool = False) -> SyncResult:
        """Report a condition that the cloud will not fix by itself."""
        previous = c.find(list(self._status.get("conditions") or []), ConditionType.SYNCED)
        if previous is None or previous.get("reason") != reason:
            self._sink.event(True, reason, message)
        self._set(ConditionType.SYNCED, False, reason, message)
        if c.find(list(self._status.get("conditions") or []), ConditionType.READY) is None:
            self._set(ConditionType.READY, False, c.READY_PENDING, message)
        await self._write()
        delay = self._timing.backoff(self._failures + 1)
        return SyncResult(delay if retry else self._timing.max_backoff_seconds, failed=True,
                          wait_for_spec_change=not retry)

    async def _cloud_failure(self, exc: errors.ModelArtsError) -> SyncResult:
        detail = _cloud_message(exc)
        if isinstance(exc, errors.InvalidRequest):
            return await self._refuse(c.SYNCED_INVALID_REQUEST, detail)
        reason = c.SYNCED_CLOUD_ERROR
        at_least = 0.0
        if isinstance(exc, errors.Unauthorized | errors.Forbidden):
            reason = c.SYNCED_UNAUTHORIZED
        elif isinstance(exc, errors.Throttled):
            reason, at_least = c.SYNCED_THROTTLED, exc.retry_after or 0.0
        elif isinstance(exc, errors.MalformedResponse):
            reason = c.SYNCED_MALFORMED_RESPONSE
        previous = c.find(list(self._status.get("conditions") or []), ConditionType.SYNCED)
        if previous is None or previous.get("reason") != reason:
            self._sink.event(True, reason, detail)
        self._set(ConditionType.SYNCED, False, reason, detail)
        await self._write()
        return SyncResult(self._timing.backoff(self._failures + 1, at_least=at_least), failed=True,
                          credentials_refused=reason == c.SYNCED_UNAUTHORIZED)

    # --- status -----------------------------------------------------------------------------------

    def _mirror(self, pool: Pool) -> None:
        mirror.apply_mirror(self._status, pool)
        ready, reason, message = mirror.readiness(pool)
        self._set(ConditionType.READY, ready, reason, message)

    def _set(self, condition: ConditionType, status: bool, reason: str, message: str) -> None:
        self._status["conditions"] = c.upsert(
            self._status.get("conditions"), condition, status, reason, message,
            generation=self._obj.generation, now=timestamp(self._now),
        )

    async def _write(self) -> None:
        await self._sink.write_status(stamped(self._obj.status, self._status, timestamp(self._now)))


def stamped(before: Any, after: dict[str, Any], now: str) -> dict[str, Any]:
    """``after`` with ``lastSyncTime`` moved to now only when something else changed: an idle pool costs no
    status write at all."""
    unchanged = {k: v for k, v in dict(before).items() if k != "lastSyncTime"} == {
        k: v for k, v in after.items() if k != "lastSyncTime"
    }
    if unchanged:
        return dict(before)
    return {**after, "lastSyncTime": now}


def _describe(patch: dict[str, Any]) -> str:
    fields = [f"spec.{key}" for key in patch.get("spec", {})]
    metadata = patch.get("metadata", {})
    if "labels" in metadata:
        fields.append("workspaceId")
    if "annotations" in metadata:
        fields.append("description")
    return ", ".join(fields)


def _cloud_message(exc: errors.ModelArtsError) -> str:
    """ModelArts' own words first: error code and message, then the request id for support tickets."""
    return str(exc)
