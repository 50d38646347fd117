"""Placement v0: enough to run the first flow; the placement engine replaces it.

A pure function from a ``Snapshot`` to one ``Decision`` per application:

* a site is feasible when every check in ``checks`` passes: selector, siteGroups,
  phase (cordoned; offline for new placements), taints and tolerations, capacity left
  after what this pass placed before, and governance (passed in as ``policy``);
* ``EverySite`` takes every feasible site; ``Replicas`` takes N of them, keeping the
  sites it already holds (no churn), then Online ones, then ones without a
  PreferNoSchedule taint, then the least loaded (fewest replicas of any application,
  held or chosen in this pass), then by name; with ``spread``, each new replica
  goes to the topology domain (say region) that has the fewest;
* applications are placed by priority (high first), then name, so capacity goes to
  the more important ones;
* every site left out is counted under its reason, Nomad-style
  ("2 site(s) did not match the selector"), and ``explain`` gives one site's verdict
  from every check.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace

from edgeplane.api.selectors import Selector
from edgeplane.placement.checks import Trial, verdicts
from edgeplane.placement.feasibility import LabelSets, feasible_sites


@dataclass(frozen=True)
class TaintView:
    key: str
    value: str | None
    effect: str


@dataclass(frozen=True)
class TolerationView:
    key: str | None
    operator: str = "Equal"
    value: str | None = None
    effect: str | None = None


@dataclass(frozen=True)
class SiteView:
    name: str
    labels: Mapping[str, str]
    phase: str | None = None
    unschedulable: bool = False
    cpu_millis: int | None = None
    """Capacity the site reports; None when unknown (no limit is applied)."""
    memory_bytes: int | None = None
    taints: tuple[TaintView, ...] = ()


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
    tolerations: tuple[TolerationView, ...] = ()
    spread: tuple[tuple[str, int], ...] = ()
    """(topologyKey, maxSkew): replicas spread over the key's values."""


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
    preempted: tuple[tuple[str, str], ...] = ()
    """(site, by which application): replicas displaced by a higher priority."""
    preempting: tuple[tuple[str, str], ...] = ()
    """(site, which application): replicas this one displaced."""

    @property
    def unplaced(self) -> int:
        return max(0, self.wanted - len(self.sites))

    def message(self) -> str:
        placed = f"placed {len(self.sites)}/{self.wanted}"
        return "; ".join([placed, *self.reasons])


@dataclass
class Room:
    """What is left of a site's capacity during a pass (None: not limited)."""

    cpu: int | None
    memory: int | None


def _histogram(reasons: Counter[str]) -> tuple[str, ...]:
    return tuple(f"{n} site(s) {why}" for why, n in sorted(reasons.items()))


def _group_rank(app: AppView, groups: Mapping[str, Selector]) -> Callable[[SiteView], int]:
    """The index of the first of the application's siteGroups a site is in."""

    def rank(site: SiteView) -> int:
        return next(
            (i for i, g in enumerate(app.site_groups) if groups[g].matches(site.labels)),
            len(app.site_groups),
        )

    return rank


def _choose(
    app: AppView,
    feasible: list[SiteView],
    current: frozenset[str],
    load: Counter[str],
    groups: Mapping[str, Selector],
) -> list[SiteView]:
    if app.every_site:
        return feasible
    if len(app.site_groups) < 2:
        return _pick(app, feasible, current, load, app.replicas)
    # Ordered siteGroups: fill the first group, overflow to the next. What runs stays
    # wherever it is (no churn), and counts against the replicas first.
    rank = _group_rank(app, groups)
    chosen = [s for s in feasible if s.name in current][: app.replicas]
    tiers: dict[int, list[SiteView]] = {}
    for site in feasible:
        if site.name not in current:
            tiers.setdefault(rank(site), []).append(site)
    for tier in sorted(tiers):
        missing = app.replicas - len(chosen)
        if missing <= 0:
            break
        held = frozenset(s.name for s in chosen)
        picked = _pick(app, [*chosen, *tiers[tier]], held, load, app.replicas)
        chosen += [s for s in picked if s.name not in held][:missing]
    return chosen


