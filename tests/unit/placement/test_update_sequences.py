"""Sequences of changes through ``Planner.update``: after every step the incremental
result keeps every hard constraint, the ledger's accounting matches what it holds,
preemption events are told once, and nothing is left short that a fresh planner,
given the same snapshot, places fully.

The snapshots share one policy object, as the hub's controller does (its
``PolicyGate``): a new policy object is a policy change and places everything again.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Mapping, Sequence

import numpy as np
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from edgeplane.api.selectors import Selector, parse_selector
from edgeplane.api.sites import SitePhase
from edgeplane.placement.model import (
    AppView,
    Decision,
    DeviceNeed,
    Locality,
    SiteView,
    Snapshot,
    Spread,
    StaticWeight,
    TaintView,
    TolerationView,
    holding,
)
from edgeplane.placement.planner import Planner
from tests.unit.placement.test_engine_properties import DenyR3

POLICY = DenyR3()
NO_EXECUTE = TaintView("maint", None, "NoExecute")
NO_SCHEDULE = TaintView("gpu", None, "NoSchedule")
CAMERA = {"kind": "camera"}
NEAR = Locality(point=(45.0, 5.0), max_km=300.0)
GROUPS_A = {"first": parse_selector("region=r1"), "second": parse_selector("region=r2")}
GROUPS_B = {"first": parse_selector("region=r2"), "second": parse_selector("tier=cloud")}


def site(name: str, region: str = "r1", **kw: object) -> SiteView:
    return SiteView(name, {"region": region, "tier": "edge"}, SitePhase.ONLINE, **kw)  # type: ignore[arg-type]


def snap(
    apps: Sequence[AppView],
    sites: Sequence[SiteView],
    current: Mapping[str, Mapping[str, int]],
    groups: Mapping[str, Selector] | None = None,
    waiting: Mapping[str, frozenset[str]] | None = None,
    avoiding: Mapping[str, frozenset[str]] | None = None,
) -> Snapshot:
    return Snapshot(
        tuple(apps),
        tuple(sites),
        dict(groups or {}),
        dict(current),
        POLICY,
        dict(waiting or {}),
        dict(avoiding or {}),
    )


# -- an independent reading of the constraints ----------------------------------------


def distance_ok(app: AppView, s: SiteView) -> bool:
    if app.locality is None or app.locality.max_km is None:
        return True
    assert app.locality.point is not None
    if s.location is None:
        return False
    (lat1, lon1), (lat2, lon2) = (np.radians(p) for p in (app.locality.point, s.location))
    h = (
        np.sin((lat2 - lat1) / 2) ** 2
        + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    )
    return float(2 * 6371.0 * np.arcsin(np.sqrt(min(1.0, h)))) <= app.locality.max_km + 1e-6


def violations(snapshot: Snapshot, decisions: Mapping[str, Decision]) -> list[str]:
    """Every hard constraint the decisions break, as text ([] when none). ``held`` is
    the snapshot's ``current``: what ran before this pass."""
    by_name = {s.name: s for s in snapshot.sites}
    found: list[str] = []
    cpu: Counter[str] = Counter()
    memory: Counter[str] = Counter()
    if set(decisions) != {a.name for a in snapshot.apps}:
        found.append(f"decisions for {sorted(decisions)}, apps {[a.name for a in snapshot.apps]}")
    for app in snapshot.apps:
        decision = decisions.get(app.name)
        if decision is None:
            continue
        held = holding(snapshot.current.get(app.name, ()))
        bad = [] if app.every_site or decision.placed <= app.replicas else ["too many replicas"]
        for name in decision.sites:
            s = by_name.get(name)
            if s is None:
                found.append(f"{app.name} at {name}, which is not in the fleet")
                continue
            was = name in held
            if not app.selector.matches(s.labels):
                bad.append(f"selector excludes {name}")
            if app.site_groups and not any(
                g in snapshot.groups and snapshot.groups[g].matches(s.labels)
                for g in app.site_groups
            ):
                bad.append(f"{name} is in none of the siteGroups")
            if s.phase == SitePhase.CORDONED or s.unschedulable:
                bad.append(f"{name} is cordoned")
            waits = name in snapshot.waiting.get(app.name, ())
            if s.phase == SitePhase.OFFLINE and not ((app.every_site or waits) and was):
                bad.append(f"{name} is offline")
            if name in snapshot.avoiding.get(app.name, ()):
                bad.append(f"{name} is avoided: an instance stayed unhealthy there")
            for t in s.taints:
                if t.effect == "PreferNoSchedule" or any(
                    x.key == t.key or (x.key is None and x.operator == "Exists")
                    for x in app.tolerations
                ):
                    continue
                if t.effect == "NoExecute" or not was:
                    bad.append(f"{name} has untolerated {t.key}:{t.effect}")
            for need in app.devices:
                if sum(1 for d in s.devices if need.selector.matches(d)) < need.count:
                    bad.append(f"{name} lacks devices")
            cap = app.max_per_site if app.divided else None
            if cap is not None and decision.replicas_at(name) > cap:
                bad.append(f"{name} has more than maxPerSite {cap}")
            if not distance_ok(app, s):
                bad.append(f"{name} is beyond maxDistanceKm")
            if s.labels.get("region") == "r3" and not (POLICY.report and was):
                bad.append(f"{name} is denied by policy")
            cpu[name] += app.cpu_millis * decision.replicas_at(name)
            memory[name] += app.memory_bytes * decision.replicas_at(name)
        found += [f"{app.name}: {b}" for b in bad]
    for name in cpu.keys() | memory.keys():
        s = by_name.get(name)
        if s is None:
            continue
        if s.cpu_millis is not None and cpu[name] > s.cpu_millis:
            found.append(f"{name}: cpu {cpu[name]} > {s.cpu_millis}")
        if s.memory_bytes is not None and memory[name] > s.memory_bytes:
            found.append(f"{name}: memory {memory[name]} > {s.memory_bytes}")
    return found


