"""The reconcile logic's ``ObjectSink`` over the Kubernetes API: the typed status serialised once, here."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from modelarts_operator.controller.events import EventPoster
from modelarts_operator.controller.kube import KubeApi
from modelarts_operator.controller.status_patch import diff_merge_patch
from modelarts_operator.resource.status import ModelArtsPoolStatus

logger = logging.getLogger(__name__)


def status_wire(status: ModelArtsPoolStatus) -> dict[str, Any]:
    """The status as the API server stores it (the one place it is serialised)."""
    return status.model_dump(mode="json", by_alias=True, exclude_none=True)


class KubeSink:
    """Writes one object's status (only what changed) and its Events.

    ``current`` gives the freshest body the worker knows and ``written`` is told about every object the API
    server answers a write with, so the next diff is made against what is really stored. ``before_write`` is
    awaited before each status write (the worker's turn in ``urgency.DeletesFirst``); the diff is made after it,
    against the body as it is then.
    """

    def __init__(
        self,
        kube: KubeApi,
        events: EventPoster,
        current: Callable[[], dict[str, Any]],
        written: Callable[[dict[str, Any]], None],
        before_write: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._kube = kube
        self._events = events
        self._current = current
        self._written = written
        self._before_write = before_write

    def _where(self) -> tuple[str, str]:
        metadata = self._current().get("metadata") or {}
        return str(metadata.get("namespace") or ""), str(metadata.get("name") or "")

    async def turn(self) -> None:
        if self._before_write is not None:
            await self._before_write()

    async def write_status(self, status: ModelArtsPoolStatus) -> None:
        await self.turn()
        patch = diff_merge_patch(dict(self._current().get("status") or {}), status_wire(status))
        if not patch:
            return
        namespace, name = self._where()
        self._written(await self._kube.patch_status(namespace, name, patch))

    def event(self, warning: bool, reason: str, message: str) -> None:
        metadata = self._current().get("metadata") or {}
        # The same words in the log and as an Event.
        logger.log(
            logging.WARNING if warning else logging.INFO,
            "[%s/%s] %s: %s",
            metadata.get("namespace"),
            metadata.get("name"),
            reason,
            message,
        )
        self._events.post(metadata, warning=warning, reason=reason, message=message)
