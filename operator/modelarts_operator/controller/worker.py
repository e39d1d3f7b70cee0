"""One long-lived task per ModelArtsPool object: observe it while it lives, delete its pool when it is deleted.

kopf delivers the object's watch events (``handlers.py``); the worker keeps the freshest body and runs passes:

- alive: put the finalizer on first (before any cloud call), then ``reconcile.sync`` passes — woken by a change
  of the object, by the shared pool list when the pool looks different, or by a retry timer;
- deleted (``deletionTimestamp`` and our finalizer): one decision (``reconcile.deletion.decide``), then deletion
  steps in the same loop until the pool is gone or released, and only then the finalizer comes off.

The deletion is a loop of our own rather than kopf's retry-with-delay, which patched kopf's progress annotations
on every retry (two object writes and two watch events per poll); it reacts at once to a switch to ``Retain``
(the event wakes it), and survives restarts and leadership changes because a new process starts a worker for
every object it lists. Nothing here gives up, and nothing here lets an exception end the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from pydantic import ValidationError

from modelarts_operator.controller.cloud import ConfigurationError, _fingerprint
from modelarts_operator.controller.context import OperatorContext
from modelarts_operator.controller.kube import Conflict, KubeError, ObjectGone
from modelarts_operator.controller.observer import ObservedReader, PoolListObserver, workspace_of
from modelarts_operator.controller.sink import KubeSink
from modelarts_operator.modelarts.auth import Credentials
from modelarts_operator.reconcile import binding as binding_mod
from modelarts_operator.reconcile import conditions as c
from modelarts_operator.reconcile.binding import Binding
from modelarts_operator.reconcile.deletion import RESEND_AFTER_INTERVALS, PoolDeletion, Release, decide
from modelarts_operator.reconcile.sync import PoolSync, SyncResult
from modelarts_operator.reconcile.view import PoolObject, parse_timestamp, timestamp, utc_now
from modelarts_operator.resource import names
from modelarts_operator.resource.spec import ModelArtsPoolSpec
from modelarts_operator.resource.status import ConditionType, ModelArtsPoolStatus
from modelarts_operator.status_metrics import pool_report

logger = logging.getLogger(__name__)

FINALIZER = names.FINALIZER


def _rv(body: dict[str, Any] | None) -> int:
    try:
        return int((body or {}).get("metadata", {}).get("resourceVersion") or 0)
    except (TypeError, ValueError):
        return 0


def _without_managed_fields(body: dict[str, Any]) -> dict[str, Any]:
    """The body as kept between passes: ``metadata.managedFields`` (half of a pool's JSON, never read here) left
    out, without touching the caller's dicts."""
    meta = body.get("metadata")
    if not isinstance(meta, dict) or "managedFields" not in meta:
        return body
    return {**body, "metadata": {key: value for key, value in meta.items() if key != "managedFields"}}


def _is_ours_to_delete(body: dict[str, Any]) -> bool:
    meta = body.get("metadata") or {}
    return bool(meta.get("deletionTimestamp")) and FINALIZER in (meta.get("finalizers") or [])


def pool_object(body: dict[str, Any]) -> PoolObject:
    """The typed snapshot the reconcile logic works on (``ValidationError`` if the spec does not fit)."""
    meta = body.get("metadata") or {}
    return PoolObject(
        namespace=str(meta.get("namespace") or ""),
        name=str(meta.get("name") or ""),
        uid=str(meta.get("uid") or ""),
        generation=int(meta.get("generation") or 0),
        spec=ModelArtsPoolSpec.model_validate(body.get("spec") or {}),
        status=ModelArtsPoolStatus.model_validate(body.get("status") or {}),
        annotations=dict(meta.get("annotations") or {}),
        creation_timestamp=parse_timestamp(meta.get("creationTimestamp")),
    )


class PoolWorker:
    def __init__(self, context: OperatorContext, uid: str) -> None:
        self._ctx = context
        self.uid = uid
        self.body: dict[str, Any] | None = None
        self.wake = asyncio.Event()
        self._failures = 0
        self._writes: dict[str, tuple[float, bool]] = {}
        self._subscription: tuple[PoolListObserver, str] | None = None
        self._observer: PoolListObserver | None = None
        self._last_written_rv = 0
        self._deletion_begun = False  # a deletion pass has run (the first one holds back writes: urgency.py)
        self._deleting_now = False  # the pass running is a deletion pass
        self._pass_tick = 0  # when it started (urgency.DeletesFirst.tick)
        self.task: asyncio.Task[None] | None = None

    # --- fed by the handlers ----------------------------------------------------------------------

    def observe_event(self, body: dict[str, Any] | None) -> None:
        """A watch event (``None``: the object is gone). Our own writes coming back do not wake the loop."""
        if body is None:
            self.body = None
            self.wake.set()
            return
        if self.body is not None and _rv(body) and _rv(body) < _rv(self.body):
            return  # older than what a write of ours already returned
        self.body = _without_managed_fields(body)
        if not self._deletion_begun and not self._deleting_now and _is_ours_to_delete(body):
            self._ctx.deletes_first.marked(self.uid)
        if not _rv(body) or _rv(body) != self._last_written_rv:
            self.wake.set()

    def _written(self, body: dict[str, Any]) -> None:
        if body and _rv(body) >= _rv(self.body):
            self.body = _without_managed_fields(body)
            self._last_written_rv = _rv(body)

    def _current(self) -> dict[str, Any]:
        return self.body or {}

    # --- the loop ---------------------------------------------------------------------------------

    async def run(self) -> None:
        try:
            while self.body is not None:
                self.wake.clear()
                self._deleting_now = _is_ours_to_delete(self.body)
                self._pass_tick = self._ctx.deletes_first.tick()
                try:
                    delay = await self._pass(self.body)
                except _Finished:
                    return
                except (KubeError, ObjectGone) as exc:
                    logger.warning("[%s] kubernetes API call failed: %s", self._key(), exc)
                    delay = self._ctx.timing.backoff(self._bump_failures())
                except Exception:
                    logger.exception("[%s] unexpected error; retrying", self._key())
                    self._ctx.metrics.count_reconcile_error("unexpected")
                    delay = self._ctx.timing.backoff(self._bump_failures())
                finally:
                    if self._deleting_now:
                        self._deletion_begun = True
                        self._ctx.deletes_first.done(self.uid, marked_before=self._pass_tick)
                self._report_series()
                await self._wait(delay)
        finally:
            self._ctx.deletes_first.done(self.uid)
            self._unsubscribe()

    def _report_series(self) -> None:
        """The object's series, from what its status shows now (every pass: after a restart nothing is written
        until something changes, yet the series must be there)."""
        body = self.body
        if body is None:
            return
        meta = body.get("metadata") or {}
        self._ctx.metrics.report_pool(
            str(meta.get("namespace") or ""),
            str(meta.get("name") or ""),
            pool_report(body.get("status") or {}, meta.get("deletionTimestamp")),
        )

    def _bump_failures(self) -> int:
        self._failures += 1
        return self._failures

    def _key(self) -> str:
        meta = (self.body or {}).get("metadata") or {}
        return f"{meta.get('namespace')}/{meta.get('name')}"

    async def _wait(self, delay: float | None) -> None:
        if self.wake.is_set():
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(delay):
                await self.wake.wait()

    async def _pass(self, body: dict[str, Any]) -> float | None:
        meta = body.get("metadata") or {}
        finalizers = list(meta.get("finalizers") or [])
        if meta.get("deletionTimestamp"):
            if FINALIZER not in finalizers:
                raise _Finished  # not ours to hold: the object goes without us
            return await self._deletion_pass(body)
        if FINALIZER not in finalizers:
            await self._set_finalizers(body, [*finalizers, FINALIZER])
            return 0.0
        return await self._sync_pass(body)

    # --- alive ------------------------------------------------------------------------------------

    async def _sync_pass(self, body: dict[str, Any]) -> float | None:
        ctx = self._ctx
        try:
            obj = pool_object(body)
        except ValidationError as exc:  # the CRD schema should have refused it; say so rather than crash
            logger.error("[%s] spec does not fit the model: %s", self._key(), exc.errors(include_input=False))
            return ctx.timing.max_backoff_seconds
        sink = self._sink()
        try:
            target = ctx.bind(obj)
            credentials = await ctx.credentials.credentials(target.credentials)
        except binding_mod.BindingRefused as exc:
            await self._report(obj, sink, ConditionType.SYNCED, exc.reason, str(exc))
            return ctx.timing.backoff(self._bump_failures())
        except ConfigurationError as exc:
            await self._report(obj, sink, ConditionType.SYNCED, exc.reason, str(exc))
            return ctx.timing.backoff(self._bump_failures())
        client = ctx.cloud.client_for(target.endpoint, target.project_id, credentials, obj.key)
        reader = self._reader(obj, target, credentials)
        result = await PoolSync(
            client,
            reader,
            obj,
            target,
            sink,
            ctx.claims(),
            ctx.timing,
            failures=self._failures,
            visibility_grace_seconds=ctx.settings.visibility_grace_seconds,
        ).run()
        self._after(result, obj, target)
        return self._delay(result.retry_after, result.observe_every)

    def _after(self, result: SyncResult, obj: PoolObject, target: Binding) -> None:
        if result.credentials_refused:
            self._ctx.credentials.forget(target.credentials)
        if result.failed:
            self._bump_failures()
            written = ModelArtsPoolStatus.model_validate((self.body or {}).get("status") or {})
            self._ctx.metrics.count_reconcile_error(c.reason_of(written.conditions, ConditionType.SYNCED) or "sync")
        else:
            self._failures = 0
        self._resubscribe(obj, result.observe_every)

    def _delay(self, retry_after: float | None, observe_every: float) -> float | None:
        """How long to sleep: a retry, or — when the shared list cannot answer — our own look interval."""
        observer = self._subscription[0] if self._subscription else None
        if observer is not None and not observer.healthy:
            return min(retry_after, observe_every) if retry_after is not None else observe_every
        return retry_after

    # --- deleted ----------------------------------------------------------------------------------

    async def _deletion_pass(self, body: dict[str, Any]) -> float | None:
        ctx = self._ctx
        try:
            obj = pool_object(body)
        except ValidationError as exc:
            logger.error("[%s] spec does not fit the model: %s", self._key(), exc.errors(include_input=False))
            return ctx.timing.max_backoff_seconds
        sink = self._sink()
        refused = ""
        try:
            target: Binding | None = ctx.bind(obj)
        except binding_mod.BindingRefused as exc:
            target, refused = None, str(exc)
        decision = decide(obj, target)
        if isinstance(decision, Release):
            await self._release(obj, sink, decision.event_reason, decision.message)
        if target is None:
            await self._report(
                obj,
                sink,
                ConditionType.DELETING,
                c.DELETION_STALLED,
                f"cannot reach ModelArts to delete the pool: {refused}; restore access, or set "
                "deletionPolicy Retain to release the object",
                deleting=True,
            )
            return ctx.timing.backoff(self._bump_failures())
        try:
            credentials = await ctx.credentials.credentials(target.credentials)
        except ConfigurationError as exc:
            await self._report(obj, sink, ConditionType.DELETING, c.DELETION_STALLED, str(exc), deleting=True)
            return ctx.timing.backoff(self._bump_failures())
        client = ctx.cloud.client_for(target.endpoint, target.project_id, credentials, obj.key)
        reader = self._reader(obj, target, credentials)
        step = await PoolDeletion(
            client,
            reader,
            obj,
            target,
            sink,
            ctx.claims(),
            ctx.timing,
            visibility_grace_seconds=ctx.settings.visibility_grace_seconds,
        ).step()
        if step.credentials_refused:
            ctx.credentials.forget(target.credentials)
        if step.done:
            if step.duration_seconds is not None:
                ctx.metrics.observe_pool_deletion(step.duration_seconds)
                if self._observer is not None:
                    self._observer.deletion_took(step.duration_seconds)
            await self._let_go(obj)
        self._resubscribe(obj, step.observe_every or ctx.timing.transition_seconds)
        # Between the list's wake-ups, a periodic look (cheap: it reads the shared list) to resend a DELETE that
        # did not take and to notice a stall.
        periodic = RESEND_AFTER_INTERVALS * ctx.timing.transition_seconds
        retry = step.retry_after if step.retry_after is not None else periodic
        return self._delay(retry, step.observe_every or ctx.timing.transition_seconds)

    async def _release(self, obj: PoolObject, sink: KubeSink, reason: str, message: str) -> None:
        """The pool is not ours to delete (Retain, observe-only, never created): say so, and let the object go."""
        sink.event(False, reason, message)
        await self._let_go(obj)

    async def _let_go(self, obj: PoolObject) -> None:
        """Remove our finalizer: the API server deletes the object."""
        body = self.body or {}
        finalizers = [f for f in (body.get("metadata") or {}).get("finalizers") or [] if f != FINALIZER]
        await self._set_finalizers(body, finalizers)
        self._ctx.metrics.forget_pool(obj.namespace, obj.name)
        self.body = None  # nothing left to report
        raise _Finished

    # --- helpers ----------------------------------------------------------------------------------

    def _sink(self) -> KubeSink:
        return KubeSink(self._ctx.kube, self._ctx.events, self._current, self._written, self._before_write)

    def _confirm_next(self) -> None:
        """The list no longer shows the pool being deleted: the next pass confirms the 404 and releases the
        finalizer, which goes before status writes and Events like a ``DELETE`` does (``urgency.py``)."""
        self._ctx.deletes_first.marked(self.uid)

    async def _before_write(self) -> None:
        """A status write waits while other deleted objects have a deletion step to take (``urgency.py``). A
        write of this object's deletion pass comes after its cloud call, so it no longer holds anyone back; a
        write of an object that has a step of its own waiting goes at once (the step comes right after it)."""
        first = self._ctx.deletes_first
        if self._deleting_now:
            first.done(self.uid, marked_before=self._pass_tick)
        await first.calm(self.uid)

    async def _set_finalizers(self, body: dict[str, Any], wanted: list[str]) -> None:
        """Set ``metadata.finalizers`` against the freshest object (re-read on a conflict)."""
        meta = body.get("metadata") or {}
        namespace, name = str(meta.get("namespace") or ""), str(meta.get("name") or "")
        for _ in range(5):
            current = list(meta.get("finalizers") or [])
            try:
                self._written(
                    await self._ctx.kube.set_finalizers(
                        namespace, name, current, wanted, str(meta.get("resourceVersion") or "")
                    )
                )
                return
            except Conflict:
                fresh = await self._ctx.kube.get_object(namespace, name)
                self._written(fresh)
                meta = fresh.get("metadata") or {}
                keep = [f for f in meta.get("finalizers") or [] if f != FINALIZER]
                wanted = [*keep, FINALIZER] if FINALIZER in wanted else keep
            except ObjectGone:
                if FINALIZER not in wanted:
                    return  # already gone: nothing left to release
                raise
        raise Conflict(f"{namespace}/{name}: finalizers kept changing", status_code=409)

    async def _report(
        self,
        obj: PoolObject,
        sink: KubeSink,
        condition: ConditionType,
        reason: str,
        message: str,
        *,
        deleting: bool = False,
    ) -> None:
        """A condition the user must act on (configuration, binding), with an Event when it is new."""
        previous = c.find(obj.status.conditions, condition)
        if previous is None or previous.message != message:
            sink.event(True, reason, message)
        now = timestamp(utc_now())
        status = obj.status.deep_copy()
        status.conditions = c.upsert(
            status.conditions, condition, deleting, reason, message, generation=obj.generation, now=now
        )
        if not deleting and c.ready_waits_on(status.conditions, has_pool=status.pool_name is not None):
            status.conditions = c.upsert(
                status.conditions,
                ConditionType.READY,
                False,
                c.READY_PENDING,
                message,
                generation=obj.generation,
                now=now,
            )
        await sink.write_status(status)
        self._ctx.metrics.count_reconcile_error(reason)

    def _reader(self, obj: PoolObject, target: Binding, credentials: Credentials) -> ObservedReader:
        """A reader over the shared list of the pool's (endpoint, project, workspace, credentials)."""
        ctx = self._ctx
        cloud_workspace = obj.status.cloud.workspace_id if obj.status.cloud else None
        key = (
            target.endpoint,
            target.project_id,
            workspace_of(obj.spec.workspace_id, cloud_workspace),
            _fingerprint(credentials),
        )
        observer = ctx.observers.get(
            key,
            lambda: ctx.cloud.client_for(
                target.endpoint, target.project_id, credentials, f"list:{target.project_id}", shared=True
            ),
        )
        if self._subscription is not None and self._subscription[0] is not observer:
            self._unsubscribe()
        self._observer = observer
        client = ctx.cloud.client_for(target.endpoint, target.project_id, credentials, obj.key)
        return ObservedReader(
            observer, client, wait_seconds=ctx.settings.request_timeout_seconds * 2, writes=self._writes
        )

    def _resubscribe(self, obj: PoolObject, every: float) -> None:
        """Tell the shared list which pool this object follows, and how often it needs a look."""
        pool_name = ((self.body or {}).get("status") or {}).get("poolName") or obj.spec.pool_name
        if not pool_name or self._observer is None:
            self._unsubscribe()
            return
        deleting = _is_ours_to_delete(self.body or {})
        self._observer.subscribe(
            obj.key,
            str(pool_name),
            every,
            self.wake,
            self._confirm_next if deleting else None,
            self._deleting_since(self._observer) if deleting else None,
        )
        self._subscription = (self._observer, obj.key)

    def _deleting_since(self, observer: PoolListObserver) -> float | None:
        """When the pool's first DELETE was sent, on the observer's clock (``None`` before it was)."""
        deletion = ((self.body or {}).get("status") or {}).get("deletion") or {}
        requested = parse_timestamp(deletion.get("requestedAt"))
        if requested is None:
            return None
        return observer.clock() - (utc_now() - requested).total_seconds()

    def _unsubscribe(self) -> None:
        if self._subscription is not None:
            observer, who = self._subscription
            observer.unsubscribe(who)
            self._subscription = None


class _Finished(Exception):
    """The object is released (or was never ours): the worker ends."""