def ledger_problems(planner: Planner) -> list[str]:
    """The ledger against what it says it holds and against the decisions."""
    ledger, fleet = planner.ledger, planner.fleet
    found: list[str] = []
    cpu = fleet.cpu.copy()
    memory = fleet.memory.copy()
    load = np.zeros(fleet.size, dtype=np.int64)
    bits = np.unpackbits(ledger._holds, axis=1)[:, : fleet.size].astype(bool)
    rows = dict(ledger._rows)
    for name, (idx, counts) in ledger.held.items():
        app = planner.apps.get(name)
        if app is None:
            found.append(f"the ledger holds {name}, which is gone")
            continue
        cpu[idx] -= app.cpu_millis * counts
        memory[idx] -= app.memory_bytes * counts
        load[idx] += counts
        if len(idx) and not np.all(np.diff(idx) > 0):
            found.append(f"{name}: held sites not ascending {idx.tolist()}")
        mask = np.zeros(fleet.size, dtype=bool)
        mask[idx] = True
        if name in rows and not np.array_equal(bits[rows[name]], mask):
            found.append(f"{name}: bits {bits[rows[name]].tolist()} but holds {idx.tolist()}")
        decision = planner.decisions.get(name)
        if decision is not None:
            wanted = {s: decision.replicas_at(s) for s in decision.sites}
            has = dict(zip(fleet.name_array[idx].tolist(), counts.tolist(), strict=True))
            if wanted != has:
                found.append(f"{name}: ledger holds {has}, decided {wanted}")
    for name, row in rows.items():
        if name not in ledger.held and bits[row].any():
            found.append(f"{name}: bits set without a holding")
    for name, decision in planner.decisions.items():
        if decision.sites and name not in ledger.held:
            found.append(f"{name}: decided {decision.sites}, the ledger holds nothing")
    if not np.allclose(ledger.free_cpu, cpu, equal_nan=True):
        found.append(f"free cpu {ledger.free_cpu.tolist()} != {cpu.tolist()}")
    if not np.allclose(ledger.free_memory, memory, equal_nan=True):
        found.append(f"free memory {ledger.free_memory.tolist()} != {memory.tolist()}")
    if not np.array_equal(ledger.load, load):
        found.append(f"load {ledger.load.tolist()} != {load.tolist()}")
    return found


