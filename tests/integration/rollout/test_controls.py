"""An operator's hand on a rollout, with real agents: pause holds every site where it
is (a promote sent meanwhile waits for the resume), resume and promote (skip the
canary's long soak) carry it to the end, and abort sends every site back to the stable
revision at once."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.integration.rollout.harness import (
    CANARY,
    V1,
    V2,
    V3,
    Sampler,
    act,
    at_revision,
    deploy,
    join,
    passes,
    push_versions,
    ran,
    rollout,
    settled,
    update,
    wait_status,
)
from tests.support.fleet import Fleet, wait_for

pytestmark = pytest.mark.timeout(180)
STRATEGY = {
    "groups": [{"name": "canary", "siteGroup": CANARY}],
    "maxUnavailable": 1,
    "minSuccessSeconds": 3600,  # each wave soaks until promoted
}
SITES = {"c1", "r1", "r2"}


def soaking(fleet: Fleet, revision: int) -> None:
    """Wait until the canary runs ``revision``, Ready, and its wave soaks."""
    wait_for(lambda: at_revision(fleet, {"c1"}, revision), f"c1 Ready at revision {revision}")
    wait_status(
        fleet,
        lambda r: (
            r.get("revision") == revision
            and r.get("phase") == "Progressing"
            and (r.get("waves") or [{}])[0].get("phase") == "Soaking"
        ),
        f"the canary wave soaking revision {revision}",
    )


def test_pause_holds_resume_and_promote_finish_abort_goes_back(fleet: Fleet, ledger: Path) -> None:
    push_versions(fleet, ledger, V1, V2, V3)
    for site, ring in (("c1", "canary"), ("r1", None), ("r2", None)):
        join(fleet, site, ring)
    deploy(fleet, V1, SITES, **STRATEGY)

    with Sampler(fleet) as sampler:
        update(fleet, V2, **STRATEGY)
        soaking(fleet, 2)
        act(fleet, "pause")
        wait_status(fleet, lambda r: r.get("phase") == "Paused", "the rollout Paused")
        looked = passes(fleet)
        act(fleet, "promote")  # a word to the rollout wakes a pass: it must hold still
        wait_for(lambda: passes(fleet) > looked, "the hub to pass again while paused")
        assert rollout(fleet)["phase"] == "Paused"
        resumed = time.time()
        act(fleet, "resume")
        wait_status(
            fleet,
            lambda r: r.get("wave") == 1 and r["waves"][1].get("phase") == "Soaking",
            "the rest wave soaking",
        )
        act(fleet, "promote")  # the current wave's soak, too
        status = settled(fleet, 2)
        wait_for(lambda: at_revision(fleet, SITES, 2), "revision 2 Ready everywhere")

    assert status["phase"] == "Succeeded", status
    assert any("promoted" in line["message"] for line in status["story"]), status["story"]
    for site in ("r1", "r2"):  # held while paused, with the promote already sent
        assert sampler.seen[(site, 2)] > resumed, site

    with Sampler(fleet) as sampler:
        update(fleet, V3, **STRATEGY)
        soaking(fleet, 3)
        act(fleet, "abort")
        status = settled(fleet, 3)
        wait_for(lambda: at_revision(fleet, SITES, 2), "revision 2 Ready everywhere again")

    assert status["phase"] == "Aborted", status
    assert status["stableRevision"] == 2
    assert sampler.told(3) == {"c1"} and ran(ledger, V3) == {"c1"}
