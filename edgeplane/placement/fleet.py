"""The fleet as arrays: one entry per site, in name order, so a check over ten
thousand sites is a handful of vector operations instead of ten thousand calls.

Sites are also grouped by label set (a fleet of 10,000 has a few hundred), so label
checks and policies run once per set; by taint set; and, per topology key, by
domain (the sites of each region together, for spread).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from edgeplane.api.selectors import Selector
from edgeplane.api.sites import SitePhase
from edgeplane.placement.model import SiteView, TaintView

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]

UNLIMITED = math.inf
AWAY = (SitePhase.OFFLINE, SitePhase.PENDING)
"""Phases that take nothing new: a Pending site joined but its agent never reported
(it may never: a token used by someone who went away)."""
EARTH_KM = 6371.0


@dataclass(frozen=True)
class Domains:
    """The sites of one topology key grouped by value: ``of[i]`` is site i's domain
    (-1 without the key); ``order`` lists sites domain by domain, and domain d is
    ``order[starts[d]:starts[d + 1]]``."""

    values: tuple[str, ...]
    of: Ints
    order: Ints
    starts: Ints


class Fleet:
    def __init__(self, sites: Sequence[SiteView]) -> None:
        self.sites = tuple(sorted(sites, key=lambda s: s.name))
        self.names = [s.name for s in self.sites]
        self.index = {name: i for i, name in enumerate(self.names)}
        self.size = n = len(self.sites)
        self.name_array: npt.NDArray[Any] = np.array(self.names, dtype=object)

        set_ids: dict[frozenset[tuple[str, str]], int] = {}
        self.label_sets: list[Mapping[str, str]] = []
        self.label_set = np.empty(n, dtype=np.int64)
        taint_ids: dict[tuple[TaintView, ...], int] = {(): 0}
        self.taint_sets: list[tuple[TaintView, ...]] = [()]
        self.taint_set = np.zeros(n, dtype=np.int64)
        for i, site in enumerate(self.sites):
            key = frozenset(site.labels.items())
            if key not in set_ids:
                set_ids[key] = len(self.label_sets)
                self.label_sets.append(site.labels)
            self.label_set[i] = set_ids[key]
            if site.taints not in taint_ids:
                taint_ids[site.taints] = len(self.taint_sets)
                self.taint_sets.append(site.taints)
            self.taint_set[i] = taint_ids[site.taints]
        self.set_size = np.bincount(self.label_set, minlength=len(self.label_sets))

        self.cordoned, self.offline, self.online, self.cpu, self.memory = _state(self.sites)
        self._refresh()
        self.tainted = self.taint_set > 0
        self.prefer_not = np.array(
            [any(t.effect == "PreferNoSchedule" for t in s.taints) for s in self.sites], dtype=bool
        )
        located = [s.location or (math.nan, math.nan) for s in self.sites]
        self.lat = np.radians(np.array([p[0] for p in located], dtype=float))
        self.lon = np.radians(np.array([p[1] for p in located], dtype=float))
        self.has_devices = any(s.devices for s in self.sites)
        self._domains: dict[str, Domains] = {}
        self._device_counts: dict[Selector, Floats] = {}

    def replace(self, i: int, site: SiteView) -> None:
        """Site ``i`` changed its phase or capacity (anything else needs a new Fleet)."""
        self.sites = (*self.sites[:i], site, *self.sites[i + 1 :])
        for array, value in zip(
            (self.cordoned, self.offline, self.online, self.cpu, self.memory),
            _state((site,)),
            strict=True,
        ):
            array[i] = value[0]
        self._refresh()

    def _refresh(self) -> None:
        self.any_cordoned = bool(self.cordoned.any())
        self.any_offline = bool(self.offline.any())
        known = np.isfinite(self.cpu) & np.isfinite(self.memory)
        self.capacity_known = bool((known & (self.cpu > 0) & (self.memory > 0)).all())
        with np.errstate(divide="ignore"):
            self.inverse_cpu = np.where(np.isfinite(self.cpu), 1.0 / self.cpu, 0.0)
            self.inverse_memory = np.where(np.isfinite(self.memory), 1.0 / self.memory, 0.0)

    def domains(self, key: str) -> Domains:
        found = self._domains.get(key)
        if found is None:
            values = sorted({s.labels[key] for s in self.sites if key in s.labels})
            number = {v: d for d, v in enumerate(values)}
            of = np.array(  # a site without the key is in no domain, not in the "" one
                [number[s.labels[key]] if key in s.labels else -1 for s in self.sites], dtype=int
            )
            order = np.argsort(of, kind="stable")
            order = order[of[order] >= 0]
            starts = np.searchsorted(of[order], np.arange(len(values) + 1))
            found = self._domains[key] = Domains(tuple(values), of, order, starts)
        return found

    def devices_matching(self, selector: Selector) -> Floats:
        """How many of each site's devices ``selector`` matches."""
        found = self._device_counts.get(selector)
        if found is None:
            found = np.array(
                [sum(1 for d in s.devices if selector.matches(d)) for s in self.sites], dtype=float
            )
            self._device_counts[selector] = found
        return found

    def distance_km(self, lat: float, lon: float) -> Floats:
        """Great-circle distance from a point to every site (NaN without a location)."""
        phi, lam = math.radians(lat), math.radians(lon)
        h = (
            np.sin((self.lat - phi) / 2) ** 2
            + np.cos(self.lat) * math.cos(phi) * np.sin((self.lon - lam) / 2) ** 2
        )
        result: Floats = 2 * EARTH_KM * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))
        return result

    def distance_to_sites(self, members: Ints) -> Floats:
        """Distance from every site to the nearest of ``members`` (inf if none located)."""
        nearest = np.full(self.size, np.inf)
        for m in members:
            if not math.isnan(self.lat[m]):
                far = self.distance_km(math.degrees(self.lat[m]), math.degrees(self.lon[m]))
                np.fmin(nearest, far, out=nearest)
        nearest[np.isnan(self.lat)] = np.nan
        return nearest


def _state(sites: Sequence[SiteView]) -> tuple[Bools, Bools, Bools, Floats, Floats]:
    """The fields that change without a rebuild (phase and capacity): cordoned, offline,
    online, cpu and memory, for each of ``sites``."""
    return (
        np.array([s.unschedulable or s.phase == SitePhase.CORDONED for s in sites], dtype=bool),
        np.array([s.phase in AWAY for s in sites], dtype=bool),
        np.array([s.phase == SitePhase.ONLINE for s in sites], dtype=bool),
        np.array([UNLIMITED if s.cpu_millis is None else s.cpu_millis for s in sites], dtype=float),
        np.array(
            [UNLIMITED if s.memory_bytes is None else s.memory_bytes for s in sites], dtype=float
        ),
    )
