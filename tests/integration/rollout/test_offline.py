"""A site whose agent is away is skipped (the rollout does not wait for it) and gets
the new revision when it comes back."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.rollout.harness import (
    CANARY,
    V1,
    V2,
    at_revision,
    deploy,
    join,
    push_versions,
    ran,
    revisions,
    settled,
    update,
)
from tests.support.fleet import Fleet, endpoint, wait_for, who

pytestmark = pytest.mark.timeout(180)
STRATEGY = {
    "groups": [{"name": "canary", "siteGroup": CANARY}],
    "maxUnavailable": 1,
    "minSuccessSeconds": 1,
}


def test_an_offline_site_is_skipped_and_catches_up_when_it_returns(
    fleet: Fleet, ledger: Path
) -> None:
    push_versions(fleet, ledger, V1, V2)
    for site, ring in (("c1", "canary"), ("r1", None), ("r2", None)):
        join(fleet, site, ring)
    deploy(fleet, V1, {"c1", "r1", "r2"}, **STRATEGY)
    away = fleet.agents["r2"]
    away.stop()
    wait_for(lambda: fleet.site_phase("r2") == "Offline", "r2 Offline")

    update(fleet, V2, **STRATEGY)
    status = settled(fleet, 2)
    assert status["phase"] == "Succeeded", status
    assert status["waves"][-1]["name"] == "rest" and status["waves"][-1]["skipped"] == 1
    assert at_revision(fleet, {"c1", "r1"}, 2)
    assert revisions(fleet)["r2"][0] == 1 and "r2" not in ran(ledger, V2)

    away.start()
    wait_for(lambda: at_revision(fleet, {"c1", "r1", "r2"}, 2), "r2 caught up with revision 2")
    assert who(endpoint(fleet.assignments("web")["r2"]))["version"] == V2
    assert "r2" in ran(ledger, V2)
