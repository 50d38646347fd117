"""A v2 that exits 1 stops at the canary wave and is rolled back by itself: v1 runs
everywhere again and no site beyond the canary was ever told to run v2 (nor started it);
a canary site that was offline meanwhile comes back to v1 and never runs v2."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.rollout.harness import (
    BAD,
    CANARY,
    V1,
    Sampler,
    at_revision,
    deploy,
    join,
    push_versions,
    ran,
    settled,
    update,
)
from tests.support.fleet import Fleet, endpoint, wait_for, who

pytestmark = pytest.mark.timeout(180)
STRATEGY = {
    "groups": [{"name": "canary", "siteGroup": CANARY}],
    "maxUnavailable": 1,
    "minSuccessSeconds": 1,
    "autoRollback": True,
    "failureThreshold": 0,
    "progressDeadlineSeconds": 30,
}


def test_a_v2_that_exits_stops_at_the_canary_and_is_rolled_back(fleet: Fleet, ledger: Path) -> None:
    push_versions(fleet, ledger, V1, BAD)
    canary, rest = {"c1", "c2"}, {"r1", "r2"}
    for site in sorted(canary):
        join(fleet, site, "canary")
    for site in sorted(rest):
        join(fleet, site)
    deploy(fleet, V1, canary | rest, **STRATEGY)

    with Sampler(fleet) as sampler:
        update(fleet, BAD, **STRATEGY)
        status = settled(fleet, 2)
        wait_for(lambda: at_revision(fleet, canary | rest, 1), "revision 1 Ready everywhere")

    assert status["phase"] == "RolledBack", status
    assert status["stableRevision"] == 1
    assert status["waves"][0]["name"] == "canary" and status["waves"][0]["phase"] == "Failed"
    assert status["failed"] and {f["site"] for f in status["failed"]} <= canary
    assert ran(ledger, BAD) and ran(ledger, BAD) <= canary
    assert sampler.told(2) and sampler.told(2) <= canary
    running = fleet.assignments("web")
    assert {who(endpoint(a))["version"] for a in running.values()} == {V1}


def test_a_canary_site_back_after_the_rollback_never_runs_the_rolled_back_revision(
    fleet: Fleet, ledger: Path
) -> None:
    push_versions(fleet, ledger, V1, BAD)
    for site, ring in (("c1", "canary"), ("c2", "canary"), ("r1", None)):
        join(fleet, site, ring)
    deploy(fleet, V1, {"c1", "c2", "r1"}, **STRATEGY)
    away = fleet.agents["c2"]
    away.stop()
    wait_for(lambda: fleet.site_phase("c2") == "Offline", "c2 Offline")

    with Sampler(fleet) as sampler:
        update(fleet, BAD, **STRATEGY)
        status = settled(fleet, 2)
        assert status["phase"] == "RolledBack", status
        away.start()
        wait_for(lambda: fleet.site_phase("c2") == "Online", "c2 Online again")
        wait_for(lambda: at_revision(fleet, {"c1", "c2", "r1"}, 1), "revision 1 Ready everywhere")

    assert "c2" not in sampler.told(2)
    assert ran(ledger, BAD) == {"c1"}
    assert who(endpoint(fleet.assignments("web")["c2"]))["version"] == V1
