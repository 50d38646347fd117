"""The filter's metrics record (Nomad's AllocMetric): sites evaluated, filtered per
check, the reason histogram and the capacity dimensions exhausted, over a small fleet
where each site fails for a different reason."""

from __future__ import annotations

import numpy as np

from edgeplane.api.selectors import parse_selector
from edgeplane.api.sites import SitePhase
from edgeplane.placement.context import Caches, Context, Scope
from edgeplane.placement.filtering import feasible
from edgeplane.placement.fleet import Fleet
from edgeplane.placement.model import AppView, NoPolicies, SiteView, TaintView
from edgeplane.placement.reasons import Reasons

SITES = [
    SiteView("a-fits", {"region": "eu"}, SitePhase.ONLINE),
    SiteView("b-us", {"region": "us"}, SitePhase.ONLINE),
    SiteView("c-cordoned", {"region": "eu"}, SitePhase.CORDONED),
    SiteView(
        "d-tainted",
        {"region": "eu"},
        SitePhase.ONLINE,
        taints=(TaintView("gpu", "x", "NoSchedule"),),
    ),
    SiteView("e-no-cpu", {"region": "eu"}, SitePhase.ONLINE),
    SiteView("f-no-memory", {"region": "eu"}, SitePhase.ONLINE),
    SiteView("g-no-cpu-either", {"region": "eu"}, SitePhase.ONLINE),
]
CPU_LEFT = [4000, 4000, 4000, 4000, 100, 4000, 0]
MEMORY_LEFT = [2**31, 2**31, 2**31, 2**31, 2**31, 2**20, 2**20]


def test_the_metrics_count_each_site_under_its_first_failing_check() -> None:
    app = AppView(
        "web", False, 1, selector=parse_selector("region=eu"), cpu_millis=500, memory_bytes=2**28
    )
    fleet = Fleet(SITES)
    scope = Scope(fleet, {}, NoPolicies(), Caches(), Reasons())
    order = np.argsort([s.name for s in SITES])  # the fleet keeps sites by name
    room = (np.array(CPU_LEFT, float)[order], np.array(MEMORY_LEFT, float)[order])
    cand, metrics = feasible(Context(app, scope, np.zeros(len(SITES), bool), room))

    assert [fleet.names[i] for i in cand.tolist()] == ["a-fits"]
    assert metrics.evaluated == 7
    assert metrics.filtered == {"selector": 1, "phase": 1, "taints": 1, "capacity": 3}
    assert metrics.reasons == {
        "did not match the selector": 1,
        "are cordoned": 1,
        "had untolerated taint gpu=x:NoSchedule": 1,
        "had too little cpu left (need 500m)": 2,
        "had too little memory left (need 256Mi)": 1,
    }
    assert metrics.exhausted == {"cpu": 2, "memory": 1}
    assert {"selector", "siteGroups", "capacity", "policy"} <= metrics.checked
    assert metrics.lines()[0] == "1 site(s) are cordoned"
