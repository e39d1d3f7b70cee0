"""The shared, fair rate limiter in front of ModelArts: one token bucket per (endpoint, project).

Why a bucket per (endpoint, project): that is what the API gateway throttles, so every object talking to the
same project shares one budget, however many objects there are. Why fairness: a token bucket alone hands its
tokens to whoever asks first, so one object whose reconciliation queues many calls would delay every other
object for as long as its backlog lasts. Here waiters queue per key (the object, ``"namespace/name"``), FIFO
within a key and round-robin across keys, so a key with one queued call is served within one "round" however
long the other keys' queues are.

A 429 from the gateway means the budget was too optimistic for everyone sharing the bucket, not only for the
caller that saw it: :meth:`TokenBucket.penalize` stops all grants until the pause ends and restarts from an
empty bucket (no burst right after a pause, which would just earn the next 429).

Only asyncio here (no kopf, no httpx): the ModelArts client reaches this through its ``before_request`` hook
(:func:`before_request_hook`), and 429s through its ``observer`` hook (:func:`throttle_observer`).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]
BeforeRequest = Callable[[str], Awaitable[None]]
Observer = Callable[[str, str, float], None]

DEFAULT_PAUSE_SECONDS = 1.0
"""How long a 429 without ``Retry-After`` stops the bucket."""
MAX_PAUSE_SECONDS = 60.0
"""Longest pause one 429 can impose; a bigger ``Retry-After`` is clamped (the next 429 pauses again)."""
ANONYMOUS_KEY = ""
"""The key of calls made without one (e.g. a start-up listing): they share one queue among themselves."""
STATUS_THROTTLED = "429"
_TOKEN_SLACK = 1e-6
"""A token short by less than this counts as whole: ``rate * dt`` rounds, and a wait of 1e-15 s added to a
clock of 1e3 s would not move it, so the dispatcher would wait for ever on a token it can never see."""


class WaitRecorder(Protocol):
    """What :func:`before_request_hook` reports waits to (``metrics.Metrics`` is one)."""

    def observe_limiter_wait(self, seconds: float) -> None: ...


class TokenBucket:
    """A token bucket with fair queueing: ``rate`` tokens per second, at most ``burst`` saved up.

    ``acquire`` returns at once while tokens are left and nobody is queued; otherwise the caller queues under
    its key and one dispatcher task (alive only while someone waits) hands out tokens as they accrue.
    ``clock`` and ``sleep`` are injectable so tests run on fake time.
    """

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        default_pause: float = DEFAULT_PAUSE_SECONDS,
        max_pause: float = MAX_PAUSE_SECONDS,
    ) -> None:
        if not (rate > 0 and math.isfinite(rate)):
            raise ValueError("rate must be a positive number")
        if burst < 1:
            raise ValueError("burst must be at least 1")
        if default_pause < 0 or max_pause < 0:
            raise ValueError("pauses must not be negative")
        self._rate = float(rate)
        self._burst = burst
        self._clock = clock
        self._sleep = sleep
        self._default_pause = default_pause
        self._max_pause = max_pause
        self._tokens = float(burst)
        self._refilled_at = clock()  # may lie in the future: no refill before a pause ends
        self._paused_until = -math.inf
        self._queues: OrderedDict[str, deque[asyncio.Future[float]]] = OrderedDict()
        self._dispatcher: asyncio.Task[None] | None = None
        self.grants_total = 0
        self.penalties_total = 0
        self.wait_seconds_total = 0.0
        self.last_wait_seconds = 0.0

    @property
    def rate(self) -> float:
        return self._rate

    @property
    def burst(self) -> int:
        return self._burst

    @property
    def queued(self) -> int:
        """Callers waiting now."""
        return sum(len(queue) for queue in self._queues.values())

    @property
    def paused_until(self) -> float:
        """Clock time before which no token is handed out (``-inf``: no pause)."""
        return self._paused_until

    async def acquire(self, key: str | None = None, *, first: bool = False) -> float:
        """Wait for a token; returns the seconds waited. ``key`` identifies the caller for fairness. ``first``: a
        call made for everybody (the shared pool list) goes to the front of the round instead of its back, rather
        than wait one turn of every object with a call queued (500 deleting pools: 5 s at 100/s)."""
        started = self._clock()
        if not self._queues and self._take_token(started):
            self._record_grant(0.0)
            return 0.0
        queue_key = ANONYMOUS_KEY if key is None else key
        waiter: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._queues.setdefault(queue_key, deque()).append(waiter)
        if first:
            self._queues.move_to_end(queue_key, last=False)
        self._ensure_dispatcher()
        try:
            granted_at = await waiter
        except asyncio.CancelledError:
            self._withdraw(queue_key, waiter)
            raise
        waited = max(0.0, granted_at - started)
        self._record_grant(waited)
        return waited

    def penalize(self, seconds: float | None = None) -> None:
        """Stop every grant for ``seconds`` (``None``: the default pause), then restart from an empty bucket.

        Overlapping penalties do not add up: the pause ends at the latest end asked for.
        """
        pause = self._default_pause if seconds is None or not math.isfinite(seconds) else seconds
        pause = min(max(pause, 0.0), self._max_pause)
        self.penalties_total += 1
        until = self._clock() + pause
        if until > self._paused_until:
            self._paused_until = until
        self._tokens = 0.0
        self._refilled_at = max(self._refilled_at, self._paused_until)

    def close(self) -> None:
        """Stop the dispatcher and cancel every waiter (operator shutdown)."""
        if self._dispatcher is not None:
            self._dispatcher.cancel()
            self._dispatcher = None
        for queue in self._queues.values():
            for waiter in queue:
                waiter.cancel()
        self._queues.clear()

    # --- internals -------------------------------------------------------------------------------

    def _refill(self, now: float) -> None:
        if now > self._refilled_at:
            self._tokens = min(float(self._burst), self._tokens + (now - self._refilled_at) * self._rate)
            self._refilled_at = now

    def _take_token(self, now: float) -> bool:
        if now < self._paused_until:
            return False
        self._refill(now)
        if self._tokens >= 1.0 - _TOKEN_SLACK:
            self._tokens -= 1.0
            return True
        return False

    def _seconds_until_token(self, now: float) -> float:
        if now < self._paused_until:
            return self._paused_until - now
        start = max(now, self._refilled_at)
        return (start - now) + max(0.0, 1.0 - self._tokens) / self._rate

    def _record_grant(self, waited: float) -> None:
        self.grants_total += 1
        self.wait_seconds_total += waited
        self.last_wait_seconds = waited

    def _withdraw(self, key: str, waiter: asyncio.Future[float]) -> None:
        """A caller gave up: leave the queue, and if it was granted a token it never used, give that back."""
        queue = self._queues.get(key)
        if queue is not None and waiter in queue:
            queue.remove(waiter)
            if not queue:
                del self._queues[key]
        if waiter.done() and not waiter.cancelled():
            self._tokens = min(float(self._burst), self._tokens + 1.0)

    def _next_waiter(self) -> asyncio.Future[float] | None:
        """The head of the next key's queue, round-robin (the key goes to the back of the round)."""
        while self._queues:
            key, queue = self._queues.popitem(last=False)
            waiter = queue.popleft()
            if queue:
                self._queues[key] = queue
            if not waiter.done():
                return waiter
        return None

    def _ensure_dispatcher(self) -> None:
        if self._dispatcher is None or self._dispatcher.done():
            self._dispatcher = asyncio.get_running_loop().create_task(self._dispatch())

    async def _dispatch(self) -> None:
        try:
            while self._queues:
                now = self._clock()
                if not self._take_token(now):
                    await self._sleep(self._seconds_until_token(now))
                    continue
                waiter = self._next_waiter()
                if waiter is None:  # everybody left while we were taking the token: give it back
                    self._tokens = min(float(self._burst), self._tokens + 1.0)
                    break
                waiter.set_result(now)
        finally:
            if self._dispatcher is asyncio.current_task():
                self._dispatcher = None


