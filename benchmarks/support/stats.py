"""Percentiles and the aggregation of per-period load lines (pure, no I/O).

The simulator (``edgeplane sim``) and the kube Lease driver (``kube_leases``) both print
one JSON line per report period with ``hb_sent``, ``hb_errors``, ``hb_p50_ms`` and
``hb_p99_ms`` over that period; ``fleet.py`` folds the lines of a hold into one figure
the same way for both, so the two sides are compared by one rule.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank ``q`` percentile (0 < q <= 100) of ``values``; NaN when empty."""
    if not 0 < q <= 100:
        raise ValueError(f"q={q}: give a percentile in (0, 100]")
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = math.ceil(q / 100 * len(ordered))
    return float(ordered[max(rank, 1) - 1])


@dataclass(frozen=True)
class Hold:
    """What one step's hold amounted to, over its report lines."""

    periods: int
    sent: int
    errors: int
    p50_ms: float
    """The median of the periods' p50."""
    p99_ms: float
    """The worst period's p99 (a single bad period fails the step)."""
    connected_min: int
    cpu_seconds: float
    """The load generator's own CPU between the first and the last line of the hold."""
    span_seconds: float = 0.0
    """Seconds between the first and the last line of the hold (``t``)."""

    @property
    def cpu_percent(self) -> float:
        """The load generator's CPU as % of one core (0 when one line only)."""
        return 100 * self.cpu_seconds / self.span_seconds if self.span_seconds > 0 else 0.0


def fold(lines: Iterable[Mapping[str, Any]]) -> Hold:
    """One figure of the periods of a hold; periods with no heartbeat count as none."""
    rows = list(lines)
    measured = [r for r in rows if r.get("hb_sent", 0) > 0 and r.get("hb_p99_ms") is not None]
    cpu = [float(r["cpu_seconds"]) for r in rows if "cpu_seconds" in r]
    stamps = [float(r["t"]) for r in rows if "t" in r]
    return Hold(
        periods=len(rows),
        sent=sum(int(r.get("hb_sent", 0)) for r in rows),
        errors=sum(int(r.get("hb_errors", 0)) for r in rows),
        p50_ms=statistics.median(float(r["hb_p50_ms"]) for r in measured) if measured else math.nan,
        p99_ms=max((float(r["hb_p99_ms"]) for r in measured), default=math.nan),
        connected_min=min((int(r.get("connected", 0)) for r in rows), default=0),
        cpu_seconds=(max(cpu) - min(cpu)) if len(cpu) > 1 else 0.0,
        span_seconds=(max(stamps) - min(stamps)) if len(stamps) > 1 else 0.0,
    )


def why_not_held(
    hold: Hold, sites: int, false_offline: int, p99_goal_ms: float = 100.0
) -> str | None:
    """Why a step did not hold (None when it did): every site must stay connected,
    every heartbeat be answered, p99 stay under the goal and no site be falsely Offline."""
    if hold.sent == 0:
        return "no heartbeat in the hold"
    if hold.errors:
        return f"{hold.errors} heartbeats failed"
    if hold.connected_min < sites:
        return f"only {hold.connected_min} of {sites} connected"
    if not hold.p99_ms < p99_goal_ms:
        return f"p99 {hold.p99_ms:.0f} ms >= {p99_goal_ms:g} ms"
    if false_offline:
        return f"{false_offline} sites falsely Offline"
    return None


def held(hold: Hold, sites: int, false_offline: int, p99_goal_ms: float = 100.0) -> bool:
    return why_not_held(hold, sites, false_offline, p99_goal_ms) is None


def rounded(value: float, digits: int = 1) -> float | None:
    """``value`` rounded for JSON; None for NaN (JSON has no NaN)."""
    return None if math.isnan(value) else round(value, digits)
