"""How long to wait before looking at a pool again."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from modelarts_operator.reconcile.view import ANNOTATION_POLL_INTERVAL

MAX_POLL_INTERVAL_SECONDS = 3600.0


@dataclass(frozen=True)
class Timing:
    transition_seconds: float = 5.0
    stable_seconds: float = 60.0
    max_backoff_seconds: float = 300.0
    deletion_stall_seconds: float = 600.0
    jitter: Callable[[], float] = random.random  # 0..1; injectable so tests are deterministic

    def stable_for(self, annotations: Mapping[str, str]) -> float:
        """The stable interval, unless the object overrides it by annotation.

        A tenant writes that annotation, so it is bounded: never below the transition interval (a hot loop
        would spend the project's shared rate), never above an hour (a pool must still be looked at), and a
        value that is not a finite number is ignored."""
        override = annotations.get(ANNOTATION_POLL_INTERVAL)
        try:
            seconds = float(override) if override is not None else math.nan
        except ValueError:
            seconds = math.nan
        if not math.isfinite(seconds) or seconds <= 0:
            return self.stable_seconds
        return min(max(seconds, self.transition_seconds), max(MAX_POLL_INTERVAL_SECONDS, self.stable_seconds))

    def backoff(self, failures: int, *, at_least: float = 0.0) -> float:
        """Exponential backoff with full jitter from the transition interval up to the cap."""
        ceiling = min(self.max_backoff_seconds, self.transition_seconds * (2 ** max(failures - 1, 0)))
        spread = float(self.transition_seconds + (ceiling - self.transition_seconds) * self.jitter())
        return max(at_least, spread)