# -- the state machine ----------------------------------------------------------------

NAMES = [f"s{i}" for i in range(5)]
APPS = [f"a{i}" for i in range(4)]


@st.composite
def site_views(draw: st.DrawFn, name: str) -> SiteView:
    return SiteView(
        name,
        {
            "region": draw(st.sampled_from(["r1", "r1", "r2", "r3"])),
            "tier": draw(st.sampled_from(["edge", "cloud"])),
        },
        draw(
            st.sampled_from(
                [
                    SitePhase.ONLINE,
                    SitePhase.ONLINE,
                    SitePhase.ONLINE,
                    SitePhase.PENDING,
                    SitePhase.OFFLINE,
                    SitePhase.CORDONED,
                ]
            )
        ),
        cpu_millis=draw(st.sampled_from([None, 500, 1000, 2000])),
        memory_bytes=draw(st.sampled_from([None, None, 2**30])),
        taints=tuple(draw(st.lists(st.sampled_from([NO_EXECUTE, NO_SCHEDULE]), max_size=1))),
        location=draw(st.sampled_from([None, (45.0, 5.0), (45.5, 5.5), (52.0, 13.0)])),
        devices=tuple(draw(st.lists(st.just(CAMERA), max_size=1))),
    )


@st.composite
def app_views(draw: st.DrawFn, name: str) -> AppView:
    mode = draw(st.sampled_from(["every", "duplicated", "duplicated", "divided"]))
    divided = mode == "divided"
    return AppView(
        name,
        every_site=mode == "every",
        replicas=draw(st.integers(0, 5)),
        selector=parse_selector(draw(st.sampled_from(["", "", "tier=edge"]))),
        site_groups=draw(st.sampled_from([(), (), ("first",), ("first", "second")])),
        priority=draw(st.integers(0, 2)),
        cpu_millis=draw(st.sampled_from([0, 300, 500, 700])),
        memory_bytes=draw(st.sampled_from([0, 0, 2**28])),
        tolerations=tuple(
            draw(st.lists(st.sampled_from([TolerationView("gpu", "Exists")]), max_size=1))
        ),
        spread=draw(st.sampled_from([(), (), (Spread("region"),)])),
        devices=draw(st.sampled_from([(), (), (DeviceNeed(parse_selector("kind=camera")),)])),
        divided=divided,
        static_weights=(
            draw(st.sampled_from([(), (StaticWeight(2, site_group="first"), StaticWeight(1))]))
            if divided
            else ()
        ),
        max_per_site=draw(st.sampled_from([None, 1, 2])) if divided else None,
        locality=draw(st.sampled_from([None, None, NEAR])),
    )


