"""A ModelArtsProject's status: are its credentials accepted by ModelArts, and how many pools does it serve.

The check is a cheap signed read (one list call, asked for one pool) — or none at all when the project's shared
pool list has succeeded recently, since that proves the same thing. Status is written only when it changes
(``lastCheckedAt`` at most every ten minutes on its own).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from pydantic import ValidationError

from modelarts_operator.controller.cloud import ConfigurationError, _fingerprint
from modelarts_operator.controller.context import OperatorContext
from modelarts_operator.controller.events import EventPoster
from modelarts_operator.controller.kube import KubeError, ObjectGone
from modelarts_operator.controller.status_patch import diff_merge_patch
from modelarts_operator.modelarts import errors
from modelarts_operator.modelarts.auth import Credentials
from modelarts_operator.modelarts.client import default_endpoint
from modelarts_operator.modelarts.models import DEFAULT_WORKSPACE_ID
from modelarts_operator.reconcile import conditions as c
from modelarts_operator.reconcile.binding import CredentialsKind, CredentialsRef
from modelarts_operator.reconcile.endpoints import EndpointRefused
from modelarts_operator.reconcile.view import parse_timestamp, timestamp, utc_now
from modelarts_operator.resource import names
from modelarts_operator.resource.project import ModelArtsProjectSpec
from modelarts_operator.resource.status import ConditionType, ModelArtsProjectStatus

logger = logging.getLogger(__name__)

READY_ACCEPTED = "CredentialsAccepted"
HEARTBEAT_SECONDS = 600.0
# Every event of a pool of the project wakes the worker to recount: a burst of them (500 objects deleted at once)
# settles for this long and then makes one count and at most one write, not one per event.
SETTLE_SECONDS = 1.0


class ProjectWorker:
    def __init__(self, context: OperatorContext, name: str) -> None:
        self._ctx = context
        self.name = name
        self.body: dict[str, Any] | None = None
        self.wake = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        # The last signed read: (endpoint, project, credentials fingerprint), when (monotonic), its answer. Every
        # pool event wakes this worker to recount its pools; the cloud is asked again only after an interval or
        # when the project's endpoint, id or credentials changed.
        self._asked: tuple[tuple[str, str, str], float, tuple[bool, str, str]] | None = None

    def observe_event(self, body: dict[str, Any] | None) -> None:
        self.body = body
        self.wake.set()

    async def run(self) -> None:
        interval = max(self._ctx.settings.stable_poll_seconds, 30.0)
        first = True
        while self.body is not None:
            if not first:
                await asyncio.sleep(SETTLE_SECONDS)
                # The count can wait for pools' deletion steps, like any status write (urgency.py).
                await self._ctx.deletes_first.calm()
            first = False
            self.wake.clear()
            if self.body is None:
                return
            try:
                await self._check(self.body)
            except ObjectGone:
                return
            except KubeError as exc:
                logger.warning("ModelArtsProject %s: kubernetes API call failed: %s", self.name, exc)
            except Exception:
                logger.exception("ModelArtsProject %s: unexpected error", self.name)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval):
                    await self.wake.wait()

    async def _check(self, body: dict[str, Any]) -> None:
        ctx = self._ctx
        meta = body.get("metadata") or {}
        current = ModelArtsProjectStatus.model_validate(body.get("status") or {})
        status = current.deep_copy()
        status.observed_generation = int(meta.get("generation") or 0)
        status.pools = ctx.claims().pools_of_project(self.name)
        ready, reason, message, checked = await self._readiness(body.get("spec") or {}, status)
        now = utc_now()
        status.conditions = c.upsert(
            status.conditions,
            ConditionType.READY,
            ready,
            reason,
            message,
            generation=status.observed_generation,
            now=timestamp(now),
        )
        ctx.metrics.set_project_ready(self.name, ready)
        last = parse_timestamp(current.last_checked_at)
        if checked and (
            last is None
            or (now - last).total_seconds() >= HEARTBEAT_SECONDS
            or c.find(current.conditions, ConditionType.READY) != c.find(status.conditions, ConditionType.READY)
        ):
            status.last_checked_at = timestamp(now)
        before = current.model_dump(mode="json", by_alias=True, exclude_none=True)
        after = status.model_dump(mode="json", by_alias=True, exclude_none=True)
        patch = diff_merge_patch(before, after)
        if not patch:
            return
        previous = c.find(current.conditions, ConditionType.READY)
        if previous is None or previous.reason != reason:
            _post(ctx.events, meta, warning=not ready, reason=reason, message=message)
        written = await ctx.kube.patch_status("", self.name, patch, plural=names.PROJECT_PLURAL)
        self.body = written or self.body

    async def _readiness(self, raw_spec: dict[str, Any], status: ModelArtsProjectStatus) -> tuple[bool, str, str, bool]:
        """(ready, reason, message, checked against the cloud)."""
        ctx = self._ctx
        try:
            spec = ModelArtsProjectSpec.model_validate(raw_spec)
        except ValidationError as exc:
            return False, c.SYNCED_INVALID_SPEC, f"spec does not fit: {exc.error_count()} errors", False
        try:
            endpoint = ctx.endpoints.check(spec.endpoint or default_endpoint(spec.region), origin="spec.endpoint")
        except EndpointRefused as exc:
            return False, c.SYNCED_INVALID_SPEC, str(exc), False
        status.endpoint = endpoint
        ref = CredentialsRef(
            CredentialsKind.PROJECT_SECRET, spec.credentials_secret_ref.namespace, spec.credentials_secret_ref.name
        )
        try:
            credentials = await ctx.credentials.credentials(ref)
        except ConfigurationError as exc:
            return False, exc.reason, str(exc), False
        key = (endpoint, spec.project_id, DEFAULT_WORKSPACE_ID, _fingerprint(credentials))
        for observer in ctx.observers.all():
            recent = observer.last_success_at is not None and (
                time.monotonic() - observer.last_success_at < max(ctx.settings.stable_poll_seconds, 30.0) * 2
            )
            if observer.key[:2] == key[:2] and observer.key[3] == key[3] and recent and observer.healthy:
                return True, READY_ACCEPTED, "ModelArts accepts the project's credentials (pool list)", True
        asked_key = (endpoint, spec.project_id, key[3])
        if (
            self._asked is not None
            and self._asked[0] == asked_key
            and (time.monotonic() - self._asked[1] < max(ctx.settings.stable_poll_seconds, 30.0))
        ):
            return (*self._asked[2], False)
        answer = await self._ask(ctx, endpoint, spec.project_id, credentials, ref)
        self._asked = (asked_key, time.monotonic(), answer)
        return (*answer, True)

    async def _ask(
        self, ctx: OperatorContext, endpoint: str, project_id: str, credentials: Credentials, ref: CredentialsRef
    ) -> tuple[bool, str, str]:
        """One signed read (a list asked for one pool): (ready, reason, message)."""
        client = ctx.cloud.client_for(endpoint, project_id, credentials, f"project:{self.name}")
        try:
            await client.list_pools(limit=1, first_page_only=True)
        except errors.CredentialsLocked as exc:
            return False, c.SYNCED_UNAUTHORIZED, str(exc)
        except errors.Unauthorized as exc:
            ctx.credentials.forget(ref)
            return False, c.SYNCED_UNAUTHORIZED, str(exc)
        except errors.Forbidden as exc:
            ctx.credentials.forget(ref)
            return False, c.SYNCED_UNAUTHORIZED, str(exc)
        except errors.MalformedResponse as exc:
            return False, c.SYNCED_MALFORMED_RESPONSE, str(exc)
        except errors.ModelArtsError as exc:
            return False, c.SYNCED_CLOUD_ERROR, str(exc)
        return True, READY_ACCEPTED, "ModelArts accepts the project's credentials"


def _post(events: EventPoster, meta: dict[str, Any], *, warning: bool, reason: str, message: str) -> None:
    events.post(meta, warning=warning, reason=reason, message=message, kind=names.PROJECT_KIND)
