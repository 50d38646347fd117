"""Placement v0: enough to run the first flow; the placement engine replaces it.

A pure function from a ``Snapshot`` to one ``Decision`` per application:

* a site is feasible when it matches the application's selector and (when
  ``siteGroups`` are named) one of those groups, is not cordoned or unschedulable,
  and has room for the requests left after what this pass placed before;
* ``EverySite`` takes every feasible site; ``Replicas`` takes N of them, keeping the
  sites it already holds (no churn), then Online ones, then the least loaded;
* applications are placed by priority (high first), then name, so capacity goes to
  the more important ones;
* every site left out is counted under its reason, Nomad-style
  ("2 site(s) did not match the selector").
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from edgeplane.api.selectors import Selector


@dataclass(frozen=True)
class SiteView:
    name: str
    labels: Mapping[str, str]
    phase: str | None = None
    unschedulable: bool = False
    cpu_millis: int | None = None
    """Capacity the site reports; None when unknown (no limit is applied)."""
    memory_bytes: int | None = None


@dataclass(frozen=True)
class AppView:
    name: str
    every_site: bool
    replicas: int = 0
    selector: Selector = field(default_factory=Selector)
    site_groups: tuple[str, ...] = ()
    priority: int = 0
    cpu_millis: int = 0
    memory_bytes: int = 0


PolicyCheck = Callable[[AppView, SiteView, bool], str | None]
"""(application, site, whether it runs there now) -> why policy excludes the site, or
None. Governance lives in its own package; the caller passes its verdicts in."""


def _no_policies(app: AppView, site: SiteView, held: bool) -> str | None:
    return None


@dataclass(frozen=True)
class Snapshot:
    apps: tuple[AppView, ...]
    sites: tuple[SiteView, ...]
    groups: Mapping[str, Selector]
    current: Mapping[str, frozenset[str]]
    """Where each application runs now (application -> sites)."""
    policy: PolicyCheck = _no_policies


@dataclass(frozen=True)
class Decision:
    app: str
    sites: tuple[str, ...]
    wanted: int
    reasons: tuple[str, ...] = ()

    @property
    def unplaced(self) -> int:
        return max(0, self.wanted - len(self.sites))

    def message(self) -> str:
        placed = f"placed {len(self.sites)}/{self.wanted}"
        return "; ".join([placed, *self.reasons])


@dataclass
class _Room:
    cpu: int | None
    memory: int | None


def _reject(app: AppView, site: SiteView, snapshot: Snapshot, room: _Room) -> str | None:
    """Why ``site`` cannot take ``app``, or None; cheapest checks first, policy last."""
    groups = snapshot.groups
    if not app.selector.matches(site.labels):
        return "did not match the selector"
    if app.site_groups:
        missing = [g for g in app.site_groups if g not in groups]
        if missing:
            return f"siteGroup {missing[0]} does not exist"
        if not any(groups[g].matches(site.labels) for g in app.site_groups):
            return "are in none of the siteGroups"
    if site.unschedulable or site.phase == "Cordoned":
        return "are cordoned"
    if room.cpu is not None and app.cpu_millis > room.cpu:
        return "had too little cpu left"
    if room.memory is not None and app.memory_bytes > room.memory:
        return "had too little memory left"
    held = site.name in snapshot.current.get(app.name, frozenset())
    return snapshot.policy(app, site, held)


def _histogram(reasons: Counter[str]) -> tuple[str, ...]:
    return tuple(f"{n} site(s) {why}" for why, n in sorted(reasons.items()))


def _choose(
    app: AppView, feasible: list[SiteView], current: frozenset[str], load: Counter[str]
) -> list[SiteView]:
    if app.every_site:
        return feasible
    ranked = sorted(
        feasible,
        key=lambda s: (s.name not in current, s.phase != "Online", load[s.name], s.name),
    )
    return ranked[: app.replicas]


def place(snapshot: Snapshot) -> dict[str, Decision]:
    rooms = {s.name: _Room(s.cpu_millis, s.memory_bytes) for s in snapshot.sites}
    load: Counter[str] = Counter()
    decisions: dict[str, Decision] = {}
    for app in sorted(snapshot.apps, key=lambda a: (-a.priority, a.name)):
        feasible, reasons = [], Counter[str]()
        for site in snapshot.sites:
            why = _reject(app, site, snapshot, rooms[site.name])
            if why:
                reasons[why] += 1
            else:
                feasible.append(site)
        chosen = _choose(app, feasible, snapshot.current.get(app.name, frozenset()), load)
        for site in chosen:
            room = rooms[site.name]
            room.cpu = None if room.cpu is None else room.cpu - app.cpu_millis
            room.memory = None if room.memory is None else room.memory - app.memory_bytes
            load[site.name] += 1
        wanted = len(chosen) if app.every_site else app.replicas
        names = tuple(sorted(s.name for s in chosen))
        decisions[app.name] = Decision(app.name, names, wanted, _histogram(reasons))
    return decisions