class UpdateSequences(RuleBasedStateMachine):
    """A fleet and its applications, changed a little at a time; after each change
    the planner is updated with what its last decisions made run (or, in the
    ``current`` rule, with something else running)."""

    disabled: frozenset[str] = frozenset()
    """Rules left out (none: every change keeps the hard constraints)."""
    disabled_short: frozenset[str] = frozenset()
    """Changes after which a short application is not compared with a fresh plan
    (none: the planner tries what is short again whenever room may have grown)."""

    def __init__(self) -> None:
        super().__init__()
        self.sites: dict[str, SiteView] = {}
        self.apps: dict[str, AppView] = {}
        self.removed_apps: dict[str, AppView] = {}
        self.removed_sites: dict[str, SiteView] = {}
        self.groups: dict[str, Selector] = dict(GROUPS_A)
        self.planner: Planner
        self.snapshot: Snapshot
        self.log: list[str] = []
        self.kind = ""
        self.excused = False
        self.waiting: dict[str, frozenset[str]] = {}
        self.avoiding: dict[str, frozenset[str]] = {}

    def _snapshot(self, current: Mapping[str, Mapping[str, int]] | None = None) -> Snapshot:
        return snap(
            [self.apps[n] for n in sorted(self.apps)],
            [self.sites[n] for n in sorted(self.sites)],
            self.planner.running() if current is None else current,
            self.groups,
            self.waiting,
            self.avoiding,
        )

    @initialize(data=st.data())
    def start(self, data: st.DataObject) -> None:
        count = data.draw(st.integers(1, len(NAMES)))
        self.sites = {n: data.draw(site_views(n)) for n in NAMES[:count]}
        napps = data.draw(st.integers(1, len(APPS)))
        self.apps = {n: data.draw(app_views(n)) for n in APPS[:napps]}
        sites = [self.sites[n] for n in sorted(self.sites)]
        self.snapshot = snap(list(self.apps.values()), sites, {}, self.groups)
        self.planner = Planner(self.snapshot)

    def _update(
        self, kind: str, what: str, current: Mapping[str, Mapping[str, int]] | None = None
    ) -> None:
        self.kind = kind
        self.log.append(f"{kind}: {what}")
        self.snapshot = self._snapshot(current)
        self.planner.update(self.snapshot)
        self._check()

    def _check(self) -> None:
        decisions = self.planner.decisions
        assert violations(self.snapshot, decisions) == [], self.log
        assert ledger_problems(self.planner) == [], self.log
        fresh = Planner(self.snapshot)
        assert violations(self.snapshot, fresh.decisions) == []
        short = {
            n: (d.placed, fresh.decisions[n].placed)
            for n, d in decisions.items()
            if d.unplaced and not fresh.decisions[n].unplaced
        }
        # once a known miss left an application short, later steps may keep it so
        self.excused = self.excused or self.kind in self.disabled_short
        if not self.excused:
            assert not short, (short, self.log)

    # -- application changes ----------------------------------------------------------

    @rule(name=st.sampled_from(APPS), priority=st.integers(0, 2))
    def app_priority(self, name: str, priority: int) -> None:
        if "app_priority" in self.disabled:
            return
        if name in self.apps:
            self.apps[name] = dataclasses.replace(self.apps[name], priority=priority)
            self._update("app_priority", f"{name} priority {priority}")

    @rule(name=st.sampled_from(APPS), cpu=st.sampled_from([0, 300, 500, 700, 1200]))
    def app_requests(self, name: str, cpu: int) -> None:
        if "app_requests" in self.disabled:
            return
        if name in self.apps:
            self.apps[name] = dataclasses.replace(self.apps[name], cpu_millis=cpu)
            self._update("app_requests", f"{name} cpu {cpu}")

    @rule(name=st.sampled_from(APPS), replicas=st.integers(0, 5))
    def app_replicas(self, name: str, replicas: int) -> None:
        if "app_replicas" in self.disabled:
            return
        if name in self.apps:
            self.apps[name] = dataclasses.replace(self.apps[name], replicas=replicas)
            self._update("app_replicas", f"{name} replicas {replicas}")

    @rule(name=st.sampled_from(APPS), data=st.data())
    def app_added_or_removed(self, name: str, data: st.DataObject) -> None:
        if "app_added_or_removed" in self.disabled:
            return
        if name in self.apps and len(self.apps) > 1:
            self.removed_apps[name] = self.apps.pop(name)
            self._update("app_added_or_removed", f"{name} removed")
        elif name not in self.apps:
            back = self.removed_apps.pop(name, None) or data.draw(app_views(name))
            self.apps[name] = back
            self._update("app_added_or_removed", f"{name} added: {back}")

    # -- site changes -----------------------------------------------------------------

    @rule(name=st.sampled_from(NAMES), cpu=st.sampled_from([None, 300, 500, 1000, 2000, 4000]))
    def site_capacity(self, name: str, cpu: int | None) -> None:
        if "site_capacity" in self.disabled:
            return
        if name in self.sites:
            was = self.sites[name].cpu_millis
            grows = cpu is None or (was is not None and cpu > was)
            if grows and "site_grow" in self.disabled:
                return
            self.sites[name] = dataclasses.replace(self.sites[name], cpu_millis=cpu)
            self._update("site_capacity", f"{name} cpu {cpu}")

    @rule(
        name=st.sampled_from(NAMES),
        phase=st.sampled_from(
            [SitePhase.ONLINE, SitePhase.PENDING, SitePhase.OFFLINE, SitePhase.CORDONED]
        ),
    )
    def site_phase(self, name: str, phase: SitePhase) -> None:
        if "site_phase" in self.disabled:
            return
        if name in self.sites:
            self.sites[name] = dataclasses.replace(self.sites[name], phase=phase)
            self._update("site_phase", f"{name} {phase}")

    @rule(name=st.sampled_from(NAMES))
    def site_removed(self, name: str) -> None:
        if "site_removed" in self.disabled:
            return
        if name in self.sites and len(self.sites) > 1:
            self.removed_sites[name] = self.sites.pop(name)
            self._update("site_removed", f"{name} removed")

    @rule(name=st.sampled_from(NAMES), data=st.data())
    def site_added(self, name: str, data: st.DataObject) -> None:
        if "site_added" in self.disabled:
            return
        if name not in self.sites:
            back = self.removed_sites.pop(name) if name in self.removed_sites else None
            self.sites[name] = back or data.draw(site_views(name))
            self._update("site_added", f"{name} added: {self.sites[name]}")

    @rule(name=st.sampled_from(NAMES), data=st.data())
    def site_structure(self, name: str, data: st.DataObject) -> None:
        """Labels, taints, location or devices: the fleet arrays are built again."""
        if "site_structure" in self.disabled:
            return
        if name in self.sites:
            fresh = data.draw(site_views(name))
            self.sites[name] = dataclasses.replace(
                self.sites[name],
                labels=fresh.labels,
                taints=fresh.taints,
                location=fresh.location,
                devices=fresh.devices,
            )
            self._update("site_structure", f"{name} structure {self.sites[name]}")

    @rule()
    def site_groups(self) -> None:
        if "site_groups" in self.disabled:
            return
        self.groups = dict(GROUPS_B if self.groups == GROUPS_A else GROUPS_A)
        self._update("site_groups", f"groups {self.groups}")

    # -- what runs ----------------------------------------------------------------------

    @rule(name=st.sampled_from(APPS))
    def current_differs(self, name: str) -> None:
        """One assignment deleted by hand (or a write that failed)."""
        if "current_differs" in self.disabled:
            return
        running = self.planner.running()
        held = running.get(name)
        if held:
            running[name] = dict(list(held.items())[1:])
            self._update("current_differs", f"{name} loses {next(iter(held))} by hand", running)

    @rule(name=st.sampled_from(APPS), at=st.sampled_from(NAMES))
    def waits_for_failover(self, name: str, at: str) -> None:
        """Replicas at a site begin or stop waiting there for failover (the controller
        names only offline sites; any site must be safe)."""
        if "waits_for_failover" in self.disabled:
            return
        self.waiting = _toggled(self.waiting, name, at)
        self._update("waits_for_failover", f"{name} waiting at {self.waiting.get(name)}")

    @rule(name=st.sampled_from(APPS), at=st.sampled_from(NAMES))
    def avoids_a_site(self, name: str, at: str) -> None:
        """An application begins or stops avoiding a site (an unhealthy instance)."""
        if "avoids_a_site" in self.disabled:
            return
        self.avoiding = _toggled(self.avoiding, name, at)
        self._update("avoids_a_site", f"{name} avoiding {self.avoiding.get(name)}")

    @rule()
    def nothing_changed(self) -> None:
        """An update without a change: no one moves, and last pass's events are gone."""
        if "nothing_changed" in self.disabled:
            return
        before = dict(self.planner.decisions)
        self._update("nothing_changed", "nothing")
        for name, decision in self.planner.decisions.items():
            assert not decision.preempted and not decision.preempting, (name, self.log)
            assert decision == dataclasses.replace(before[name], preempted=(), preempting=())

    @invariant()
    def events_name_real_applications(self) -> None:
        if not hasattr(self, "planner"):
            return
        for name, decision in self.planner.decisions.items():
            for _site, other in (*decision.preempted, *decision.preempting):
                assert other in self.planner.apps and other != name
                assert self.planner.apps[other].priority != self.planner.apps[name].priority
            for s, by in decision.preempted:
                assert self.planner.apps[by].priority > self.planner.apps[name].priority
                assert (s, name) in self.planner.decisions[by].preempting
            assert len(decision.preempted) == len(set(decision.preempted))


