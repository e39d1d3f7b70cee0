"""Kubernetes Events on our objects, posted in the background (an Event must never hold up a deletion)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from modelarts_operator.controller.kube import KubeApi, KubeError
from modelarts_operator.resource import names

logger = logging.getLogger(__name__)
COMPONENT = "modelarts-operator"
MAX_EVENT_MESSAGE = 1024


class EventPoster:
    def __init__(self, kube: KubeApi, instance: str, *, wait: Callable[[], Awaitable[None]] | None = None) -> None:
        """``wait``: awaited before each Event goes out (``urgency.DeletesFirst.calm``), so that in a burst of
        deletions the Events, stamped when they happened, follow the ``DELETE``s instead of competing with them."""
        self._kube = kube
        self._instance = instance
        self._wait = wait
        self._pending: set[asyncio.Task[None]] = set()

    def post(
        self, involved: Mapping[str, Any], *, warning: bool, reason: str, message: str, kind: str = names.KIND
    ) -> None:
        """``involved``: the object's ``metadata`` (namespace, name, uid, resourceVersion)."""
        now = datetime.now(UTC)
        namespace = str(involved.get("namespace") or "default")
        name = str(involved.get("name") or "")
        involved_object: dict[str, Any] = {
            "apiVersion": names.API_VERSION,
            "kind": kind,
            "name": name,
            "uid": involved.get("uid"),
            "resourceVersion": involved.get("resourceVersion"),
        }
        if involved.get("namespace"):
            involved_object["namespace"] = namespace
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": f"{name}.{uuid.uuid4().hex[:16]}", "namespace": namespace},
            "involvedObject": involved_object,
            "reason": reason,
            "message": message[:MAX_EVENT_MESSAGE],
            "type": "Warning" if warning else "Normal",
            "source": {"component": COMPONENT},
            "reportingComponent": COMPONENT,
            "reportingInstance": self._instance[:128],
            "firstTimestamp": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "lastTimestamp": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "eventTime": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "action": reason,
            "count": 1,
        }
        task = asyncio.get_running_loop().create_task(self._send(event))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _send(self, event: dict[str, Any]) -> None:
        if self._wait is not None:
            await self._wait()
        try:
            await self._kube.post_event(event)
        except KubeError as exc:
            logger.debug("event not posted: %s", exc)

    async def drain(self) -> None:
        """Let pending Events go out (shutdown)."""
        if self._pending:
            await asyncio.wait(set(self._pending), timeout=5)
