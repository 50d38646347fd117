"""Capped exponential backoff with full jitter (AWS's "full jitter": a uniform delay
between 0 and the capped exponential), so that a thousand agents cut off by the same
outage do not reconnect in step."""

from __future__ import annotations

import random
from collections.abc import Callable


class Backoff:
    def __init__(
        self, base: float = 0.5, cap: float = 30.0, rng: Callable[[], float] = random.random
    ) -> None:
        self.base, self.cap, self._rng = base, cap, rng
        self.attempts = 0

    def ceiling(self) -> float:
        """The largest delay the next attempt may wait."""
        return min(self.cap, self.base * 2.0 ** min(self.attempts, 32))

    def next(self) -> float:
        """The delay before the next attempt; each call doubles the ceiling."""
        delay = self._rng() * self.ceiling()
        self.attempts += 1
        return delay

    def reset(self) -> None:
        self.attempts = 0