def bucket_key(endpoint: str, project_id: str) -> tuple[str, str]:
    """The one place a (endpoint, project) bucket key is built: scheme and host lowercased, no trailing ``/``,
    so ``https://ModelArts.x/`` and ``https://modelarts.x`` share a bucket, as they share the gateway's."""
    parts = urlsplit(endpoint.strip())
    normalized = urlunsplit(
        (parts.scheme.lower(), parts.netloc.lower(), parts.path.rstrip("/"), parts.query, parts.fragment)
    )
    return normalized, project_id


class LimiterRegistry:
    """One :class:`TokenBucket` per (endpoint, project), created on first use, all with the same settings."""

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        default_pause: float = DEFAULT_PAUSE_SECONDS,
        max_pause: float = MAX_PAUSE_SECONDS,
    ) -> None:
        # Build one bucket now so bad settings fail at start-up, not on the first ModelArts call.
        TokenBucket(rate, burst, clock=clock, sleep=sleep, default_pause=default_pause, max_pause=max_pause)
        self._rate = rate
        self._burst = burst
        self._clock = clock
        self._sleep = sleep
        self._default_pause = default_pause
        self._max_pause = max_pause
        self._buckets: dict[tuple[str, str], TokenBucket] = {}

    def bucket_for(self, endpoint: str, project_id: str) -> TokenBucket:
        """The bucket shared by every caller of this (endpoint, project)."""
        key = bucket_key(endpoint, project_id)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = TokenBucket(
                self._rate,
                self._burst,
                clock=self._clock,
                sleep=self._sleep,
                default_pause=self._default_pause,
                max_pause=self._max_pause,
            )
            self._buckets[key] = bucket
        return bucket

    def buckets(self) -> dict[tuple[str, str], TokenBucket]:
        """A snapshot of the buckets made so far, by :func:`bucket_key`."""
        return dict(self._buckets)

    def close(self) -> None:
        """Close every bucket (operator shutdown)."""
        for bucket in self._buckets.values():
            bucket.close()


def before_request_hook(
    bucket: TokenBucket, key: str | None, metrics: WaitRecorder | None = None, *, first: bool = False
) -> BeforeRequest:
    """The ModelArts client's ``before_request``: take a token from ``bucket`` as ``key`` (``first``: see
    :meth:`TokenBucket.acquire`), report the wait."""

    async def before_request(operation: str) -> None:
        waited = await bucket.acquire(key, first=first)
        if metrics is not None:
            metrics.observe_limiter_wait(waited)

    return before_request


def throttle_observer(bucket: TokenBucket, inner: Observer | None = None) -> Observer:
    """The ModelArts client's ``observer``: forwards to ``inner`` (metrics) and pauses ``bucket`` on a 429.

    The hook sees only the status, not ``Retry-After``, so this pause is the bucket's default one; a caller
    that catches ``Throttled`` should also call ``bucket.penalize(error.retry_after)`` (pauses do not add up,
    the later end wins).
    """

    def observer(operation: str, code: str, seconds: float) -> None:
        if code == STATUS_THROTTLED:
            bucket.penalize(None)
        if inner is not None:
            inner(operation, code, seconds)

    return observer


__all__ = [
    "ANONYMOUS_KEY",
    "DEFAULT_PAUSE_SECONDS",
    "MAX_PAUSE_SECONDS",
    "LimiterRegistry",
    "TokenBucket",
    "WaitRecorder",
    "before_request_hook",
    "bucket_key",
    "throttle_observer",
]
