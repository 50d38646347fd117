"""The placement engine, table by table: which sites each application gets, and why not."""

from __future__ import annotations

from typing import Any

import pytest

from edgeplane.api.selectors import parse_selector
from edgeplane.api.sites import SitePhase
from edgeplane.placement.checks import CHECKS
from edgeplane.placement.model import (
    AppView,
    Decision,
    SiteView,
    Snapshot,
    Spread,
    TaintView,
    TolerationView,
)
from edgeplane.placement.planner import explain, place
from edgeplane.placement.views import site_runtimes, site_view

SITES = (
    SiteView("dub", {"region": "eu", "tier": "edge"}, SitePhase.ONLINE, cpu_millis=2000),
    SiteView("fra", {"region": "eu", "tier": "cloud"}, SitePhase.ONLINE, cpu_millis=8000),
    SiteView("lyo", {"region": "eu", "tier": "edge"}, None, cpu_millis=2000),  # not reporting
    SiteView("bos", {"region": "us", "tier": "edge"}, SitePhase.ONLINE, cpu_millis=2000),
    SiteView("cor", {"region": "eu", "tier": "edge"}, SitePhase.CORDONED, cpu_millis=2000),
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
            ("1 site(s) are cordoned", "3 site(s) had too little cpu left (need 3000m)"),
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
    small = SiteView("one", {}, SitePhase.ONLINE, cpu_millis=1000)
    low = AppView("low", True, priority=1, cpu_millis=800)
    high = AppView("high", True, priority=10, cpu_millis=800)
    decisions = place(Snapshot((low, high), (small,), {}, {}))
    assert decisions["high"].sites == ("one",)
    assert decisions["low"].sites == ()
    assert decisions["low"].message() == "placed 0/0; 1 site(s) had too little cpu left (need 800m)"


def test_replicas_spread_over_the_least_loaded_sites() -> None:
    sites = tuple(SiteView(n, {}, SitePhase.ONLINE) for n in ("a", "b", "c"))
    first = AppView("first", False, 2)
    second = AppView("second", False, 2)
    decisions = place(Snapshot((first, second), sites, {}, {}))
    assert decisions["first"].sites == ("a", "b")
    assert decisions["second"].sites == ("a", "c")


def test_a_newcomer_avoids_sites_that_later_applications_hold() -> None:
    sites = tuple(SiteView(n, {}, SitePhase.ONLINE) for n in ("a", "b"))
    newcomer, holder = AppView("first", False, 1), AppView("second", False, 1)
    decisions = place(Snapshot((newcomer, holder), sites, {}, {"second": frozenset({"a"})}))
    assert decisions["first"].sites == ("b",)
    assert decisions["second"].sites == ("a",)


def test_assignments_of_deleted_applications_do_not_count_as_load() -> None:
    sites = tuple(SiteView(n, {}, SitePhase.ONLINE) for n in ("a", "b"))
    app = AppView("app", False, 1)
    assert place(Snapshot((app,), sites, {}, {"gone": frozenset({"a"})}))["app"].sites == ("a",)


TAINTED = (
    SiteView("plain", {}, SitePhase.ONLINE),
    SiteView("gpu", {}, SitePhase.ONLINE, taints=(TaintView("gpu", "true", "NoSchedule"),)),
    SiteView("maint", {}, SitePhase.ONLINE, taints=(TaintView("maint", None, "NoExecute"),)),
    SiteView("soft", {}, SitePhase.ONLINE, taints=(TaintView("busy", None, "PreferNoSchedule"),)),
    SiteView("gone", {}, SitePhase.OFFLINE),
)


@pytest.mark.parametrize(
    ("tolerations", "current", "sites"),
    [
        ((), frozenset(), ("plain", "soft")),
        (
            (TolerationView("gpu", "Equal", "true", "NoSchedule"),),
            frozenset(),
            ("gpu", "plain", "soft"),
        ),
        ((TolerationView("gpu", "Equal", "false"),), frozenset(), ("plain", "soft")),
        ((TolerationView(None, "Exists"),), frozenset(), ("gpu", "maint", "plain", "soft")),
        ((TolerationView("maint", "Exists", effect="NoSchedule"),), frozenset(), ("plain", "soft")),
        ((), frozenset({"gpu", "maint", "gone"}), ("gone", "gpu", "plain", "soft")),
    ],
    ids=["none", "equal", "wrong-value", "tolerate-all", "wrong-effect", "held-sites"],
)
def test_taints_tolerations_and_offline_sites(
    tolerations: tuple[TolerationView, ...], current: frozenset[str], sites: tuple[str, ...]
) -> None:
    app = AppView("a", True, tolerations=tolerations)
    decision = place(Snapshot((app,), TAINTED, {}, {"a": current}))["a"]
    assert decision.sites == sites


def test_prefer_no_schedule_ranks_last() -> None:
    app = AppView("a", False, 1)
    sites = (TAINTED[3], SiteView("zzz", {}, SitePhase.ONLINE))
    assert place(Snapshot((app,), sites, {}, {}))["a"].sites == ("zzz",)


def test_explain_gives_every_checks_verdict_for_one_site() -> None:
    big = AppView("big", True, cpu_millis=5000, selector=parse_selector("region=eu"))
    snapshot = Snapshot((big,), SITES, GROUPS, {})
    whole = explain(snapshot, "big")
    assert whole.decision.sites == ("fra",)
    one = explain(snapshot, "big", "dub")
    # Every check's verdict, in the stack's order: all pass but capacity.
    passes = {check.name: None for check in CHECKS}
    assert one.checks == tuple(
        (passes | {"capacity": "had too little cpu left (need 5000m)"}).items()
    )
    assert {"selector", "siteGroups", "taints", "devices", "locality", "policy"} <= passes.keys()
    with pytest.raises(KeyError):
        explain(snapshot, "big", "nowhere")
    with pytest.raises(KeyError):
        explain(snapshot, "nothing")


def test_spread_puts_each_replica_in_the_emptiest_region() -> None:
    sites = tuple(
        SiteView(f"{region}-{i}", {"region": region}, SitePhase.ONLINE)
        for region in ("eu", "us", "ap")
        for i in range(3)
    )
    app = AppView("a", False, 4, spread=(Spread("region"),))
    chosen = place(Snapshot((app,), sites, {}, {}))["a"].sites
    assert sorted(s.split("-")[0] for s in chosen) == ["ap", "ap", "eu", "us"]
    held = frozenset({"eu-0", "eu-1"})
    kept = place(Snapshot((app,), sites, {}, {"a": held}))["a"].sites
    assert held <= set(kept)
    assert sorted(s.split("-")[0] for s in kept) == ["ap", "eu", "eu", "us"]


SMALL = (
    SiteView("s1", {"zone": "a"}, SitePhase.ONLINE, cpu_millis=1000),
    SiteView("s2", {"zone": "b"}, SitePhase.ONLINE, cpu_millis=1000),
)


def test_higher_priority_displaces_lower_which_moves_elsewhere() -> None:
    low = AppView("low", False, 1, priority=1, cpu_millis=800)
    high = AppView("high", False, 1, priority=9, cpu_millis=800, selector=parse_selector("zone=a"))
    decisions = place(Snapshot((low, high), SMALL, {}, {"low": frozenset({"s1"})}))
    assert decisions["high"].sites == ("s1",)
    assert decisions["low"].sites == ("s2",)
    assert decisions["low"].preempted == (("s1", "high"),)
    assert decisions["high"].preempting == (("s1", "low"),)


def test_equal_priority_is_never_preempted() -> None:
    held = AppView("b-held", False, 1, priority=5, cpu_millis=800)
    newcomer = AppView(
        "a-new", False, 1, priority=5, cpu_millis=800, selector=parse_selector("zone=a")
    )
    decisions = place(Snapshot((held, newcomer), SMALL, {}, {"b-held": frozenset({"s1"})}))
    assert decisions["b-held"].sites == ("s1",)
    assert decisions["a-new"].sites == ()
    assert decisions["a-new"].reasons == (
        "1 site(s) did not match the selector",
        "1 site(s) had too little cpu left (need 800m)",
    )
    assert decisions["b-held"].preempted == ()


def test_lower_priority_never_displaces_higher() -> None:
    high = AppView("high", False, 1, priority=9, cpu_millis=800)
    low = AppView("low", False, 2, priority=1, cpu_millis=800)
    decisions = place(Snapshot((high, low), SMALL, {}, {"high": frozenset({"s2"})}))
    assert decisions["high"].sites == ("s2",)
    assert decisions["low"].sites == ("s1",)
    assert decisions["high"].preempted == ()


def test_ordered_site_groups_fill_the_first_then_overflow() -> None:
    sites = (
        SiteView("edge-1", {"tier": "edge"}, SitePhase.ONLINE),
        SiteView("edge-2", {"tier": "edge"}, SitePhase.ONLINE),
        SiteView("cloud-1", {"tier": "cloud"}, SitePhase.ONLINE),
        SiteView("cloud-2", {"tier": "cloud"}, SitePhase.ONLINE),
    )
    groups = {"edge": parse_selector("tier=edge"), "cloud": parse_selector("tier=cloud")}
    two = AppView("a", False, 2, site_groups=("edge", "cloud"))
    assert place(Snapshot((two,), sites, groups, {}))["a"].sites == ("edge-1", "edge-2")
    three = AppView("a", False, 3, site_groups=("edge", "cloud"))
    assert place(Snapshot((three,), sites, groups, {}))["a"].sites == (
        "cloud-1",
        "edge-1",
        "edge-2",
    )
    cloud_first = AppView("a", False, 1, site_groups=("cloud", "edge"))
    assert place(Snapshot((cloud_first,), sites, groups, {}))["a"].sites == ("cloud-1",)
    held = place(Snapshot((two,), sites, groups, {"a": frozenset({"cloud-2"})}))["a"]
    assert held.sites == ("cloud-2", "edge-1")  # what runs stays; the rest fills in order


def test_a_workload_goes_only_where_its_runtime_runs() -> None:
    """The runtime check: kubernetes workloads never land on process-only hosts, nor
    process workloads on clusters; a site declaring both takes either; explain says why."""
    sites = (
        SiteView("host", {}, SitePhase.ONLINE),
        SiteView("k3s", {}, SitePhase.ONLINE, runtimes=("kubernetes",)),
        SiteView("both", {}, SitePhase.ONLINE, runtimes=("kubernetes", "process")),
    )
    kube = AppView("shop", True, runtime="kubernetes")
    proc = AppView("agent", True)
    snapshot = Snapshot((kube, proc), sites, {}, {"shop": {"host"}})
    decisions = place(snapshot)
    assert decisions["shop"].sites == ("both", "k3s")
    assert decisions["shop"].reasons == ("1 site(s) run process, the workload is kubernetes",)
    assert decisions["agent"].sites == ("both", "host")
    assert decisions["agent"].reasons == ("1 site(s) run kubernetes, the workload is process",)
    verdicts = dict(explain(snapshot, "shop", "host").checks)
    assert verdicts["runtime"] == "run process, the workload is kubernetes"


def test_a_site_declaring_both_whose_agent_runs_one_gets_only_that_one() -> None:
    """What the agent reports bounds what the site declares: a process workload never
    goes to a site declaring both whose agent runs kubernetes only; explain says which."""
    obj = {
        "metadata": {"name": "k3s"},
        "spec": {"runtimes": ["process", "kubernetes"]},
        "status": {"phase": "Online", "inventory": {"runtime": "kubernetes"}},
    }
    sites = (site_view(obj), SiteView("host", {}, SitePhase.ONLINE))
    proc, kube = AppView("agent", True), AppView("shop", True, runtime="kubernetes")
    snapshot = Snapshot((proc, kube), sites, {}, {"agent": frozenset({"k3s"})})
    decisions = place(snapshot)
    why = "declare kubernetes and process but their agents run kubernetes only"
    assert decisions["agent"].sites == ("host",)
    assert decisions["agent"].reasons == (f"1 site(s) {why}",)
    assert decisions["shop"].sites == ("k3s",)
    assert dict(explain(snapshot, "agent", "k3s").checks)["runtime"] == why


@pytest.mark.parametrize(
    ("spec", "inventory", "expected"),
    [
        ({}, None, ("process",)),
        ({"runtime": "kubernetes"}, None, ("kubernetes",)),
        ({}, {"runtime": "kubernetes"}, ("kubernetes",)),
        ({"runtime": "process"}, {"runtime": "kubernetes"}, ()),
        (
            {"runtimes": ["process", "kubernetes"], "runtime": "process"},
            None,
            ("kubernetes", "process"),
        ),
        (
            {"runtimes": ["process", "kubernetes"]},
            {"runtime": "kubernetes"},
            ("kubernetes",),
        ),
        (
            {"runtimes": ["process", "kubernetes"]},
            {"runtime": "kubernetes", "runtimes": ["kubernetes", "process"]},
            ("kubernetes", "process"),
        ),
        ({"runtime": "kubernetes"}, {"runtimes": ["process", "kubernetes"]}, ("kubernetes",)),
        ({}, {"runtimes": ["process", "kubernetes"]}, ("kubernetes", "process")),
    ],
    ids=[
        "default",
        "spec-runtime",
        "reported",
        "declared-but-not-run",
        "declared-before-report",
        "agent-runs-one-of-two",
        "agent-runs-both",
        "agent-runs-more-than-declared",
        "reported-both",
    ],
)
def test_what_a_site_runs(
    spec: dict[str, Any], inventory: dict[str, Any] | None, expected: tuple[str, ...]
) -> None:
    obj = {"metadata": {"name": "s"}, "spec": spec, "status": {"inventory": inventory or {}}}
    assert site_runtimes(obj) == expected
