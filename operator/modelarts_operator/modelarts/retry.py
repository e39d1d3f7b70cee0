"""When and how long the client waits before repeating a failed ModelArts call.

Rules:

* Only errors whose ``retryable`` is true are repeated: throttling (429), server errors (5xx), transport
  errors.
* Only idempotent operations are repeated after the request may have reached the server: get, list, delete
  (a second DELETE of a pool being deleted is harmless; 404 then says it is gone) and patch (the same
  merge-patch applied twice gives the same pool).
* **Create is never repeated once a byte of it may have left**, whatever the answer (5xx, timeout, reset, even
  429): a POST that reached ModelArts may have created a pool, and a second one would be a second billed pool.
  The one exception is a connection that was never established (``TransportError.request_sent`` is false:
  connection refused, connect timeout, no free connection in the pool), where the server has seen nothing.
  Recovery after an ambiguous create is the caller's job: the next create answers 409 and the pool is found by
  listing with its display name.
* Delays: exponential backoff (``base_delay * 2**(attempt-1)``, capped at ``max_delay``) with full jitter
  (a uniform draw in ``[0, backoff]``), so that many pools throttled together do not retry in lockstep.
  A server ``Retry-After`` is honoured when it is longer than the drawn delay; one longer than
  ``max_retry_after`` is not waited out here at all: the error is raised so the caller can reschedule without
  holding a task (``Throttled.retry_after`` carries the wait).
"""

from __future__ import annotations

import asyncio
import random as _random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from modelarts_operator.modelarts.errors import ModelArtsError, Throttled, TransportError

IDEMPOTENT_OPERATIONS = frozenset({"get", "list", "delete", "patch"})


@dataclass(frozen=True)
class RetryPolicy:
    """Retry limits and the injectable ``sleep``/``random`` (tests pass fakes and assert the delays)."""

    max_attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 20.0
    jitter: bool = True
    max_retry_after: float = 60.0
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep, repr=False, compare=False)
    random: Callable[[], float] = field(default=_random.random, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base_delay < 0 or self.max_delay < 0 or self.max_retry_after < 0:
            raise ValueError("delays must not be negative")

    @classmethod
    def never(cls) -> RetryPolicy:
        """One attempt only: for callers that do their own retrying."""
        return cls(max_attempts=1)

    def should_retry(self, operation: str, error: ModelArtsError, attempt: int) -> bool:
        """Whether to make attempt ``attempt + 1`` after ``error`` ended attempt ``attempt`` (1-based)."""
        if attempt >= self.max_attempts or not error.retryable:
            return False
        if isinstance(error, Throttled) and (error.retry_after or 0.0) > self.max_retry_after:
            return False
        if operation in IDEMPOTENT_OPERATIONS:
            return True
        # Non-idempotent (create): only when nothing can have reached the server.
        return isinstance(error, TransportError) and not error.request_sent

    def backoff(self, attempt: int) -> float:
        """The jittered exponential delay after failed attempt ``attempt`` (1-based)."""
        ceiling = min(self.max_delay, self.base_delay * 2.0 ** (attempt - 1))
        return self.random() * ceiling if self.jitter else ceiling

    def delay(self, error: ModelArtsError, attempt: int) -> float:
        """The wait after ``error`` ended attempt ``attempt``: the backoff, or ``Retry-After`` if longer."""
        wait = self.backoff(attempt)
        if isinstance(error, Throttled) and error.retry_after is not None:
            wait = max(wait, min(error.retry_after, self.max_retry_after))
        return wait