def _toggled(sets: Mapping[str, frozenset[str]], name: str, at: str) -> dict[str, frozenset[str]]:
    found = dict(sets)
    found[name] = found.get(name, frozenset()) ^ {at}
    if not found[name]:
        del found[name]
    return found


UpdateSequences.TestCase.settings = settings(
    max_examples=100,
    stateful_step_count=10,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
)
test_update_sequences = UpdateSequences.TestCase


# -- what the sequences found, each as its smallest example ---------------------------


def updated(
    planner: Planner, apps: Sequence[AppView], sites: Sequence[SiteView], **kw: object
) -> Planner:
    planner.update(snap(apps, sites, planner.running(), **kw))  # type: ignore[arg-type]
    return planner


def test_a_divided_application_short_at_a_site_that_grows_takes_the_room() -> None:
    app = AppView("batch", False, 4, divided=True, cpu_millis=500)
    planner = Planner(snap([app], [site("s", cpu_millis=1000)], {}))
    assert planner.decisions["batch"].counts == (2,)
    grown = [site("s", cpu_millis=4000)]
    updated(planner, [app], grown)
    assert Planner(snap([app], grown, planner.running())).decisions["batch"].counts == (4,)
    assert planner.decisions["batch"].counts == (4,)  # stays (2,): placed 2/4


