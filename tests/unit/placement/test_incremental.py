"""The planner's increments: ``update`` places again only what a change touches, and
what it decides still keeps every hard constraint."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Mapping, Sequence

from hypothesis import given, settings
from hypothesis import strategies as st

from edgeplane.api.selectors import parse_selector
from edgeplane.api.sites import SitePhase
from edgeplane.placement.model import (
    AppView,
    Decision,
    SiteView,
    Snapshot,
    Spread,
    StaticWeight,
    TaintView,
)
from edgeplane.placement.planner import Planner
from tests.unit.placement.governed import Governed


def site(name: str, region: str = "eu", **kw: object) -> SiteView:
    return SiteView(name, {"region": region, "tier": "edge"}, SitePhase.ONLINE, **kw)  # type: ignore[arg-type]


FLEET = (
    site("a1", "eu"),
    site("a2", "eu"),
    site("b1", "us"),
    site("b2", "us"),
)


def offline(sites: tuple[SiteView, ...], name: str) -> tuple[SiteView, ...]:
    return tuple(
        dataclasses.replace(s, phase=SitePhase.OFFLINE) if s.name == name else s for s in sites
    )


def sites_of(planner: Planner, app: str) -> tuple[str, ...]:
    """The sites decided (read anew each time: mypy would narrow the expression)."""
    return planner.decisions[app].sites


def test_an_offline_site_moves_replicas_and_leaves_everything_else_alone() -> None:
    web = AppView("web", False, 2, spread=(Spread("region"),))
    agent = AppView("agent", True)
    other = AppView("other", False, 1, selector=parse_selector("region=us"))
    planner = Planner(Snapshot((web, agent, other), FLEET, {}, {}))
    before = dict(planner.decisions)
    gone = before["web"].sites[0]
    changed = planner.update(
        Snapshot((web, agent, other), offline(FLEET, gone), {}, planner.running())
    )
    after = planner.decisions
    assert gone not in after["web"].sites and len(after["web"].sites) == 2
    assert set(before["web"].sites) - {gone} <= set(after["web"].sites)  # the other stays
    assert after["agent"].sites == before["agent"].sites  # EverySite keeps an offline site
    assert after["other"] is before["other"]  # untouched: not even placed again
    assert "web" in changed and "other" not in changed


def test_a_policy_change_places_again_only_the_applications_it_covers() -> None:
    class DenyUs(Governed):
        def __init__(self, deny: bool) -> None:
            self.deny = deny

        @property
        def version(self) -> object:
            return self.deny

        def key(self, app: AppView) -> object:
            return app.name == "covered"

        def verdicts(
            self, app: AppView, label_sets: Sequence[Mapping[str, str]]
        ) -> list[tuple[str | None, bool]]:
            return [
                (
                    "excluded by policy no-us"
                    if self.deny and app.name == "covered" and ls["region"] == "us"
                    else None,
                    False,
                )
                for ls in label_sets
            ]

    covered = AppView("covered", True)
    free = AppView("free", True)
    planner = Planner(Snapshot((covered, free), FLEET, {}, {}, DenyUs(False)))
    before = dict(planner.decisions)
    changed = planner.update(Snapshot((covered, free), FLEET, {}, planner.running(), DenyUs(True)))
    assert planner.decisions["covered"].sites == ("a1", "a2")
    assert planner.decisions["covered"].reasons == ("2 site(s) excluded by policy no-us",)
    assert planner.decisions["free"] is before["free"]
    assert changed == {"covered"}


def test_freed_capacity_lets_a_short_application_in() -> None:
    sites = (SiteView("s", {}, SitePhase.ONLINE, cpu_millis=1000),)
    big = AppView("big", False, 1, priority=5, cpu_millis=800)
    small = AppView("small", False, 1, cpu_millis=500)
    planner = Planner(Snapshot((big, small), sites, {}, {}))
    assert planner.decisions["small"].unplaced == 1
    changed = planner.update(Snapshot((small,), sites, {}, planner.running()))
    assert planner.decisions["small"].sites == ("s",)
    assert "big" not in planner.decisions and changed == {"big", "small"}


def test_more_capacity_at_a_site_lets_a_short_application_in() -> None:
    sites = (SiteView("s", {}, SitePhase.ONLINE, cpu_millis=400),)
    app = AppView("app", False, 1, cpu_millis=500)
    planner = Planner(Snapshot((app,), sites, {}, {}))
    assert planner.decisions["app"].unplaced == 1
    bigger = (dataclasses.replace(sites[0], cpu_millis=1000),)
    assert planner.update(Snapshot((app,), bigger, {}, planner.running())) == {"app"}
    assert planner.decisions["app"].sites == ("s",)


def test_label_changes_new_sites_and_removed_sites() -> None:
    agent = AppView("agent", True, selector=parse_selector("region=eu"))
    planner = Planner(Snapshot((agent,), FLEET, {}, {}))
    assert planner.decisions["agent"].sites == ("a1", "a2")
    moved = tuple(
        SiteView(s.name, {**s.labels, "region": "eu"}, SitePhase.ONLINE) if s.name == "b1" else s
        for s in FLEET
    )
    planner.update(Snapshot((agent,), moved, {}, planner.running()))
    assert sites_of(planner, "agent") == ("a1", "a2", "b1")
    grown = (*moved, site("a3", "eu"))
    planner.update(Snapshot((agent,), grown, {}, planner.running()))
    assert sites_of(planner, "agent") == ("a1", "a2", "a3", "b1")
    shrunk = tuple(s for s in grown if s.name != "a1")
    planner.update(Snapshot((agent,), shrunk, {}, planner.running()))
    assert sites_of(planner, "agent") == ("a2", "a3", "b1")


def test_a_new_site_group_reaches_the_applications_that_name_it() -> None:
    app = AppView("app", True, site_groups=("us-sites",))
    planner = Planner(Snapshot((app,), FLEET, {}, {}))
    assert planner.decisions["app"].reasons == ("4 site(s) siteGroup us-sites does not exist",)
    groups = {"us-sites": parse_selector("region=us")}
    planner.update(Snapshot((app,), FLEET, groups, planner.running()))
    assert planner.decisions["app"].sites == ("b1", "b2")


def test_what_runs_is_believed_when_it_differs_from_the_plan() -> None:
    app = AppView("app", False, 2)
    planner = Planner(Snapshot((app,), FLEET, {}, {}))
    placed = planner.decisions["app"].sites
    # Someone deleted one assignment by hand; the next pass sees it and puts it back.
    current = {"app": {placed[0]: 1}}
    assert planner.update(Snapshot((app,), FLEET, {}, current)) == set()
    assert planner.decisions["app"].sites == placed
    assert planner.ledger.held["app"][0].tolist() == [planner.fleet.index[s] for s in placed]


def test_a_divided_application_keeps_its_parts_when_a_site_goes() -> None:
    sites = tuple(site(f"s{i}", "eu", cpu_millis=1000) for i in range(4))
    app = AppView("app", False, 8, divided=True, cpu_millis=250)
    planner = Planner(Snapshot((app,), sites, {}, {}))
    first = planner.decisions["app"]
    assert first.sites == ("s0", "s1", "s2", "s3") and first.counts == (2, 2, 2, 2)
    planner.update(Snapshot((app,), offline(sites, "s3"), {}, planner.running()))
    after = planner.decisions["app"]
    assert sum(after.counts) == 8 and "s3" not in after.sites
    for name in ("s0", "s1", "s2"):  # nothing that still fits was taken away
        assert after.replicas_at(name) >= 2


REGIONS = ["r1", "r2", "r3"]


@st.composite
def fleets(draw: st.DrawFn) -> tuple[SiteView, ...]:
    return tuple(
        SiteView(
            f"s{i:02d}",
            {"region": draw(st.sampled_from(REGIONS))},
            draw(st.sampled_from([SitePhase.ONLINE, SitePhase.ONLINE, SitePhase.PENDING])),
            cpu_millis=draw(st.sampled_from([None, 1000, 2000])),
            taints=(TaintView("gpu", None, "NoSchedule"),) if draw(st.booleans()) else (),
        )
        for i in range(draw(st.integers(2, 10)))
    )


@st.composite
def workloads(draw: st.DrawFn) -> tuple[AppView, ...]:
    return tuple(
        AppView(
            f"a{i}",
            every_site=draw(st.booleans()),
            replicas=draw(st.integers(0, 6)),
            selector=parse_selector(draw(st.sampled_from(["", "region in (r1,r2)"]))),
            priority=draw(st.integers(0, 2)),
            cpu_millis=draw(st.sampled_from([0, 300, 700])),
            spread=(Spread("region"),) if draw(st.booleans()) else (),
            divided=draw(st.booleans()),
        )
        for i in range(draw(st.integers(1, 5)))
    )


def keeps_hard_constraints(
    sites: tuple[SiteView, ...], apps: tuple[AppView, ...], decisions: Mapping[str, Decision]
) -> None:
    by_name = {s.name: s for s in sites}
    used: Counter[str] = Counter()
    for app in apps:
        decision = decisions[app.name]
        for name in decision.sites:
            s = by_name[name]
            assert app.selector.matches(s.labels)
            assert not s.taints  # nothing tolerates them here
            assert s.phase != SitePhase.OFFLINE or app.every_site
            used[name] += app.cpu_millis * decision.replicas_at(name)
    for name, cpu in used.items():
        limit = by_name[name].cpu_millis
        assert limit is None or cpu <= limit


@settings(max_examples=120, deadline=None)
@given(fleets(), workloads(), st.data())
def test_updates_keep_constraints_and_spare_the_untouched(
    sites: tuple[SiteView, ...], apps: tuple[AppView, ...], data: st.DataObject
) -> None:
    planner = Planner(Snapshot(apps, sites, {}, {}))
    before = dict(planner.decisions)
    victim = data.draw(st.sampled_from([s.name for s in sites]))
    change = data.draw(st.sampled_from(["offline", "cordon", "shrink", "drop-app"]))
    new_sites, new_apps = sites, apps
    if change == "offline":
        new_sites = offline(sites, victim)
    elif change == "cordon":
        new_sites = tuple(
            dataclasses.replace(s, unschedulable=True) if s.name == victim else s for s in sites
        )
    elif change == "shrink":
        new_sites = tuple(
            dataclasses.replace(s, cpu_millis=500) if s.name == victim else s for s in sites
        )
    else:
        new_apps = apps[1:]
    twin = Planner(Snapshot(apps, sites, {}, {}))
    running = planner.running()
    changed = planner.update(Snapshot(new_apps, new_sites, {}, running))
    twin.update(Snapshot(new_apps, new_sites, {}, running))
    assert planner.decisions == twin.decisions  # deterministic
    keeps_hard_constraints(new_sites, new_apps, planner.decisions)
    if change != "drop-app":
        for app in new_apps:
            old = before[app.name]
            untouched = victim not in old.sites and not old.unplaced and not app.every_site
            # A replica displaced by a higher priority moved off the victim (in this
            # update, or the last) is touched, whatever site it was at.
            displaced = any(
                before[a.name].preempted or planner.decisions[a.name].preempted for a in new_apps
            )
            if untouched and not displaced:
                assert planner.decisions[app.name].sites == old.sites
                assert app.name not in changed


def test_a_new_policy_reaches_applications_it_now_covers() -> None:
    class Covering(Governed):
        """A policy that, once it exists, covers every application: their keys change."""

        def __init__(self, exists: bool) -> None:
            self.exists = exists

        @property
        def version(self) -> object:
            return self.exists

        def key(self, app: AppView) -> object:
            return ("no-us",) if self.exists else ()

        def verdicts(
            self, app: AppView, label_sets: Sequence[Mapping[str, str]]
        ) -> list[tuple[str | None, bool]]:
            deny = self.exists
            return [
                ("excluded by policy no-us" if deny and ls["region"] == "us" else None, False)
                for ls in label_sets
            ]

    app = AppView("app", True)
    planner = Planner(Snapshot((app,), FLEET, {}, {}, Covering(False)))
    assert planner.decisions["app"].sites == ("a1", "a2", "b1", "b2")
    # A fleet rebuild in between (a new site) must not make the planner forget.
    grown = (*FLEET, site("a3", "eu"))
    planner.update(Snapshot((app,), grown, {}, planner.running(), Covering(False)))
    assert planner.update(Snapshot((app,), grown, {}, planner.running(), Covering(True))) == {"app"}
    assert sites_of(planner, "app") == ("a1", "a2", "a3")


def test_static_weights_reach_a_site_that_joins_later() -> None:
    weights = (StaticWeight(2, parse_selector("region=eu")), StaticWeight(1))
    app = AppView("batch", False, 3, divided=True, static_weights=weights)
    planner = Planner(Snapshot((app,), (site("a1", "eu"),), {}, {}))
    assert planner.decisions["batch"].counts == (3,)
    joined = (site("a1", "eu"), site("b1", "us"))
    planner.update(Snapshot((app,), joined, {}, planner.running()))
    decision = planner.decisions["batch"]
    assert dict(zip(decision.sites, decision.counts, strict=True)) == {"a1": 2, "b1": 1}
