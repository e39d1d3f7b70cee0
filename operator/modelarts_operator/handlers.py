"""kopf handlers: translate between ModelArtsPool objects and the reconcile logic, nothing more.

- one daemon per object runs the observe loop (create/adopt, mirror, update, drift) at an adaptive interval;
- ``on.event`` wakes that loop when the spec changes;
- ``on.delete`` (finalizer ``modelarts.operator.dev/pool-deletion``) deletes the pool step by step, with no
  timeout and no retry limit: it returns only when ModelArts says the pool is gone or the policy is Retain;
- an index of who manages which pool and display name refuses double management.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Mapping
from typing import Any

import kopf
from pydantic import ValidationError

from modelarts_operator import cloud
from modelarts_operator.kube import KubeApi, KubeError, ObjectGone
from modelarts_operator.limiter import LimiterRegistry
from modelarts_operator.metrics import Metrics
from modelarts_operator.modelarts.client import ModelArtsClient, make_http_client
from modelarts_operator.reconcile import conditions as c
from modelarts_operator.reconcile.deletion import PoolDeletion, releasable_without_cloud
from modelarts_operator.reconcile.merge import merge_patch
from modelarts_operator.reconcile.sync import PoolSync, SyncResult
from modelarts_operator.reconcile.timing import Timing
from modelarts_operator.reconcile.view import (
    ANNOTATION_CREATE_REQUESTED_AT,
    DisplayNameClaim,
    PoolObject,
    object_key,
    timestamp,
    utc_now,
)
from modelarts_operator.resource import names
from modelarts_operator.resource.spec import ModelArtsPoolSpec
from modelarts_operator.resource.status import ConditionType
from modelarts_operator.runtime import ObjectRuntime, ObjectRuntimes
from modelarts_operator.settings import OperatorSettings
from modelarts_operator.status_metrics import pool_report

KopfLogger = logging.Logger | logging.LoggerAdapter[Any]
RESOURCE = (names.GROUP, names.VERSION, names.PLURAL)
DELETION_IN_PROGRESS_MARKER = "pool deletion in progress"


class DeletionInProgress(kopf.TemporaryError):
    """Not a failure: the pool is still being deleted; kopf calls the handler again after the delay."""


# --- operator life cycle ---------------------------------------------------------------------------


@kopf.on.startup()
async def operator_startup(settings: kopf.OperatorSettings, memo: kopf.Memo, logger: KopfLogger,
                           **_: Any) -> None:
    config: OperatorSettings = memo.config
    settings.persistence.finalizer = names.FINALIZER
    # kopf's bookkeeping goes to annotations with our prefix, never into spec or status.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=names.PREFIX)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=names.PREFIX, key="last-handled-configuration"
    )
    settings.peering.standalone = True
    # The handlers post their own Events for every transition; kopf's log lines stay in the logs.
    settings.posting.level = logging.CRITICAL
    settings.watching.server_timeout = 300
    memo.kube = KubeApi.from_environment()
    verify: bool | str = config.ca_bundle or config.verify_tls
    memo.http = make_http_client(verify=verify, timeout=config.request_timeout_seconds)
    memo.metrics = memo.get("metrics") or Metrics()
    memo.metrics.set_leader(True)  # no leader election (yet): this process is the one that acts
    memo.limiters = LimiterRegistry(config.rate_limit, config.rate_burst)
    memo.clients = cloud.CloudClients(memo.http, memo.limiters, memo.metrics, config)
    memo.credentials = cloud.CredentialSource(memo.kube, config)
    memo.runtimes = ObjectRuntimes()
    memo.timing = Timing(
        transition_seconds=config.transition_poll_seconds,
        stable_seconds=config.stable_poll_seconds,
        max_backoff_seconds=config.max_backoff_seconds,
        deletion_stall_seconds=config.deletion_stall_seconds,
    )
    logger.info("modelarts-operator started (namespaces: %s)", ", ".join(config.namespaces) or "all")


@kopf.on.cleanup()
async def operator_cleanup(memo: kopf.Memo, **_: Any) -> None:
    memo.limiters.close()
    await memo.http.aclose()
    await memo.kube.aclose()


# --- who manages what ------------------------------------------------------------------------------


@kopf.index(*RESOURCE)
def pool_claims(namespace: str | None, name: str, spec: kopf.Spec, status: kopf.Status, meta: kopf.Meta,
                memo: kopf.Memo, **_: Any) -> dict[tuple[str, ...], Any]:
    """Keys ("pool", pool name) → object key, and ("display", project, display name) → DisplayNameClaim."""
    key = object_key(namespace or "", name)
    claims: dict[tuple[str, ...], Any] = {}
    recorded = status.get("poolName")
    if recorded:
        claims[("pool", str(recorded))] = key
    if not spec.get("poolName"):
        config: OperatorSettings = memo.config
        project = spec.get("projectId") or config.project_id or ""
        display = spec.get("displayName") or name
        claims[("display", project, display)] = DisplayNameClaim(
            key=key, creation_timestamp=meta.get("creationTimestamp"), has_pool=bool(recorded)
        )
    return claims


class IndexClaims:
    """The ``Claims`` the reconcile logic asks, answered from the kopf index."""

    def __init__(self, index: kopf.Index[tuple[str, ...], Any]) -> None:
        self._index = index

    def pool_owners(self, pool_name: str) -> set[str]:
        return set(self._index.get(("pool", pool_name), []))

    def display_name_owners(self, project_id: str, display_name: str) -> list[DisplayNameClaim]:
        return list(self._index.get(("display", project_id, display_name), []))


# --- writing back to the object --------------------------------------------------------------------


class KopfSink:
    """``ObjectSink`` over the Kubernetes API: status diffs, the create-intent annotation, Events."""

    def __init__(self, kube: KubeApi, body: kopf.Body, runtime: ObjectRuntime, metrics: Metrics,
                 logger: KopfLogger) -> None:
        self._logger = logger
        self._kube = kube
        self._body = body
        self._runtime = runtime
        self._metrics = metrics

    async def record_create_intent(self, when: str) -> None:
        await self._kube.patch_annotations(self._body.metadata.namespace or "", self._body.metadata.name or "",
                                           {ANNOTATION_CREATE_REQUESTED_AT: when})

    async def write_status(self, status: Mapping[str, Any]) -> None:
        current = current_status(self._body, self._runtime)
        patch = merge_patch(current, dict(status))
        if not patch:
            return
        written = await self._kube.patch_status(self._body.metadata.namespace or "",
                                                self._body.metadata.name or "", patch)
        self._runtime.status = written
        self._metrics.report_pool(self._body.metadata.namespace or "", self._body.metadata.name or "",
                                  pool_report(written, self._body.metadata.get("deletionTimestamp")))

    def event(self, warning: bool, reason: str, message: str) -> None:
        # The same words in the log (kopf's object logger prefixes namespace/name) and as an Event.
        self._logger.log(logging.WARNING if warning else logging.INFO, "%s: %s", reason, message)
        kopf.event(self._body, type="Warning" if warning else "Normal", reason=reason, message=message)


def current_status(body: kopf.Body, runtime: ObjectRuntime) -> dict[str, Any]:
    """The freshest status known: our last write until the watch stream has caught up with it."""
    streamed = dict(body.get("status") or {})
    if runtime.status is not None and runtime.status != streamed:
        return dict(runtime.status)
    runtime.status = None
    return streamed


def pool_object(body: kopf.Body, runtime: ObjectRuntime) -> PoolObject:
    meta = body.metadata
    return PoolObject(
        namespace=meta.namespace or "",
        name=meta.name or "",
        uid=meta.uid or "",
        generation=int(meta.get("generation") or 0),
        spec=ModelArtsPoolSpec.model_validate(dict(body.spec)),
        status=current_status(body, runtime),
        annotations=dict(meta.annotations),
        creation_timestamp=meta.creation_timestamp,
    )


async def client_for(memo: kopf.Memo, obj: PoolObject) -> ModelArtsClient:
    target = cloud.resolve_target(obj.spec, memo.config)
    credentials = await memo.credentials.for_object(obj.namespace, obj.spec)
    client: ModelArtsClient = memo.clients.client_for(target, credentials, obj.key)
    return client


async def report_configuration_error(sink: KopfSink, obj: PoolObject, condition: ConditionType, reason: str,
                                     message: str, *, deleting: bool = False) -> None:
    previous = c.find(list(obj.status.get("conditions") or []), condition)
    if previous is None or previous.get("message") != message:
        sink.event(True, reason, message)
    now = timestamp(utc_now())
    status = dict(obj.status)
    status["conditions"] = c.upsert(status.get("conditions"), condition, deleting, reason, message,
                                    generation=obj.generation, now=now)
    await sink.write_status(status)


# --- the observe loop ------------------------------------------------------------------------------


@kopf.on.event(*RESOURCE)
async def modelartspool_event(body: kopf.Body, uid: str, memo: kopf.Memo, type: str | None = None,
                              **_: Any) -> None:
    """Wake the object's loop when its spec or annotations move (kopf delivers the change to the daemon's body).

    ``async`` on purpose: kopf runs plain ``def`` handlers in a thread pool, and ``asyncio.Event.set()`` from
    another thread is not thread-safe (the sleeping daemon is only woken whenever the loop next happens to wake).
    """
    if type == "DELETED":  # however it went (even a finalizer stripped by hand), its series go with it
        memo.metrics.forget_pool(body.metadata.namespace or "", body.metadata.name or "")
    runtime = memo.runtimes.peek(uid)
    if runtime is not None and body.metadata.get("generation") != runtime.seen_generation:
        runtime.wake.set()


@kopf.daemon(*RESOURCE, cancellation_timeout=10.0)
async def modelartspool_daemon(stopped: kopf.DaemonStopped, body: kopf.Body, uid: str, memo: kopf.Memo,
                               logger: KopfLogger, **indices: Any) -> None:
    """The object's observe loop; ``indices`` carries kopf's ``pool_claims`` index."""
    runtime: ObjectRuntime = memo.runtimes.get(uid)
    timing: Timing = memo.timing
    # Resumed objects that already have a pool start spread over the transition interval: after a restart,
    # thousands of objects do not all call ModelArts in the same second.
    delay = random.uniform(0, timing.transition_seconds) if body.get("status", {}).get("poolName") else 0.0
    while not stopped:
        if delay:
            await _sleep(stopped, runtime.wake, delay)
            if stopped:
                break
        if names.FINALIZER not in body.metadata.get("finalizers", []):
            delay = 0.2  # kopf adds the finalizer first; no cloud call before it is on the object
            continue
        if body.metadata.get("deletionTimestamp"):
            break
        runtime.wake.clear()
        async with runtime.lock:
            if stopped:
                break
            result = await _sync_once(body, runtime, memo, IndexClaims(indices["pool_claims"]), logger)
            # Every turn, not only on status writes: after a restart nothing is written until something changes.
            report = pool_report(current_status(body, runtime), body.metadata.get("deletionTimestamp"))
            memo.metrics.report_pool(body.metadata.namespace or "", body.metadata.name or "", report)
        runtime.failures = runtime.failures + 1 if result.failed else 0
        if result.failed:
            memo.metrics.count_reconcile_error("sync")
        delay = result.requeue_after


async def _sleep(stopped: kopf.DaemonStopped, wake: asyncio.Event, seconds: float) -> None:
    """Until ``seconds`` pass, the spec changes, or the daemon is told to stop."""
    waiters = {asyncio.ensure_future(stopped.wait()), asyncio.ensure_future(wake.wait())}
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


async def _sync_once(body: kopf.Body, runtime: ObjectRuntime, memo: kopf.Memo, claims: IndexClaims,
                     logger: KopfLogger) -> SyncResult:
    runtime.seen_generation = body.metadata.get("generation")
    timing: Timing = memo.timing
    try:
        obj = pool_object(body, runtime)
    except ValidationError as exc:  # the CRD schema should have refused it; say so rather than crash
        logger.error("spec does not fit the model: %s", exc.errors(include_input=False))
        return SyncResult(timing.max_backoff_seconds, failed=True, wait_for_spec_change=True)
    sink = KopfSink(memo.kube, body, runtime, memo.metrics, logger)
    try:
        client = await client_for(memo, obj)
        result = await PoolSync(client, obj, sink, claims, timing, failures=runtime.failures).run()
        if result.credentials_refused:  # the Secret may have been fixed meanwhile: read it again next time
            # Only then: the Secret is shared by every object of the namespace, and forgetting it on any failure
            # (a timeout under load) made all of them re-read it at once, feeding the overload.
            memo.credentials.forget(obj.namespace, obj.spec)
        return result
    except cloud.ConfigurationError as exc:
        await report_configuration_error(sink, obj, ConditionType.SYNCED, c.SYNCED_INVALID_SPEC, str(exc))
        return SyncResult(timing.backoff(runtime.failures + 1), failed=True)
    except ObjectGone:
        return SyncResult(timing.transition_seconds)
    except KubeError as exc:
        logger.warning("kubernetes API call failed: %s", exc)
        return SyncResult(timing.backoff(runtime.failures + 1), failed=True)


# --- deletion --------------------------------------------------------------------------------------


@kopf.on.delete(*RESOURCE, retries=None, timeout=None, errors=kopf.ErrorsMode.TEMPORARY, backoff=5.0)
async def modelartspool_delete(body: kopf.Body, uid: str, memo: kopf.Memo, logger: KopfLogger,
                               **indices: Any) -> None:
    """Returns (and so releases the finalizer) only once the pool is gone or retained; ``indices`` carries
    kopf's ``pool_claims`` index."""
    runtime: ObjectRuntime = memo.runtimes.get(uid)
    timing: Timing = memo.timing
    async with runtime.lock:
        obj = pool_object(body, runtime)
        sink = KopfSink(memo.kube, body, runtime, memo.metrics, logger)
        released = releasable_without_cloud(obj)
        if released is not None:
            sink.event(False, "Retained" if "Retain" in released else "Released", released)
            _forget(memo, uid, obj)
            return
        try:
            client = await client_for(memo, obj)
            step = await PoolDeletion(client, obj, sink, IndexClaims(indices["pool_claims"]), timing).step()
        except cloud.ConfigurationError as exc:
            await report_configuration_error(sink, obj, ConditionType.DELETING, c.DELETION_STALLED, str(exc),
                                             deleting=True)
            runtime.failures += 1
            raise DeletionInProgress(f"{DELETION_IN_PROGRESS_MARKER}: {exc}",
                                     delay=timing.backoff(runtime.failures)) from None
    if not step.done:
        raise DeletionInProgress(f"{DELETION_IN_PROGRESS_MARKER}: pool {obj.pool_name or '?'}",
                                 delay=step.requeue_after)
    if step.duration_seconds is not None:
        memo.metrics.observe_pool_deletion(step.duration_seconds)
    _forget(memo, uid, obj)


def _forget(memo: kopf.Memo, uid: str, obj: PoolObject) -> None:
    memo.runtimes.forget(uid)
    memo.metrics.forget_pool(obj.namespace, obj.name)
