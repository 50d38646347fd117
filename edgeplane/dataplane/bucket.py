"""A token bucket: a site's uplink budget (``Site.spec.uplink``), in bytes.

Tokens accrue at ``rate`` bytes a second up to ``burst``; a send of n bytes takes n
tokens and may take them before they are there (the balance goes negative), in which
case ``take`` says how long to wait first: the sends that follow then wait for the
debt too, so over any stretch no more than ``rate`` a second (plus one burst) goes out,
whatever the batch sizes. Pure: the caller passes the clock.

Neighbours: ``dataplane.uplink`` takes from it before each batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class TokenBucket:
    rate: float
    """Bytes a second; ``inf`` for no budget."""
    burst: float
    tokens: float = field(init=False)
    at: float | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if not self.rate > 0 or not self.burst > 0:
            raise ValueError(
                f"an uplink budget needs a positive rate and burst, not {self.rate}, {self.burst}"
            )
        self.tokens = self.burst

    def take(self, size: int, now: float) -> float:
        """Take ``size`` bytes' worth at ``now``: seconds to wait before sending them."""
        self._refill(now)
        self.tokens -= size
        return 0.0 if self.tokens >= 0 else -self.tokens / self.rate

    def wait_for(self, size: int, now: float) -> float:
        """Seconds until ``size`` bytes could go without debt (taking nothing)."""
        self._refill(now)
        return max(0.0, (size - self.tokens) / self.rate)

    def _refill(self, now: float) -> None:
        if self.at is not None and now > self.at:
            self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now if self.at is None else max(self.at, now)
