"""Scaling down across ordered siteGroups (``[edge, cloud]``): replicas leave in the
reverse of the fill order, the last group first, so what is left is what a fresh
placement of the smaller count fills (edge first); within a group the largest parts
give up first. Shrinking only removes replicas: it never starts one elsewhere. An
update decides what a full plan decides."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import pytest

from edgeplane.api.selectors import parse_selector
from edgeplane.api.sites import SitePhase
from edgeplane.placement.model import AppView, SiteView, Snapshot, Spread, StaticWeight
from edgeplane.placement.planner import Planner

TIERS = {"edge": parse_selector("tier=edge"), "cloud": parse_selector("tier=cloud")}
ORDER = ("edge", "cloud")


def site(name: str, region: str = "r1", cpu: int | None = None) -> SiteView:
    tier = "edge" if name.startswith("e") else "cloud"
    return SiteView(name, {"region": region, "tier": tier}, SitePhase.ONLINE, cpu_millis=cpu)


def divided(replicas: int, cap: int | None = None, **kw: Any) -> AppView:
    kw.setdefault("cpu_millis", 100)
    return AppView("app", False, replicas, site_groups=ORDER, divided=True, max_per_site=cap, **kw)


def duplicated(replicas: int, **kw: Any) -> AppView:
    return AppView("app", False, replicas, site_groups=ORDER, **kw)


FOUR = (site("e1"), site("e2"), site("c1"), site("c2"))
SMALL_EDGE = (site("e1", cpu=200), site("e2", cpu=200), site("c1", cpu=1000))
"""Room for two replicas at each edge site: the edge is full at four."""
TWO_REGIONS = (site("e1"), site("e2"), site("c1", "r2"))
EQUAL = (
    StaticWeight(1, parse_selector("tier=edge")),
    StaticWeight(1, parse_selector("tier=cloud")),
)

CASES = [
    # (sites, app after the change, what runs before, what runs after)
    (FOUR, divided(3, 2), {"e1": 2, "e2": 2, "c1": 2}, {"e1": 1, "e2": 2}),
    (FOUR, divided(4, 2), {"e1": 2, "e2": 2, "c1": 1, "c2": 1}, {"e1": 2, "e2": 2}),
    (FOUR, divided(5, 2), {"e1": 2, "e2": 2, "c1": 2, "c2": 2}, {"e1": 2, "e2": 2, "c2": 1}),
    (FOUR, divided(1, 2), {"e1": 2, "e2": 2, "c1": 2, "c2": 2}, {"e2": 1}),
    (SMALL_EDGE, divided(3), {"e1": 2, "e2": 2, "c1": 3}, {"e1": 1, "e2": 2}),
    (SMALL_EDGE, divided(5), {"e1": 2, "e2": 2, "c1": 3}, {"e1": 2, "e2": 2, "c1": 1}),
    (FOUR, divided(4, 2), {"e1": 2, "c1": 2, "c2": 2}, {"e1": 2, "c1": 1, "c2": 1}),
    (TWO_REGIONS, divided(2, spread=(Spread("region"),)), {"e1": 2, "c1": 2}, {"e1": 1, "c1": 1}),
    (
        FOUR,
        divided(3, 2, static_weights=EQUAL),
        {"e1": 2, "e2": 2, "c1": 1, "c2": 1},
        {"e1": 2, "e2": 1},
    ),
    (FOUR, duplicated(2), {"e1": 1, "e2": 1, "c1": 1}, {"e1": 1, "e2": 1}),
    (FOUR, duplicated(1), {"e1": 1, "e2": 1, "c1": 1, "c2": 1}, {"e1": 1}),
    (FOUR, duplicated(3), {"e1": 1, "e2": 1, "c1": 1, "c2": 1}, {"e1": 1, "e2": 1, "c1": 1}),
    (FOUR, duplicated(2), {"e1": 1, "c1": 1, "c2": 1}, {"e1": 1, "c1": 1}),
]
IDS = [
    "cap-the-cloud-gives-up-first",
    "cap-the-cloud-emptied-exactly",
    "cap-the-cloud-keeps-what-the-edge-cannot-hold",
    "cap-down-to-one",
    "capacity-the-cloud-gives-up-first",
    "capacity-the-cloud-keeps-the-overflow",
    "shrinking-starts-nothing-at-a-free-edge-site",
    "spread-keeps-the-domains-even-before-the-order",
    "static-weights-divided-afresh-edge-first",
    "duplicated-the-cloud-site-goes",
    "duplicated-down-to-one",
    "duplicated-one-cloud-site-stays",
    "duplicated-starts-nothing-at-a-free-edge-site",
]


@pytest.mark.parametrize(("sites", "app", "before", "after"), CASES, ids=IDS)
def test_scaling_down_empties_the_last_site_group_first(
    sites: tuple[SiteView, ...],
    app: AppView,
    before: Mapping[str, int],
    after: dict[str, int],
) -> None:
    """A full plan of the smaller count, given what runs, and an update from the larger
    count to the smaller decide the same, and that is ``after``."""
    larger = replace(app, replicas=sum(before.values()))
    planner = Planner(Snapshot((larger,), sites, TIERS, {"app": before}))
    assert planner.running() == {"app": before}  # a state the planner keeps as it is
    snapshot = Snapshot((app,), sites, TIERS, planner.running())
    planner.update(snapshot)
    assert planner.decisions == Planner(snapshot).decisions
    assert dict(planner.decisions["app"].parts()) == after