def test_a_structural_change_no_execute_taint_sends_replicas_away() -> None:
    app = AppView("web", False, 1)
    planner = Planner(snap([app], [site("s1"), site("s2")], {}))
    assert planner.decisions["web"].sites == ("s1",)
    updated(planner, [app], [site("s1", taints=(NO_EXECUTE,)), site("s2")])
    assert planner.decisions["web"].sites == ("s2",)  # stays ("s1",)


def test_a_structural_change_of_labels_moves_what_the_selector_now_excludes() -> None:
    app = AppView("web", False, 1, selector=parse_selector("region=r1"))
    planner = Planner(snap([app], [site("s1"), site("s2")], {}))
    assert planner.decisions["web"].sites == ("s1",)
    updated(planner, [app], [site("s1", "r2"), site("s2")])
    assert planner.decisions["web"].sites == ("s2",)  # stays ("s1",), region=r2


def test_a_structural_change_into_a_denied_region_moves_replicas() -> None:
    app = AppView("web", False, 1)
    planner = Planner(snap([app], [site("s1"), site("s2")], {}))
    updated(planner, [app], [site("s1", "r3"), site("s2")])
    assert planner.decisions["web"].sites == ("s2",)  # stays ("s1",) in r3


def test_a_short_application_takes_a_site_that_joins() -> None:
    app = AppView("web", False, 2)
    planner = Planner(snap([app], [site("s1")], {}))
    assert planner.decisions["web"].unplaced == 1
    updated(planner, [app], [site("s1"), site("s2")])
    assert planner.decisions["web"].sites == ("s1", "s2")  # stays ("s1",): 1/2


