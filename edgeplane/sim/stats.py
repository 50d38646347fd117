"""What the simulator counts: a bounded latency histogram, counters, and its own cost.

The histogram has fixed log-spaced buckets (5 % wide, 0.01 ms to about 10 min), so a
percentile costs the same whatever the number of samples and memory never grows.
Neighbours: ``sim.fleet`` fills it, ``sim.command`` prints ``SimStats.line()``.
"""

from __future__ import annotations

import math
import os
import resource
import time
from dataclasses import asdict, dataclass

import orjson

_GROWTH = 1.05
_FLOOR_MS = 0.01
_BUCKETS = 400
_LOG = math.log(_GROWTH)
_PAGE = os.sysconf("SC_PAGE_SIZE")


class Histogram:
    """Counts of latencies in 400 buckets; percentiles within 5 %."""

    def __init__(self) -> None:
        self.counts = [0] * _BUCKETS
        self.total = 0

    def add(self, ms: float) -> None:
        index = 0 if ms <= _FLOOR_MS else int(math.log(ms / _FLOOR_MS) / _LOG) + 1
        self.counts[min(index, _BUCKETS - 1)] += 1
        self.total += 1

    def percentile(self, p: float) -> float | None:
        """The upper edge of the bucket holding the p-th percentile (None when empty)."""
        if not self.total:
            return None
        rank, seen = math.ceil(self.total * p / 100), 0
        for index, count in enumerate(self.counts):
            seen += count
            if seen >= max(rank, 1):
                return round(_FLOOR_MS * _GROWTH**index, 2)
        return None  # not reached: the counts sum to the total

    def reset(self) -> None:
        self.counts = [0] * _BUCKETS
        self.total = 0


def cpu_seconds() -> float:
    """This process's CPU time so far, user and system."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return round(usage.ru_utime + usage.ru_stime, 3)


def rss_mb() -> float:
    """This process's resident memory now (not the peak)."""
    try:
        with open("/proc/self/statm") as f:
            return round(int(f.read().split()[1]) * _PAGE / 2**20, 1)
    except (OSError, ValueError, IndexError):
        return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


@dataclass(frozen=True)
class SimStats:
    """One report period. ``hb_*`` count and time the heartbeats of that period; the
    other counts are the fleet's state at its end (``status_*``, ``requests_answered``,
    ``join_errors``, ``located`` and ``locate_errors`` are totals since the start)."""

    t: float
    sites: int
    joined: int
    connected: int
    hb_sent: int
    hb_errors: int
    hb_p50_ms: float | None
    hb_p99_ms: float | None
    assignments: int
    running: int
    cpu_seconds: float
    rss_mb: float
    protocol: str
    join_errors: int
    status_sent: int
    status_errors: int
    requests_answered: int
    located: int = 0
    """Sites given their place (``--locations``)."""
    locate_errors: int = 0

    def line(self) -> str:
        return orjson.dumps(asdict(self)).decode()


def now() -> float:
    return round(time.time(), 3)