def _pick(
    app: AppView, feasible: list[SiteView], current: frozenset[str], load: Counter[str], n: int
) -> list[SiteView]:
    """N sites: held ones first, then Online, then no PreferNoSchedule taint, then the
    least loaded; with ``spread``, each new one in the emptiest domain."""
    ranked = sorted(
        feasible,
        key=lambda s: (
            s.name not in current,
            s.phase != "Online",
            any(t.effect == "PreferNoSchedule" for t in s.taints),
            load[s.name],
            s.name,
        ),
    )
    if not app.spread:
        return ranked[:n]
    return _spread(app, ranked, current)


def _spread(app: AppView, ranked: list[SiteView], current: frozenset[str]) -> list[SiteView]:
    """Keep the sites held (no churn), then add one replica at a time to the topology
    domain that has the fewest, so the skew stays within ``maxSkew`` where the feasible
    sites allow it. A site without a topology key goes last. Sites wait in one queue
    per domain, in rank order, so each pick looks at domains, not at every site."""
    keys = [key for key, _ in app.spread]
    chosen = [s for s in ranked if s.name in current][: app.replicas]
    counts = {key: Counter(s.labels.get(key) for s in chosen) for key in keys}
    rank = {s.name: i for i, s in enumerate(ranked)}
    queues: dict[tuple[str | None, ...], deque[SiteView]] = {}
    for site in ranked:
        if site.name not in current:
            domain = tuple(site.labels.get(key) for key in keys)
            queues.setdefault(domain, deque()).append(site)
    while len(chosen) < app.replicas and queues:
        domain = min(
            queues,
            key=lambda d: (
                [v is None for v in d],
                [counts[k][v] for k, v in zip(keys, d, strict=True)],
                rank[queues[d][0].name],
            ),
        )
        site = queues[domain].popleft()
        if not queues[domain]:
            del queues[domain]
        chosen.append(site)
        for key, value in zip(keys, domain, strict=True):
            counts[key][value] += 1
    return chosen


