"""v1 to v2 through a canary group and two waves, with real agents: each wave starts
only once the one before has passed, and never more sites are unavailable than
``maxUnavailable`` allows (a sampler counts them throughout)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.rollout.harness import (
    CANARY,
    EARLY,
    V1,
    V2,
    Sampler,
    at_revision,
    deploy,
    join,
    push_versions,
    settled,
    starts,
    update,
)
from tests.support.fleet import Fleet, endpoint, wait_for, who

pytestmark = pytest.mark.timeout(180)
RINGS = {"c1": "canary", "e1": "early", "e2": "early", "r1": None, "r2": None}
STRATEGY = {
    "groups": [{"name": "canary", "siteGroup": CANARY}, {"name": "early", "siteGroup": EARLY}],
    "maxUnavailable": 1,
    "minSuccessSeconds": 1,
}


def test_v2_reaches_the_canary_then_each_wave_in_turn_within_the_budget(
    fleet: Fleet, ledger: Path
) -> None:
    push_versions(fleet, ledger, V1, V2)
    for site, ring in RINGS.items():
        join(fleet, site, ring)
    sites = set(RINGS)
    deploy(fleet, V1, sites, **STRATEGY)

    with Sampler(fleet) as sampler:
        update(fleet, V2, **STRATEGY)
        status = settled(fleet, 2)
        wait_for(lambda: at_revision(fleet, sites, 2), "revision 2 Ready everywhere")

    assert status["phase"] == "Succeeded", status
    assert status["stableRevision"] == 2
    assert [(w["name"], w["phase"]) for w in status["waves"]] == [
        ("canary", "Passed"),
        ("early", "Passed"),
        ("rest", "Passed"),
    ]
    # maxUnavailable 1: one site at a time, and the sampler did see one updating.
    assert sampler.samples > 10
    assert sampler.most_unready == 1, sampler.most_unready
    # Each wave's first v2 start came after every start of the wave before it.
    v2 = {s.site: s.at for s in starts(ledger) if s.version == V2}
    assert set(v2) == sites
    canary, early, rest = ["c1"], ["e1", "e2"], ["r1", "r2"]
    assert max(v2[s] for s in canary) < min(v2[s] for s in early)
    assert max(v2[s] for s in early) < min(v2[s] for s in rest)
    running = fleet.assignments("web")
    assert {who(endpoint(a))["version"] for a in running.values()} == {V2}
