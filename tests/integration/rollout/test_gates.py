"""A rollout's HTTP gate with real agents: a v2 that runs and passes its health check
but answers its gate with 503 is failed by the agents' Gate condition at the canary,
and rolled back; a v2 that answers it passes."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.rollout.harness import (
    CANARY,
    GATE_FAILS,
    V1,
    V2,
    Sampler,
    at_revision,
    deploy,
    join,
    push_versions,
    ran,
    settled,
    update,
)
from tests.support.fleet import Fleet, wait_for

pytestmark = pytest.mark.timeout(180)
STRATEGY = {
    "groups": [{"name": "canary", "siteGroup": CANARY}],
    "maxUnavailable": 1,
    "minSuccessSeconds": 30,  # far longer than three failed checks 3 s apart
    "autoRollback": True,
    "gates": {"http": {"path": "/gate", "port": "http", "timeoutSeconds": 1}},
}
SITES = {"c1", "r1"}


def gate_of(fleet: Fleet, site: str) -> dict[str, object] | None:
    status = fleet.assignments("web")[site].get("status") or {}
    found = [c for c in status.get("conditions") or [] if c.get("type") == "Gate"]
    return found[0] if found else None


def test_a_v2_whose_gate_fails_is_rolled_back_at_the_canary(fleet: Fleet, ledger: Path) -> None:
    push_versions(fleet, ledger, V1, GATE_FAILS)
    join(fleet, "c1", "canary")
    join(fleet, "r1")
    deploy(fleet, V1, SITES, **STRATEGY)

    with Sampler(fleet) as sampler:
        update(fleet, GATE_FAILS, **STRATEGY)
        status = settled(fleet, 2)
        wait_for(lambda: at_revision(fleet, SITES, 1), "revision 1 Ready everywhere")

    assert status["phase"] == "RolledBack", status
    (failed,) = status["failed"]
    assert failed["site"] == "c1" and "answered 503" in failed["reason"], failed
    assert sampler.told(2) == {"c1"} and ran(ledger, GATE_FAILS) == {"c1"}


def test_a_v2_that_answers_its_gate_passes_and_says_so(fleet: Fleet, ledger: Path) -> None:
    push_versions(fleet, ledger, V1, V2)
    join(fleet, "c1", "canary")
    join(fleet, "r1")
    deploy(fleet, V1, SITES, **{**STRATEGY, "minSuccessSeconds": 1})

    update(fleet, V2, **{**STRATEGY, "minSuccessSeconds": 1})
    status = settled(fleet, 2)
    assert status["phase"] == "Succeeded", status
    for site in SITES:
        gate = wait_for(lambda s=site: gate_of(fleet, s), f"the Gate condition of {site}")
        assert (gate["status"], gate["reason"]) == ("True", "GatePassed"), gate