def test_a_site_group_change_moves_applications_out_of_the_old_members() -> None:
    sites = [site("s1", "r1"), site("s2", "r2")]
    app = AppView("web", False, 1, site_groups=("first",))
    planner = Planner(snap([app], sites, {}, {"first": parse_selector("region=r1")}))
    assert planner.decisions["web"].sites == ("s1",)
    updated(planner, [app], list(sites), groups={"first": parse_selector("region=r2")})
    assert planner.decisions["web"].sites == ("s2",)  # stays ("s1",), not in "first"


def test_a_changed_application_keeps_the_sites_it_runs_at() -> None:
    sites = [site("s1", cpu_millis=1000), site("s2", cpu_millis=1000)]
    app = AppView("web", False, 1, cpu_millis=100)
    planner = Planner(snap([app], sites, {"web": {"s2": 1}}))
    assert planner.decisions["web"].sites == ("s2",)
    bigger = dataclasses.replace(app, cpu_millis=200)
    assert Planner(snap([bigger], sites, planner.running())).decisions["web"].sites == ("s2",)
    updated(planner, [bigger], sites)
    assert planner.decisions["web"].sites == ("s2",)  # moves to ("s1",)


def test_an_equal_priority_never_takes_the_room_of_a_changed_application() -> None:
    sites = [site("s", cpu_millis=1000)]
    first = AppView("a", False, 1, cpu_millis=700)
    runs = AppView("b", False, 1, cpu_millis=500)
    planner = Planner(snap([first, runs], sites, {"b": {"s": 1}}))
    assert planner.decisions["b"].sites == ("s",) and planner.decisions["a"].unplaced
    tolerant = dataclasses.replace(runs, tolerations=(TolerationView("gpu", "Exists"),))
    fresh = Planner(snap([first, tolerant], sites, planner.running())).decisions
    assert fresh["b"].sites == ("s",)
    updated(planner, [first, tolerant], sites)
    assert planner.decisions["b"].sites == ("s",)  # a takes s; b is placed 0/1


def test_a_priority_drop_reports_the_preemption_it_causes() -> None:
    sites = [site("s", cpu_millis=1000)]
    high = AppView("x", False, 1, priority=10, cpu_millis=600)
    short = AppView("h", False, 1, priority=5, cpu_millis=600)
    planner = Planner(snap([high, short], sites, {}))
    assert planner.decisions["x"].sites == ("s",) and planner.decisions["h"].unplaced
    low = dataclasses.replace(high, priority=0)
    fresh = Planner(snap([low, short], sites, planner.running())).decisions
    assert fresh["h"].preempting == (("s", "x"),) and fresh["x"].preempted == (("s", "h"),)
    updated(planner, [low, short], sites)
    assert planner.decisions["h"].sites == ("s",)
    assert planner.decisions["x"].preempted == (("s", "h"),)  # ()


def test_a_preempted_event_never_names_a_site_the_application_still_runs_at() -> None:
    sites = [site("s", cpu_millis=1000)]
    w = AppView("w", False, 1, priority=0, cpu_millis=100)
    v = AppView("v", False, 1, priority=1, cpu_millis=900)
    a = AppView("a", False, 1, priority=2, cpu_millis=500)
    planner = Planner(snap([w, v], sites, {}))
    updated(planner, [w, v, a], sites)
    decisions = planner.decisions
    assert decisions["v"].preempted == (("s", "a"),) and decisions["w"].sites == ("s",)
    assert decisions["w"].preempted == ()  # (("s", "a"),) while w runs at s
    assert decisions["a"].preempting == (("s", "v"),)  # also names w
