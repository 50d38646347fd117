"""A site outside its maintenance window keeps the old revision (it does not block the
rollout), and the rollout status says why it waits."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.rollout.harness import (
    CANARY,
    V1,
    V2,
    WINDOWED,
    at_revision,
    closed_window,
    deploy,
    join,
    push_versions,
    ran,
    revisions,
    site_group,
    update,
    wait_status,
)
from tests.support.fleet import Fleet, wait_for

pytestmark = pytest.mark.timeout(180)
STRATEGY = {
    "groups": [{"name": "canary", "siteGroup": CANARY}],
    "maxUnavailable": 1,
    "minSuccessSeconds": 1,
}


def test_a_site_outside_its_window_keeps_the_old_revision_and_the_status_says_so(
    fleet: Fleet, ledger: Path
) -> None:
    window = closed_window()
    held = site_group(WINDOWED, {"window": "night"}, maintenanceWindows=[window])
    fleet.ok("POST", "/sitegroups", held)
    push_versions(fleet, ledger, V1, V2)
    join(fleet, "c1", "canary")
    join(fleet, "r1")
    join(fleet, "w1", window="night")
    deploy(fleet, V1, {"c1", "r1", "w1"}, **STRATEGY)

    update(fleet, V2, **STRATEGY)
    status = wait_status(
        fleet,
        lambda r: (
            r.get("revision") == 2
            and any("maintenance window" in line for line in r.get("waiting") or [])
        ),
        "the rollout saying a site waits for its maintenance window",
    )
    wait_for(lambda: at_revision(fleet, {"c1", "r1"}, 2), "revision 2 Ready at c1 and r1")
    assert revisions(fleet)["w1"] == (1, True)
    assert "w1" not in ran(ledger, V2)
    assert any("1 site(s)" in line for line in status["waiting"]), status["waiting"]
