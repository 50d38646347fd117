"""Placement v0, table by table: which sites each application gets, and why not."""

from __future__ import annotations

import pytest

from edgeplane.api.selectors import parse_selector
from edgeplane.placement.simple import AppView, Decision, SiteView, Snapshot, place

SITES = (
    SiteView("dub", {"region": "eu", "tier": "edge"}, "Online", cpu_millis=2000),
    SiteView("fra", {"region": "eu", "tier": "cloud"}, "Online", cpu_millis=8000),
    SiteView("lyo", {"region": "eu", "tier": "edge"}, "Pending", cpu_millis=2000),
    SiteView("bos", {"region": "us", "tier": "edge"}, "Online", cpu_millis=2000),
    SiteView("cor", {"region": "eu", "tier": "edge"}, "Cordoned", cpu_millis=2000),
)
GROUPS = {"eu-edge": parse_selector("region=eu,tier=edge"), "cloud": parse_selector("tier=cloud")}


def decide(*apps: AppView, current: dict[str, frozenset[str]] | None = None) -> dict[str, Decision]:
    return place(Snapshot(apps, SITES, GROUPS, current or {}))


@pytest.mark.parametrize(
    ("app", "sites", "wanted", "reasons"),
    [
        (AppView("a", True), ("bos", "dub", "fra", "lyo"), 4, ("1 site(s) are cordoned",)),
        (
            AppView("a", True, selector=parse_selector("tier=edge")),
            ("bos", "dub", "lyo"),
            3,
            ("1 site(s) are cordoned", "1 site(s) did not match the selector"),
        ),
        (
            AppView("a", False, 2, site_groups=("eu-edge",)),
            ("dub", "lyo"),
            2,
            (
                "1 site(s) are cordoned",
                "2 site(s) are in none of the siteGroups",
            ),
        ),
        (AppView("a", False, 2), ("bos", "dub"), 2, ("1 site(s) are cordoned",)),
        (
            AppView("a", False, 9, selector=parse_selector("region=us")),
            ("bos",),
            9,
            ("4 site(s) did not match the selector",),
        ),
        (
            AppView("a", True, cpu_millis=3000),
            ("fra",),
            1,
            ("1 site(s) are cordoned", "3 site(s) had too little cpu left"),
        ),
        (
            AppView("a", True, site_groups=("nope",)),
            (),
            0,
            ("5 site(s) siteGroup nope does not exist",),
        ),
    ],
    ids=[
        "every-site",
        "every-matching-site",
        "replicas-in-a-group",
        "replicas-online-first",
        "more-replicas-than-sites",
        "capacity",
        "unknown-group",
    ],
)
def test_where_one_application_goes(
    app: AppView, sites: tuple[str, ...], wanted: int, reasons: tuple[str, ...]
) -> None:
    decision = decide(app)["a"]
    assert decision.sites == sites
    assert decision.wanted == wanted
    assert decision.reasons == reasons
    assert decision.unplaced == max(0, wanted - len(sites))


def test_replicas_stay_where_they_run() -> None:
    app = AppView("a", False, 2)
    assert decide(app, current={"a": frozenset({"lyo", "fra"})})["a"].sites == ("fra", "lyo")


def test_higher_priority_gets_the_capacity_first() -> None:
    small = SiteView("one", {}, "Online", cpu_millis=1000)
    low = AppView("low", True, priority=1, cpu_millis=800)
    high = AppView("high", True, priority=10, cpu_millis=800)
    decisions = place(Snapshot((low, high), (small,), {}, {}))
    assert decisions["high"].sites == ("one",)
    assert decisions["low"].sites == ()
    assert decisions["low"].message() == "placed 0/0; 1 site(s) had too little cpu left"


def test_replicas_spread_over_the_least_loaded_sites() -> None:
    sites = tuple(SiteView(n, {}, "Online") for n in ("a", "b", "c"))
    first = AppView("first", False, 2)
    second = AppView("second", False, 2)
    decisions = place(Snapshot((first, second), sites, {}, {}))
    assert decisions["first"].sites == ("a", "b")
    assert decisions["second"].sites == ("a", "c")
