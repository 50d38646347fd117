"""``placement.maxPerSite``: Divided replicas never more than the cap at one site, with
division by capacity, by static weights, over ordered siteGroups and spread; what fits
nowhere under the cap is unplaced and says why; an update decides what a full plan
decides."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import pytest

from edgeplane.api.selectors import parse_selector
from edgeplane.api.sites import SitePhase
from edgeplane.placement.model import AppView, SiteView, Snapshot, Spread, StaticWeight
from edgeplane.placement.planner import Planner, place

TIERS = {"edge": parse_selector("tier=edge"), "cloud": parse_selector("tier=cloud")}
BY_REGION = (
    StaticWeight(3, parse_selector("region=eu")),
    StaticWeight(1, parse_selector("region=us")),
)


def site(name: str, region: str = "eu", tier: str = "edge", cpu: int | None = None) -> SiteView:
    return SiteView(name, {"region": region, "tier": tier}, SitePhase.ONLINE, cpu_millis=cpu)


def divided(replicas: int, cap: int | None, **kw: Any) -> AppView:
    return AppView("app", False, replicas, divided=True, max_per_site=cap, **kw)


def parts(planner: Planner) -> dict[str, int]:
    return dict(planner.decisions["app"].parts())


EDGE_AND_CLOUD = (site("e1"), site("e2"), site("c1", tier="cloud"))


@pytest.mark.parametrize(
    ("sites", "app", "current", "expected", "reasons"),
    [
        (
            (site("s1", cpu=1000), site("s2", cpu=300), site("s3", cpu=300)),
            divided(6, 2, cpu_millis=100),
            {},
            {"s1": 2, "s2": 2, "s3": 2},
            (),
        ),
        (
            (site("s1", cpu=1000), site("s2", cpu=200)),
            divided(8, 5, cpu_millis=100),
            {},
            {"s1": 5, "s2": 2},
            (
                "room for 7 of 8 replicas at the feasible sites (by capacity; 1 site(s) at "
                "placement.maxPerSite (5))",
            ),
        ),
        (
            (site("s1", cpu=200), site("s2", cpu=200)),
            divided(4, 5, cpu_millis=100),
            {},
            {"s1": 2, "s2": 2},
            (),
        ),
        (
            (site("a1"), site("a2"), site("b1", "us")),
            divided(8, 3, static_weights=BY_REGION),
            {},
            {"a1": 3, "a2": 3, "b1": 2},
            (),
        ),
        (
            (site("a1"), site("a2"), site("b1", "us"), site("c1", "ap")),
            divided(10, 3, static_weights=BY_REGION),
            {},
            {"a1": 3, "a2": 3, "b1": 3},
            ("1 replica(s) unplaced: every site with a weight is at placement.maxPerSite (3)",),
        ),
        (
            EDGE_AND_CLOUD,
            divided(5, 2, site_groups=("edge", "cloud")),
            {},
            {"e1": 2, "e2": 2, "c1": 1},
            (),
        ),
        (
            EDGE_AND_CLOUD,
            divided(8, 2, site_groups=("edge", "cloud")),
            {},
            {"e1": 2, "e2": 2, "c1": 2},
            ("2 replica(s) unplaced: every feasible site is at placement.maxPerSite (2)",),
        ),
        (
            (site("s1"), site("s2"), site("s3", "us")),
            divided(6, 2, spread=(Spread("region"),)),
            {},
            {"s1": 2, "s2": 2, "s3": 2},
            (),
        ),
        (
            (site("s1"), site("s2"), site("s3")),
            divided(5, 2),
            {"app": {"s1": 5}},
            {"s1": 2, "s2": 2, "s3": 1},
            (),
        ),
        (
            (site("s1", cpu=1000), site("s2", cpu=1000), site("s3", cpu=1000)),
            divided(9, 2, cpu_millis=100),
            {},
            {"s1": 2, "s2": 2, "s3": 2},
            ("3 replica(s) unplaced: every feasible site is at placement.maxPerSite (2)",),
        ),
    ],
    ids=[
        "capacity-room-above-the-cap",
        "capacity-short-one-site-at-the-cap",
        "capacity-below-the-cap",
        "weights-share-beyond-the-cap-flows-on",
        "weights-every-weighted-site-full",
        "site-groups-fall-through-to-cloud",
        "site-groups-every-group-full",
        "spread-domain-capped",
        "held-above-the-cap-gives-the-excess-up",
        "nothing-takes-more",
    ],
)
def test_divided_replicas_stop_at_max_per_site(
    sites: tuple[SiteView, ...],
    app: AppView,
    current: Mapping[str, Mapping[str, int]],
    expected: dict[str, int],
    reasons: tuple[str, ...],
) -> None:
    decision = place(Snapshot((app,), sites, TIERS, current))["app"]
    assert dict(decision.parts()) == expected
    assert decision.reasons == reasons
    assert decision.unplaced == app.replicas - sum(expected.values())


def test_without_a_cap_the_first_site_group_takes_everything() -> None:
    """The contrast to ``site-groups-fall-through-to-cloud``: the cap is what sends the
    overflow to the cloud ("edge first, cloud when full")."""
    decision = place(
        Snapshot((divided(5, None, site_groups=("edge", "cloud")),), EDGE_AND_CLOUD, TIERS, {})
    )["app"]
    assert set(decision.sites) == {"e1", "e2"} and decision.placed == 5


def test_max_per_site_is_ignored_by_duplicated_and_every_site() -> None:
    """Admission refuses it there; an AppView built by hand with one places as without."""
    for app in (AppView("app", False, 2, max_per_site=1), AppView("app", True, max_per_site=1)):
        capped, plain = (
            place(Snapshot((a,), EDGE_AND_CLOUD, TIERS, {}))["app"]
            for a in (app, replace(app, max_per_site=None))
        )
        assert capped == plain


def edge_first(app: AppView) -> AppView:
    return replace(app, site_groups=("edge", "cloud"), cpu_millis=100)


Sites = Callable[[tuple[SiteView, ...]], tuple[SiteView, ...]]
"""A change to the fleet between the two plans."""


def more_sites(sites: tuple[SiteView, ...]) -> tuple[SiteView, ...]:
    return (*sites, site("c2", tier="cloud"))


def smaller_e1(sites: tuple[SiteView, ...]) -> tuple[SiteView, ...]:
    return tuple(replace(s, cpu_millis=100) if s.name == "e1" else s for s in sites)


@pytest.mark.parametrize(
    ("before", "after", "change_sites", "expected"),
    [
        (divided(6, None), divided(6, 2), None, {"e1": 2, "e2": 2, "c1": 2}),
        (divided(4, 2), divided(8, 2), None, {"e1": 2, "e2": 2, "c1": 2}),
        # Shrinking empties the cloud first (the fill order reversed); within the edge
        # the largest parts give up first, the worse scored (here: by name) first.
        (divided(6, 2), divided(3, 2), None, {"e1": 1, "e2": 2}),
        (divided(6, 2), divided(4, 2), None, {"e1": 2, "e2": 2}),
        (divided(6, 2), divided(5, 2), None, {"e1": 2, "e2": 2, "c1": 1}),
        (divided(6, 2), divided(3, None), None, {"e1": 1, "e2": 2}),
        (divided(8, 2), divided(5, 2), more_sites, {"e1": 2, "e2": 2, "c1": 1}),
        (divided(8, 2), divided(8, 2), more_sites, {"e1": 2, "e2": 2, "c1": 2, "c2": 2}),
        (divided(4, 2), divided(4, 2), smaller_e1, {"e1": 1, "e2": 2, "c1": 1}),
        (divided(6, 2), divided(6, None), None, {"e1": 2, "e2": 2, "c1": 2}),
    ],
    ids=[
        "cap-set",
        "scaled-up-into-the-cloud",
        "scaled-down",
        "scaled-down-to-the-full-edge",
        "scaled-down-keeps-the-cloud-overflow",
        "scaled-down-as-the-cap-is-removed",
        "scaled-down-as-a-cloud-site-joins",
        "a-cloud-site-joins",
        "an-edge-site-shrinks",
        "cap-removed-keeps-what-runs",
    ],
)
def test_an_update_decides_what_a_full_plan_decides(
    before: AppView, after: AppView, change_sites: Sites | None, expected: dict[str, int]
) -> None:
    """Ordered siteGroups, edge first: the planner updated incrementally gives the same
    decision as a fresh planner given the same snapshot (what ran before included)."""
    sites = EDGE_AND_CLOUD
    planner = Planner(Snapshot((edge_first(before),), sites, TIERS, {}))
    new_sites = change_sites(sites) if change_sites else sites
    snapshot = Snapshot((edge_first(after),), new_sites, TIERS, planner.running())
    planner.update(snapshot)
    assert planner.decisions == Planner(snapshot).decisions
    assert parts(planner) == expected
