"""Deletion steps first: while deleted objects have a ``DELETE`` to send or a finalizer to release, status writes
and Events wait.

Every second a deleted pool is not yet asked to go is a second it is billed, and every second an object waits for
its finalizer after the pool is gone is a second ``kubectl delete`` hangs. In a burst (``kubectl delete mapool
--all`` on 500 objects) the operator's one core is the limit: each object's status write, its Event, and the watch
event the write comes back as cost more CPU than the ``DELETE`` itself, and interleaved with the other objects'
steps they made the last ones of a burst wait seconds for the CPU. So a deleted object counts as *waiting* from
the watch event that marks it until its first deletion pass has made its cloud call (or decided there is none to
make), and again from the pool list that no longer shows its pool until the pass that confirms the 404 and
releases the finalizer. Status writes and Events of any object wait until nobody is waiting — never longer than
:data:`MAX_DEFER_SECONDS`, so a steady stream of deletions delays them, never starves them. Deferring a write
loses nothing: the worker holds what it will write (and diffs it against the body as it is when it goes), and a
crash before it went is answered by the next process's first pass (a pool already ``Deleting`` gets no second
``DELETE``). Events keep the time they were raised at.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools

MAX_DEFER_SECONDS = 5.0
"""The longest a status write or an Event waits for the pending deletion steps."""


class DeletesFirst:
    """Who has a deletion step to take now, and a wait for the moment nobody else has."""

    def __init__(self, max_defer_seconds: float = MAX_DEFER_SECONDS) -> None:
        self._max_defer = max_defer_seconds
        self._ticks = itertools.count(1)
        self._waiting: dict[str, int] = {}  # who -> the tick it was marked at
        # Callers of calm() waiting: for the moment nobody waits, and (by who) for their own mark. Kept so that a
        # mark or a done costs O(1) however many writes wait (a scan of 500 of them on each was 6 % of the CPU).
        self._calm: asyncio.Future[None] | None = None
        self._own: dict[str, asyncio.Future[None]] = {}

    @property
    def waiting(self) -> int:
        """Deleted objects with a deletion step to take now (a ``DELETE`` to send, a 404 to confirm)."""
        return len(self._waiting)

    def is_waiting(self, who: str) -> bool:
        return who in self._waiting

    def tick(self) -> int:
        """Now, for :meth:`done`'s ``marked_before``: a pass notes it when it starts."""
        return next(self._ticks)

    def marked(self, who: str) -> None:
        """``who`` (an object's uid) has a deletion step to take: its ``DELETE``, or its 404 and finalizer."""
        self._waiting[who] = self.tick()
        own = self._own.pop(who, None)
        if own is not None and not own.done():
            own.set_result(None)  # its write is on the way to that step: it goes now

    def done(self, who: str, *, marked_before: int | None = None) -> None:
        """``who`` took its step (or needs none, or gave up for now): it no longer holds the others back. With
        ``marked_before`` (the pass's start :meth:`tick`), a mark made during the pass stays: that step is next."""
        tick = self._waiting.get(who)
        if tick is not None and (marked_before is None or tick < marked_before):
            del self._waiting[who]
            if not self._waiting and self._calm is not None:
                if not self._calm.done():
                    self._calm.set_result(None)
                self._calm = None

    async def calm(self, who: str | None = None) -> None:
        """Return when nobody has a deletion step waiting, or at once when ``who`` has one itself (its write is
        on the way to it), or after :data:`MAX_DEFER_SECONDS` at most."""
        if not self._waiting or (who is not None and who in self._waiting):
            return
        loop = asyncio.get_running_loop()
        if self._calm is None:
            self._calm = loop.create_future()
        waits: list[asyncio.Future[None]] = [self._calm]
        if who is not None:
            own = self._own.get(who)
            if own is None or own.done():
                own = self._own[who] = loop.create_future()
            waits.append(own)
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._max_defer):
                    await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if who is not None and self._own.get(who) is waits[-1]:
                del self._own[who]
