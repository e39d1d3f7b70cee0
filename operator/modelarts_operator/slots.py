"""A fixed number of concurrent requests, with the waiting ones in two queues: the first before the background.

Both HTTP clients of the operator wait here rather than in httpcore's connection pool, which rescans every queued
request and every connection (probing each idle socket) whenever a request starts or ends
(encode/httpcore#1035): with hundreds queued, that was a fifth of the operator's CPU in a burst of deletions. As
many slots as the pool has connections, so a request holding a slot waits inside httpcore only while another
set of slots (the Kubernetes API has one; ModelArts one per project of an endpoint) uses the same connections.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator


class Slots:
    """``size`` requests at a time; the waiting ones go in order, every urgent one before any background one (for
    the Kubernetes API, an Event: in a burst the writes a deletion waits for are not queued behind hundreds of
    Events; for ModelArts, every object's own call: the shared pool list, which answers for all of them, is not
    queued behind hundreds of them)."""

    def __init__(self, size: int) -> None:
        self._free = size
        self._urgent: deque[asyncio.Future[None]] = deque()
        self._background: deque[asyncio.Future[None]] = deque()

    @contextlib.asynccontextmanager
    async def slot(self, *, background: bool) -> AsyncIterator[None]:
        if self._free > 0 and not self._urgent and not self._background:
            self._free -= 1
        else:
            handed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            (self._background if background else self._urgent).append(handed)
            try:
                await handed
            except asyncio.CancelledError:
                if not handed.cancelled():  # the slot was handed over as we were cancelled: pass it on
                    self._release()
                raise  # (a cancelled waiter still queued is skipped by _release)
        try:
            yield
        finally:
            self._release()

    def _release(self) -> None:
        for queue in (self._urgent, self._background):
            while queue:
                waiter = queue.popleft()
                if not waiter.done():
                    waiter.set_result(None)
                    return
        self._free += 1