class _Ledger:
    """Capacity during a pass. What runs now is reserved up front, so an application of
    equal or lower priority can never take its room; a higher-priority one may, and
    the displaced replica is recorded and placed again in its own turn."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.free = {s.name: Room(s.cpu_millis, s.memory_bytes) for s in snapshot.sites}
        apps = {a.name: a for a in snapshot.apps}
        self.reserved: dict[str, list[AppView]] = {}
        for name, sites in snapshot.current.items():
            for site in sites:
                if name in apps and site in self.free:
                    self.reserved.setdefault(site, []).append(apps[name])
                    self._take(site, apps[name], -1)
        self.preempted: dict[str, list[tuple[str, str]]] = {}
        """victim -> [(site, by whom)]"""
        self.preempting: dict[str, list[tuple[str, str]]] = {}

    def _take(self, site: str, app: AppView, sign: int) -> None:
        room = self.free[site]
        room.cpu = None if room.cpu is None else room.cpu + sign * app.cpu_millis
        room.memory = None if room.memory is None else room.memory + sign * app.memory_bytes

    def room_for(self, app: AppView, site: str) -> Room:
        """What ``app`` may use at ``site``: the free room, its own reservation, and the
        reservations of lower-priority applications."""
        room = Room(self.free[site].cpu, self.free[site].memory)
        for holder in self.reserved.get(site, ()):
            if holder is app or holder.priority < app.priority:
                room.cpu = None if room.cpu is None else room.cpu + holder.cpu_millis
                room.memory = None if room.memory is None else room.memory + holder.memory_bytes
        return room

    def settle(self, app: AppView, chosen: list[SiteView]) -> None:
        for name, holders in self.reserved.items():
            if app in holders:
                holders.remove(app)
                self._take(name, app, +1)
        for site in chosen:
            self._take(site.name, app, -1)
            self._preempt(app, site.name)

    def _overdrawn(self, site: str) -> bool:
        room = self.free[site]
        return (room.cpu or 0) < 0 or (room.memory or 0) < 0

    def _preempt(self, app: AppView, site: str) -> None:
        victims = sorted(
            (h for h in self.reserved.get(site, ()) if h.priority < app.priority),
            key=lambda h: (h.priority, h.name),
        )
        while self._overdrawn(site) and victims:
            victim = victims.pop(0)
            self.reserved[site].remove(victim)
            self._take(site, victim, +1)
            self.preempted.setdefault(victim.name, []).append((site, app.name))
            self.preempting.setdefault(app.name, []).append((site, victim.name))


def _held_load(snapshot: Snapshot) -> Counter[str]:
    """Replicas per site before the pass. Applications placed later in the pass hold
    their sites too (they mostly stay), so an early newcomer must not pile onto them
    just because it was placed first."""
    known = {a.name for a in snapshot.apps}
    held = (site for app, sites in snapshot.current.items() if app in known for site in sites)
    return Counter(held)


def _passes(
    snapshot: Snapshot, ledger: _Ledger, explain_sites: tuple[str, ...] = ()
) -> Iterator[tuple[AppView, dict[str, Room], Decision]]:
    """Each application in placement order, with the rooms it saw at ``explain_sites``
    and its decision (preemptions are in ``ledger`` once every application has had
    its turn)."""
    load = _held_load(snapshot)
    sets = LabelSets(snapshot.sites)
    for app in sorted(snapshot.apps, key=lambda a: (-a.priority, a.name)):
        current = snapshot.current.get(app.name, frozenset())
        load.subtract(current)  # its own replicas are decided again now
        seen = {n: ledger.room_for(app, n) for n in explain_sites if n in ledger.free}
        feasible, reasons = feasible_sites(app, snapshot, sets, ledger, current)
        chosen = _choose(app, feasible, current, load, snapshot.groups)
        ledger.settle(app, chosen)
        load.update(s.name for s in chosen)
        wanted = len(chosen) if app.every_site else app.replicas
        names = tuple(sorted(s.name for s in chosen))
        yield app, seen, Decision(app.name, names, wanted, _histogram(reasons))


def place(snapshot: Snapshot) -> dict[str, Decision]:
    ledger = _Ledger(snapshot)
    decisions = [decision for _, _, decision in _passes(snapshot, ledger)]
    return {
        d.app: replace(
            d,
            preempted=tuple(ledger.preempted.get(d.app, ())),
            preempting=tuple(ledger.preempting.get(d.app, ())),
        )
        for d in decisions
    }


@dataclass(frozen=True)
class Explanation:
    decision: Decision
    site: str | None = None
    checks: tuple[tuple[str, str | None], ...] = ()
    """For one site: each check's name and why it failed (None: passed)."""


def explain(snapshot: Snapshot, app_name: str, site_name: str | None = None) -> Explanation:
    """Why ``app_name`` is where it is; with a site, that site's verdict from every
    check, against the capacity left when this application's turn came. KeyError for
    an unknown application or site."""
    wanted = (site_name,) if site_name else ()
    for app, rooms, decision in _passes(snapshot, _Ledger(snapshot), wanted):
        if app.name != app_name:
            continue
        if site_name is None:
            return Explanation(decision)
        site = next((s for s in snapshot.sites if s.name == site_name), None)
        if site is None:
            raise KeyError(site_name)
        held = site.name in snapshot.current.get(app.name, frozenset())
        trial = Trial(app, site, rooms[site.name], held, snapshot)
        return Explanation(decision, site.name, tuple(verdicts(trial)))
    raise KeyError(app_name)
