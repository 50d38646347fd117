"""Properties of placement over random fleets (hypothesis): hard constraints always
hold, spread stays within maxSkew where the feasible sites allow, and the same input
gives the same result."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

from hypothesis import given, settings
from hypothesis import strategies as st

from edgeplane.api.selectors import parse_selector
from edgeplane.api.sites import SitePhase
from edgeplane.placement.model import (
    AppView,
    SiteView,
    Snapshot,
    Spread,
    TaintView,
    TolerationView,
)
from edgeplane.placement.planner import place
from tests.unit.placement.governed import Governed

REGIONS = ["r1", "r2", "r3"]


@st.composite
def sites(draw: st.DrawFn) -> tuple[SiteView, ...]:
    count = draw(st.integers(1, 12))
    found = []
    for i in range(count):
        tainted = draw(st.booleans())
        found.append(
            SiteView(
                f"s{i:02d}",
                {
                    "region": draw(st.sampled_from(REGIONS)),
                    "tier": draw(st.sampled_from(["edge", "cloud"])),
                },
                draw(
                    st.sampled_from(
                        [SitePhase.ONLINE, SitePhase.ONLINE, SitePhase.PENDING, SitePhase.CORDONED]
                    )
                ),
                cpu_millis=draw(st.sampled_from([None, 500, 1000, 4000])),
                taints=(TaintView("gpu", "true", "NoSchedule"),) if tainted else (),
            )
        )
    return tuple(found)


@st.composite
def apps(draw: st.DrawFn) -> tuple[AppView, ...]:
    count = draw(st.integers(1, 5))
    return tuple(
        AppView(
            f"a{i}",
            every_site=draw(st.booleans()),
            replicas=draw(st.integers(0, 6)),
            selector=parse_selector(draw(st.sampled_from(["", "tier=edge", "region in (r1,r2)"]))),
            priority=draw(st.integers(0, 3)),
            cpu_millis=draw(st.sampled_from([0, 250, 600])),
            tolerations=(TolerationView("gpu", "Exists"),) if draw(st.booleans()) else (),
            spread=(Spread("region"),) if draw(st.booleans()) else (),
        )
        for i in range(count)
    )


class DenyR3(Governed):
    def verdicts(
        self, app: AppView, label_sets: Sequence[Mapping[str, str]]
    ) -> list[tuple[str | None, bool]]:
        return [
            ("excluded by policy no-r3" if labels["region"] == "r3" else None, False)
            for labels in label_sets
        ]


@settings(max_examples=150, deadline=None)
@given(sites(), apps())
def test_hard_constraints_always_hold(
    fleet: tuple[SiteView, ...], wanted: tuple[AppView, ...]
) -> None:
    snapshot = Snapshot(wanted, fleet, {}, {}, DenyR3())
    decisions = place(snapshot)
    by_name = {s.name: s for s in fleet}
    used: Counter[str] = Counter()
    for app in wanted:
        decision = decisions[app.name]
        assert len(decision.sites) == len(set(decision.sites))
        if not app.every_site:
            assert len(decision.sites) <= app.replicas
        for name in decision.sites:
            site = by_name[name]
            assert app.selector.matches(site.labels)
            assert site.phase not in (SitePhase.CORDONED, SitePhase.PENDING)
            assert site.labels["region"] != "r3"
            assert not site.taints or app.tolerations
            used[name] += app.cpu_millis
    for name, cpu in used.items():
        limit = by_name[name].cpu_millis
        assert limit is None or cpu <= limit
    assert place(snapshot) == decisions  # deterministic


@settings(max_examples=150, deadline=None)
@given(sites(), st.integers(1, 8))
def test_spread_stays_within_max_skew_where_sites_allow(
    fleet: tuple[SiteView, ...], replicas: int
) -> None:
    app = AppView("a", False, replicas, spread=(Spread("region"),))
    decision = place(Snapshot((app,), fleet, {}, {}))["a"]
    feasible = [
        s for s in fleet if s.phase not in (SitePhase.CORDONED, SitePhase.PENDING) and not s.taints
    ]
    chosen = set(decision.sites)
    counts = Counter(s.labels["region"] for s in feasible if s.name in chosen)
    spare = {s.labels["region"] for s in feasible if s.name not in chosen}
    for region in spare:  # a region with sites left over is never more than 1 behind
        assert max(counts.values(), default=0) - counts[region] <= 1


@settings(max_examples=150, deadline=None)
@given(sites(), apps(), st.data())
def test_preemption_only_by_higher_priority_and_capacity_holds(
    fleet: tuple[SiteView, ...], wanted: tuple[AppView, ...], data: st.DataObject
) -> None:
    names = [s.name for s in fleet]
    current = {
        app.name: frozenset(data.draw(st.lists(st.sampled_from(names), max_size=3)))
        for app in wanted
    }
    decisions = place(Snapshot(wanted, fleet, {}, current))
    priority = {a.name: a.priority for a in wanted}
    for decision in decisions.values():
        for _, by in decision.preempted:
            assert priority[by] > priority[decision.app]
    cpu = {a.name: a.cpu_millis for a in wanted}
    for site in fleet:
        used = sum(cpu[d.app] for d in decisions.values() if site.name in d.sites)
        assert site.cpu_millis is None or used <= site.cpu_millis
