"""Capacity during planning, as arrays over the fleet.

What every application holds is reserved up front, so one of equal or lower priority
can never take its room; a higher-priority one may (its room includes the
reservations of lower priorities), and then ``preempt`` displaces the lowest-priority
replicas at each site it overdrew until the site fits again.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from edgeplane.placement.fleet import Fleet, Floats, Ints
from edgeplane.placement.model import AppView

EMPTY: tuple[Ints, Ints] = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))


class Ledger:
    def __init__(self, fleet: Fleet, apps: Mapping[str, AppView]) -> None:
        self.fleet, self.apps = fleet, apps
        self.free_cpu = fleet.cpu.copy()
        self.free_memory = fleet.memory.copy()
        self.load = np.zeros(fleet.size, dtype=np.int64)
        """Replicas at each site, of every application."""
        self.levels: dict[int, tuple[Floats, Floats]] = {}
        """Per priority: the cpu and memory its applications hold at each site."""
        self._lower: dict[int, tuple[Floats, Floats]] = {}
        """Per priority p: what all priorities below p hold (kept until one changes)."""
        self.held: dict[str, tuple[Ints, Ints]] = {}
        """Per application: the sites it holds (ascending) and its replicas at each."""
        self._rows: dict[str, int] = {}
        self._names: list[str] = []
        self._bytes = (fleet.size + 7) // 8
        self._holds = np.zeros((len(apps) + 16, self._bytes), dtype=np.uint8)
        """Application (row) x site, one bit each: whether it holds the site. A column
        answers who holds a site when a higher priority needs its room; bits keep it
        small (1,000 applications x 10,000 sites: 1.25 MB)."""

    def _row(self, name: str) -> int:
        row = self._rows.get(name)
        if row is None:
            row = self._rows[name] = len(self._names)
            self._names.append(name)
            if row >= len(self._holds):
                grown = np.zeros((2 * len(self._holds), self._bytes), dtype=np.uint8)
                grown[: len(self._holds)] = self._holds
                self._holds = grown
        return row

    def add(self, name: str, idx: Ints, counts: Ints) -> None:
        self.held[name] = (idx, counts)
        row = self._row(name)  # first: it may grow the matrix
        mask = np.zeros(self.fleet.size, dtype=bool)
        mask[idx] = True
        self._holds[row] = np.packbits(mask)
        self._apply(self.apps[name], idx, counts, 1)

    def remove(self, name: str) -> tuple[Ints, Ints]:
        idx, counts = self.held.pop(name, EMPTY)
        if len(idx):
            self._holds[self._rows[name]] = 0
            if name in self.apps:
                self._apply(self.apps[name], idx, counts, -1)
        return idx, counts

    def forget(self, app: AppView) -> None:
        """An application that is gone (or changed: its old requests are released)."""
        idx, counts = self.held.pop(app.name, EMPTY)
        if len(idx):
            self._holds[self._rows[app.name]] = 0
            self._apply(app, idx, counts, -1)

    def _apply(self, app: AppView, idx: Ints, counts: Ints, sign: int) -> None:
        if app.cpu_millis or app.memory_bytes:
            for p in [p for p in self._lower if p > app.priority]:
                del self._lower[p]
            level = self.levels.get(app.priority)
            if level is None:
                size = self.fleet.size
                level = self.levels[app.priority] = (np.zeros(size), np.zeros(size))
            if app.cpu_millis:
                used = sign * app.cpu_millis * counts
                self.free_cpu[idx] -= used
                level[0][idx] += used
            if app.memory_bytes:
                used = sign * app.memory_bytes * counts
                self.free_memory[idx] -= used
                level[1][idx] += used
        self.load[idx] += sign * counts

    def recount(self, site: int) -> None:
        """The site's capacity changed: what is free is the new capacity less what is held."""
        for k, (capacity, free) in enumerate(
            ((self.fleet.cpu, self.free_cpu), (self.fleet.memory, self.free_memory))
        ):
            held = sum(float(level[k][site]) for level in self.levels.values())
            free[site] = capacity[site] - held

    def preemptible(self, app: AppView) -> bool:
        return any(p < app.priority for p in self.levels)

    def room(self, app: AppView) -> tuple[Floats, Floats]:
        """What ``app`` may use at each site: what is free, and what lower priorities hold
        (its own holding must be removed first)."""
        if not self.preemptible(app):
            return self.free_cpu, self.free_memory
        lower = self._lower.get(app.priority)
        if lower is None:
            below = [level for p, level in self.levels.items() if p < app.priority]
            lower = self._lower[app.priority] = (
                np.sum([c for c, _ in below], axis=0),
                np.sum([m for _, m in below], axis=0),
            )
        return self.free_cpu + lower[0], self.free_memory + lower[1]

    def preempt(self, app: AppView, idx: Ints) -> list[tuple[int, str]]:
        """Displace lower-priority replicas where ``app``'s placement overdrew a site:
        the lowest priority first, then by name. Returns (site, victim) pairs."""
        # Only what the application asks for: a site already overdrawn in memory is no
        # reason for an application that needs only cpu to displace anyone.
        cpu = bool(app.cpu_millis)
        memory = bool(app.memory_bytes)
        over = idx[(cpu & (self.free_cpu[idx] < 0)) | (memory & (self.free_memory[idx] < 0))]
        if not len(over):
            return []
        holders = self._lower_holders(app, over)
        displaced: list[tuple[int, str]] = []
        for site in over.tolist():
            short_cpu = max(0.0, -float(self.free_cpu[site])) if cpu else 0.0
            short_memory = max(0.0, -float(self.free_memory[site])) if memory else 0.0
            for victim in self._choose(site, holders.get(site, []), short_cpu, short_memory):
                displaced.append((site, victim.name))
        # Releases at one site change nothing another site's choice reads: release
        # each victim's sites at once.
        by_victim: dict[str, list[int]] = {}
        for site, name in displaced:
            by_victim.setdefault(name, []).append(site)
        for name, sites in by_victim.items():
            self._release_sites(self.apps[name], np.array(sites, dtype=np.int64))
        return displaced

    def _lower_holders(self, app: AppView, over: Ints) -> dict[int, list[AppView]]:
        """Per site of ``over``: the applications of lower priority holding it."""
        holders: dict[int, list[AppView]] = {}
        apps = [self.apps.get(name) for name in self._names]
        lower = np.array(  # the rows that may lose replicas: only those are read
            [i for i, a in enumerate(apps) if a is not None and a.priority < app.priority],
            dtype=np.int64,
        )
        bits = self._holds[lower[:, None], over >> 3] >> (7 - (over & 7)).astype(np.uint8)
        rows, columns = np.nonzero(bits & 1)
        for row, column in zip(lower[rows].tolist(), columns.tolist(), strict=True):
            victim = apps[row]
            assert victim is not None
            holders.setdefault(int(over[column]), []).append(victim)
        return holders

    def _choose(
        self, site: int, holders: list[AppView], short_cpu: float, short_memory: float
    ) -> list[AppView]:
        """The lowest priorities first until the site fits, then give back those not
        needed after all (the highest priority first): no more is displaced than the
        room asks for."""
        victims = sorted(holders, key=lambda v: (v.priority, v.name))
        chosen: list[tuple[AppView, float, float]] = []
        got_cpu = got_memory = 0.0
        for victim in victims:
            if got_cpu >= short_cpu and got_memory >= short_memory:
                break
            count = self._count_at(victim.name, site)
            chosen.append((victim, victim.cpu_millis * count, victim.memory_bytes * count))
            got_cpu += chosen[-1][1]
            got_memory += chosen[-1][2]
        for item in sorted(chosen, key=lambda c: (-c[0].priority, c[0].name)):
            if got_cpu - item[1] >= short_cpu and got_memory - item[2] >= short_memory:
                chosen.remove(item)
                got_cpu -= item[1]
                got_memory -= item[2]
        return [victim for victim, _, _ in chosen]

    def holders(self, site: int) -> set[str]:
        """The applications holding replicas at ``site`` (one column of the bits)."""
        column = self._holds[: len(self._names), site >> 3] >> np.uint8(7 - (site & 7))
        return {self._names[row] for row in np.flatnonzero(column & 1).tolist()}

    def _release_sites(self, app: AppView, sites: Ints) -> None:
        """Take ``app``'s replicas at ``sites`` off the books."""
        idx, counts = self.held[app.name]
        gone = np.isin(idx, sites)
        mask = np.zeros(self.fleet.size, dtype=bool)
        mask[idx[~gone]] = True
        self._holds[self._rows[app.name]] = np.packbits(mask)
        self._apply(app, idx[gone], counts[gone], -1)
        self.held[app.name] = (idx[~gone], counts[~gone])

    def _count_at(self, name: str, site: int) -> int:
        idx, counts = self.held[name]
        return int(counts[int(np.searchsorted(idx, site))])
