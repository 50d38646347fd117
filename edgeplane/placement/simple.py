"""Placement v0: enough to run the first flow; the placement engine replaces it.

A pure function from a ``Snapshot`` to one ``Decision`` per application:

* a site is feasible when every check in ``checks`` passes: selector, siteGroups,
  phase (cordoned; offline for new placements), taints and tolerations, capacity left
  after what this pass placed before, and governance (passed in as ``policy``);
* ``EverySite`` takes every feasible site; ``Replicas`` takes N of them, keeping the
  sites it already holds (no churn), then Online ones, then ones without a
  PreferNoSchedule taint, then the least loaded; with ``spread``, each new replica
  goes to the topology domain (say region) that has the fewest;
* applications are placed by priority (high first), then name, so capacity goes to
  the more important ones;
* every site left out is counted under its reason, Nomad-style
  ("2 site(s) did not match the selector"), and ``explain`` gives one site's verdict
  from every check.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from edgeplane.api.selectors import Selector
from edgeplane.placement.checks import Trial, reject, verdicts


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


def _choose(
    app: AppView, feasible: list[SiteView], current: frozenset[str], load: Counter[str]
) -> list[SiteView]:
    if app.every_site:
        return feasible
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
        return ranked[: app.replicas]
    return _spread(app, ranked, current)


def _spread(app: AppView, ranked: list[SiteView], current: frozenset[str]) -> list[SiteView]:
    """Keep the sites held (no churn), then add one replica at a time to the topology
    domain that has the fewest, so the skew stays within ``maxSkew`` where the feasible
    sites allow it. A site without a topology key goes last."""
    chosen = [s for s in ranked if s.name in current][: app.replicas]
    counts = {key: Counter(s.labels.get(key) for s in chosen) for key, _ in app.spread}
    rest = [s for s in ranked if s.name not in current]
    while len(chosen) < app.replicas and rest:
        best = min(
            range(len(rest)),
            key=lambda i: (
                [rest[i].labels.get(k) is None for k, _ in app.spread],
                [counts[k][rest[i].labels.get(k)] for k, _ in app.spread],
                i,
            ),
        )
        site = rest.pop(best)
        chosen.append(site)
        for key, _ in app.spread:
            counts[key][site.labels.get(key)] += 1
    return chosen


def _passes(snapshot: Snapshot) -> Iterator[tuple[AppView, dict[str, Room], Decision]]:
    """Each application in placement order, with the rooms it saw and its decision."""
    rooms = {s.name: Room(s.cpu_millis, s.memory_bytes) for s in snapshot.sites}
    load: Counter[str] = Counter()
    for app in sorted(snapshot.apps, key=lambda a: (-a.priority, a.name)):
        current = snapshot.current.get(app.name, frozenset())
        seen = {name: Room(r.cpu, r.memory) for name, r in rooms.items()}
        feasible, reasons = [], Counter[str]()
        for site in snapshot.sites:
            trial = Trial(app, site, rooms[site.name], site.name in current, snapshot)
            if why := reject(trial):
                reasons[why] += 1
            else:
                feasible.append(site)
        chosen = _choose(app, feasible, current, load)
        for site in chosen:
            room = rooms[site.name]
            room.cpu = None if room.cpu is None else room.cpu - app.cpu_millis
            room.memory = None if room.memory is None else room.memory - app.memory_bytes
            load[site.name] += 1
        wanted = len(chosen) if app.every_site else app.replicas
        names = tuple(sorted(s.name for s in chosen))
        yield app, seen, Decision(app.name, names, wanted, _histogram(reasons))


def place(snapshot: Snapshot) -> dict[str, Decision]:
    return {decision.app: decision for _, _, decision in _passes(snapshot)}


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
    for app, rooms, decision in _passes(snapshot):
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
