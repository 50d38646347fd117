"""What placement reads and what it decides: frozen views of sites and applications,
the snapshot they make together, and one ``Decision`` per application.

``views`` builds these from wire objects; tests and benchmarks build them directly.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from edgeplane.api.selectors import Selector
from edgeplane.api.sites import SitePhase

MAX_REPLICAS = 2**31 - 1
"""The most replicas the engine places for one application (the API's int32 bound);
a count above it, from an object no API checked, is taken as this."""


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
    phase: SitePhase | None = None
    """None: unknown (never reported, or a phase this hub does not know)."""
    unschedulable: bool = False
    cpu_millis: int | None = None
    """Capacity the site reports; None when unknown (no limit is applied)."""
    memory_bytes: int | None = None
    taints: tuple[TaintView, ...] = ()
    location: tuple[float, float] | None = None
    """(lat, lon) in degrees."""
    devices: tuple[Mapping[str, str], ...] = ()
    """The labels of each available device at the site."""
    runtimes: tuple[str, ...] = ("process",)
    """What the site can run (``process``, ``kubernetes``)."""
    declared_runtimes: tuple[str, ...] = ()
    """What the site declares, when its agent reports running less (else empty): the
    runtime check says which of the two stopped a workload."""
    reported_runtimes: tuple[str, ...] = ()
    """What the site's agent reports it runs, set with ``declared_runtimes``."""


@dataclass(frozen=True)
class Spread:
    """Replicas spread over the values of ``key`` (say region): no domain more than
    ``max_skew`` ahead of another that still has room, in at least ``min_groups`` and
    at most ``max_groups`` domains."""

    key: str
    max_skew: int = 1
    min_groups: int | None = None
    max_groups: int | None = None


@dataclass(frozen=True)
class DeviceNeed:
    selector: Selector
    count: int = 1


@dataclass(frozen=True)
class Locality:
    """Nearness to a point, or to the nearest site of a SiteGroup; beyond
    ``max_km`` a site is not feasible."""

    point: tuple[float, float] | None = None
    site_group: str | None = None
    max_km: float | None = None


@dataclass(frozen=True)
class Weights:
    """How much each scorer counts when choosing among feasible sites."""

    balance: float = 1.0
    """Least allocated: the share of capacity left after placing."""
    locality: float = 1.0
    stickiness: float = 100.0
    """Keep the sites held now: the default outweighs everything else, so a replica
    moves only when a hard constraint or the spread says so."""


@dataclass(frozen=True)
class StaticWeight:
    """Divided replicas in proportion to ``weight`` at the sites of ``site_group``, or
    those ``selector`` matches."""

    weight: int
    selector: Selector = field(default_factory=Selector)
    site_group: str | None = None


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
    spread: tuple[Spread, ...] = ()
    devices: tuple[DeviceNeed, ...] = ()
    divided: bool = False
    """Replicas mode: divide ``replicas`` across sites (several per site) instead of
    one on each of N sites (Duplicated)."""
    static_weights: tuple[StaticWeight, ...] = ()
    """Divided by these weights; without them, by how many replicas each site can take."""
    max_per_site: int | None = None
    """Divided only: no site gets more replicas than this (part of each site's room, so
    what one site cannot take goes to the others, or stays unplaced); None: no cap."""
    locality: Locality | None = None
    weights: Weights = Weights()
    runtime: str = "process"
    """What runs the workload: ``process`` or ``kubernetes``."""


class Policies(Protocol):
    """Governance as placement asks it; the hub passes its verdicts in.

    ``verdicts`` answers for an application and each of a list of site label sets (the
    same list object while the fleet's label sets do not change): why policy excludes
    such sites (or None), and whether a site the application runs at already may keep
    it (``onViolation: Report``). ``reason`` applies governance's rule to one verdict,
    for a site held or not (``governance.policies.policy_reason``: placement may not
    import governance, so the rule comes with the verdicts). ``key`` names what of the
    application the verdicts depend on: applications with equal keys get equal
    verdicts, so they are asked for once. ``version`` changes when the policies do."""

    @property
    def version(self) -> Hashable: ...

    def key(self, app: AppView) -> Hashable: ...

    def verdicts(
        self, app: AppView, label_sets: Sequence[Mapping[str, str]]
    ) -> Sequence[tuple[str | None, bool]]: ...

    def reason(self, verdict: tuple[str | None, bool], held: bool) -> str | None: ...


class NoPolicies:
    """No policies: nothing excluded. (A subclass that excludes answers ``reason`` with
    governance's rule too.)"""

    @property
    def version(self) -> Hashable:
        return ()

    def key(self, app: AppView) -> Hashable:
        return None

    def verdicts(
        self, app: AppView, label_sets: Sequence[Mapping[str, str]]
    ) -> Sequence[tuple[str | None, bool]]:
        return [(None, False)] * len(label_sets)

    def reason(self, verdict: tuple[str | None, bool], held: bool) -> str | None:
        return None


Holding = Mapping[str, int] | Iterable[str]
"""Where an application runs now: site -> replicas, or just the sites (one each)."""


@dataclass(frozen=True)
class Snapshot:
    apps: tuple[AppView, ...]
    sites: tuple[SiteView, ...]
    groups: Mapping[str, Selector]
    current: Mapping[str, Holding]
    """Where each application runs now."""
    policy: Policies = field(default_factory=NoPolicies)
    waiting: Mapping[str, frozenset[str]] = field(default_factory=dict)
    """Offline sites whose replicas of an application stay where they are until its
    failover comes due (``health.failover``): by application name."""
    avoiding: Mapping[str, frozenset[str]] = field(default_factory=dict)
    """Sites where an application's instance stayed unhealthy past its
    ``failover.unhealthyAfterSeconds``: it is placed elsewhere for a while."""


def holding(held: Holding) -> dict[str, int]:
    if isinstance(held, Mapping):
        return {site: min(max(int(n), 0), MAX_REPLICAS) for site, n in held.items()}
    return dict.fromkeys(held, 1)


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
    counts: tuple[int, ...] = ()
    """Replicas at each of ``sites`` (Divided); empty means one each."""

    def parts(self) -> Iterator[tuple[str, int]]:
        """Each site and its replicas there."""
        return zip(self.sites, self.counts or (1,) * len(self.sites), strict=True)

    def replicas_at(self, site: str) -> int:
        return dict(self.parts()).get(site, 0)

    @property
    def placed(self) -> int:
        return sum(self.counts) if self.counts else len(self.sites)

    @property
    def unplaced(self) -> int:
        return max(0, self.wanted - self.placed)

    def message(self) -> str:
        placed = f"placed {self.placed}/{self.wanted}"
        return "; ".join([placed, *self.reasons])
