"""kopf's side: watch, index, and hand every object to its worker. No decision is taken here.

- indices (complete before any handler runs): who claims which pool and display name, the ModelArtsProjects,
  the namespaces' labels;
- ``on.event`` for ModelArtsPools: start the object's worker (``worker.py``) or feed it the new body; the worker
  puts and removes the finalizer ``modelarts.operator.dev/pool-deletion`` itself;
- ``on.event`` for ModelArtsProjects and Namespaces: keep the project status worker fed, and wake the pools whose
  binding may have changed.

kopf is used as an informer here on purpose: its change handlers record progress in annotations on every retry,
and its daemons require a finalizer of kopf's own (https://kopf.readthedocs.io/en/stable/daemons/#deletion-prevention);
our workers need neither (see ``worker.py``).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

import kopf

from modelarts_operator.controller import claims, kube
from modelarts_operator.controller.context import OperatorContext
from modelarts_operator.controller.projects import ProjectWorker
from modelarts_operator.controller.worker import PoolWorker
from modelarts_operator.resource import names

logger = logging.getLogger(__name__)

POOLS = (names.GROUP, names.VERSION, names.PLURAL)
PROJECTS = (names.GROUP, names.VERSION, names.PROJECT_PLURAL)
NAMESPACES = ("", "v1", "namespaces")
# kopf's own finalizer name: nothing here asks kopf for one (no change handlers, no daemons), and it must never
# be ours, or kopf would remove ours as "not required".
KOPF_FINALIZER = f"{names.PREFIX}/kopf"


@dataclass
class Controller:
    """The workers of one operator process (kept in kopf's memo as ``controller``)."""

    context: OperatorContext
    pools: dict[str, PoolWorker] = field(default_factory=dict)
    projects: dict[str, ProjectWorker] = field(default_factory=dict)

    def pool_event(self, uid: str, body: dict[str, Any] | None) -> None:
        worker = self.pools.get(uid)
        if body is None:
            if worker is not None:
                worker.observe_event(None)
            return
        if worker is None or worker.task is None or worker.task.done():
            worker = PoolWorker(self.context, uid)
            self.pools[uid] = worker
            worker.observe_event(body)
            worker.task = _start(self._run_pool(worker), f"pool {uid}")
            return
        worker.observe_event(body)

    async def _run_pool(self, worker: PoolWorker) -> None:
        try:
            await worker.run()
        finally:
            if self.pools.get(worker.uid) is worker:
                del self.pools[worker.uid]

    def project_event(self, name: str, body: dict[str, Any] | None) -> None:
        worker = self.projects.get(name)
        if body is not None and (worker is None or worker.task is None or worker.task.done()):
            worker = ProjectWorker(self.context, name)
            self.projects[name] = worker
            worker.observe_event(body)
            worker.task = _start(worker.run(), f"project {name}")
        elif worker is not None:
            worker.observe_event(body)
        self.wake_pools()

    def wake_pools(self, namespace: str | None = None) -> None:
        """Bindings may have changed: let the (matching) pools look again (cheap: no cloud call if nothing moved)."""
        for worker in self.pools.values():
            meta = (worker.body or {}).get("metadata") or {}
            if namespace is None or meta.get("namespace") == namespace:
                worker.wake.set()

    def wake_project(self, name: str) -> None:
        worker = self.projects.get(name)
        if worker is not None:
            worker.wake.set()

    async def stop(self) -> None:
        workers: list[PoolWorker | ProjectWorker] = [*self.pools.values(), *self.projects.values()]
        tasks = [w.task for w in workers if w.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class _NoDiffBase(kopf.DiffBaseStorage):
    """No diff base: kopf computes one on every watch event (a deep copy of the whole object) for change handlers
    and daemons, and this operator has neither. Stores nothing, so no annotation is ever written either."""

    def build(self, *, body: kopf.Body, extra_fields: Any = None) -> kopf.BodyEssence:
        return kopf.BodyEssence()

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        return None

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        return None


def _start(work: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
    """A worker's task, in a context of its own: a task started inside a kopf handler would otherwise keep a copy
    of kopf's context variables for its whole life, and with them the first watch event's cause and body (with
    managedFields), its logger and its memo: about 10 KiB per object for nothing."""
    return asyncio.get_running_loop().create_task(work, name=name, context=contextvars.Context())


def _controller(memo: kopf.Memo) -> Controller:
    controller: Controller = memo.controller
    return controller


# --- operator life cycle ---------------------------------------------------------------------------


@kopf.on.login()
def login(**kwargs: Any) -> kopf.ConnectionInfo:
    """kopf logs in as KubeApi does (in a pod: KUBERNETES_SERVICE_HOST/PORT and the service account's token)."""
    return kube.login(**kwargs)


@kopf.on.startup()
async def operator_startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    context: OperatorContext = memo.context
    settings.persistence.finalizer = KOPF_FINALIZER
    # kopf's bookkeeping (if any) goes to annotations with our prefix, never into spec or status.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=names.PREFIX)
    settings.persistence.diffbase_storage = _NoDiffBase()
    settings.peering.standalone = True
    settings.posting.enabled = False  # our workers post their own Events
    settings.watching.server_timeout = 300
    memo.controller = Controller(context)
    logger.info("modelarts-operator started (namespaces: %s)", ", ".join(context.settings.namespaces) or "all")


@kopf.on.cleanup()
async def operator_cleanup(memo: kopf.Memo, **_: Any) -> None:
    await _controller(memo).stop()
    await _controller(memo).context.aclose()


# --- indices -------------------------------------------------------------------------------------------
# ``async`` although they never await: kopf runs a plain ``def`` handler in its thread pool, a hop there and back
# for every watch event of every object (a burst of deletions is thousands of them), for a few dict operations.


@kopf.index(*POOLS)
async def pool_claims(
    namespace: str | None, name: str, spec: kopf.Spec, status: kopf.Status, meta: kopf.Meta, **_: Any
) -> dict[tuple[str, ...], Any]:
    return claims.pool_claims(namespace or "", name, dict(spec), dict(status), meta.get("creationTimestamp"))


@kopf.index(*PROJECTS)
async def project_specs(name: str, spec: kopf.Spec, **_: Any) -> dict[str, Any]:
    return claims.project_spec(name, dict(spec))


@kopf.index(*NAMESPACES)
async def namespace_labels(name: str, labels: kopf.Labels, **_: Any) -> dict[str, dict[str, str]]:
    return {name: dict(labels)}


# --- events --------------------------------------------------------------------------------------------


@kopf.on.event(*POOLS)
async def modelartspool_event(event: kopf.RawEvent, uid: str, memo: kopf.Memo, **kwargs: Any) -> None:
    """``async`` on purpose: kopf runs plain ``def`` handlers in a thread pool
    (https://kopf.readthedocs.io/en/stable/async/), and waking a worker's ``asyncio.Event`` from another thread is
    not thread-safe."""
    controller = _controller(memo)
    controller.context.indices.capture(kwargs)
    body = event.get("object") if event.get("type") != "DELETED" else None
    if body is None:  # however it went (even a finalizer stripped by hand), its series go with it
        meta = (event.get("object") or {}).get("metadata") or {}
        controller.context.metrics.forget_pool(str(meta.get("namespace") or ""), str(meta.get("name") or ""))
    controller.pool_event(uid, dict(body) if body is not None else None)
    project = ((body or event.get("object") or {}).get("status") or {}).get("project")
    if project:
        controller.wake_project(str(project))


@kopf.on.event(*PROJECTS)
async def modelartsproject_event(event: kopf.RawEvent, name: str, memo: kopf.Memo, **kwargs: Any) -> None:
    controller = _controller(memo)
    controller.context.indices.capture(kwargs)
    body = event.get("object") if event.get("type") != "DELETED" else None
    if body is None:
        controller.context.metrics.forget_project(name)
    controller.project_event(name, dict(body) if body is not None else None)


@kopf.on.event(*NAMESPACES)
async def namespace_event(name: str, memo: kopf.Memo, **kwargs: Any) -> None:
    controller = _controller(memo)
    controller.context.indices.capture(kwargs)
    controller.wake_pools(name)
