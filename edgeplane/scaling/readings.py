"""Metric readings: what each site's agent reports, and the fleet-wide average.

An agent averages each metric over its ready instances of an assignment and reports
``assignment["status"]["metrics"] = [{"name", "value", "samples"}]``; ``site_readings``
reads that list, and ``combine`` weighs the sites by their samples, so a site with
one instance counts for one instance, not for a site. External metrics do not pass
here: they are one value for the application, reported to the hub's API.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeGuard


@dataclass(frozen=True, slots=True)
class Reading:
    """A metric's average ``value`` over ``samples`` instances, from ``sites`` sites."""

    name: str
    value: float
    samples: int
    sites: int = 1


def site_readings(status: Mapping[str, Any] | None) -> tuple[Reading, ...]:
    """The readings in an assignment's ``status`` (its ``metrics`` list). Entries that
    are not a name, a finite number and a count of samples are left out: one bad
    report must not stop the autoscaler."""
    entries = (status or {}).get("metrics")
    if not isinstance(entries, list):
        return ()
    return tuple(r for e in entries if (r := _reading(e)) is not None)


def _reading(entry: object) -> Reading | None:
    if not isinstance(entry, Mapping):
        return None
    name, value, samples = entry.get("name"), entry.get("value"), entry.get("samples")
    if not isinstance(name, str) or not _number(value) or not _count(samples):
        return None
    return Reading(name, float(value), samples)


def _number(value: object) -> TypeGuard[int | float]:
    # bool is an int to Python, and never a measurement.
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return math.isfinite(value)


def _count(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def combine(per_site: Iterable[Sequence[Reading]]) -> dict[str, Reading]:
    """Each metric averaged over every site's instances (weighted by ``samples``),
    with the samples summed and the reporting sites counted. Readings of no samples
    or no finite value carry no information and are left out."""
    totals: dict[str, tuple[float, int, int]] = {}
    for readings in per_site:
        for name, (weighted, samples) in _site_totals(readings).items():
            before = totals.get(name, (0.0, 0, 0))
            totals[name] = (before[0] + weighted, before[1] + samples, before[2] + 1)
    return {
        name: Reading(name, weighted / samples, samples, sites)
        for name, (weighted, samples, sites) in totals.items()
    }


def _site_totals(readings: Sequence[Reading]) -> dict[str, tuple[float, int]]:
    """One site's readings by name (a name reported twice counts as one site)."""
    found: dict[str, tuple[float, int]] = {}
    for reading in readings:
        if reading.samples <= 0 or not math.isfinite(reading.value):
            continue
        weighted, samples = found.get(reading.name, (0.0, 0))
        found[reading.name] = (
            weighted + reading.value * reading.samples,
            samples + reading.samples,
        )
    return found
