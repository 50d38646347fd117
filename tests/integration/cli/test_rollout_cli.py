"""``edgeplane rollout`` against a real hub, its rollout controller and real agents: a
canary wave that waits for approval, pause and resume, ``status -w`` exiting 0 on
success and 1 on an abort, ``history``, and ``undo`` back to the revision before."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import Result

from tests.integration.cli.conftest import invoke
from tests.integration.rollout.harness import (
    CANARY,
    V1,
    V2,
    at_revision,
    deploy,
    groups,
    join,
    push_versions,
    rollout,
    update,
)
from tests.support.fleet import Fleet, wait_for

pytestmark = pytest.mark.timeout(240)
STRATEGY = {
    "groups": [{"name": "canary", "siteGroup": CANARY, "requireApproval": True}],
    "maxUnavailable": 1,
    "minSuccessSeconds": 0,
}
SITES = {"c1", "r1"}


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    fleet = Fleet(tmp_path)
    try:
        fleet.start_hub()
        groups(fleet)
        yield fleet
    finally:
        fleet.close()


def cli(fleet: Fleet, *args: str) -> Result:
    env = {"EDGEPLANE_SERVER": fleet.url, "EDGEPLANE_TOKEN": fleet.token}
    env["EDGEPLANE_CONFIG"] = str(fleet.root / "config.yaml")
    return invoke(env, "rollout", *args)


def phase_is(fleet: Fleet, revision: int, phase: str) -> dict[str, Any] | None:
    found = rollout(fleet)
    return found if (found.get("revision"), found.get("phase")) == (revision, phase) else None


def waits_for_approval(fleet: Fleet, revision: int) -> None:
    wait_for(lambda: phase_is(fleet, revision, "AwaitingApproval"), f"r{revision} awaiting")


def test_approve_pause_resume_watch_history_undo_abort(fleet: Fleet, tmp_path: Path) -> None:
    push_versions(fleet, tmp_path / "ledger.txt", V1, V2)
    for site, ring in (("c1", "canary"), ("r1", None)):
        join(fleet, site, ring)
    deploy(fleet, V1, SITES, **STRATEGY)
    update(fleet, V2, **STRATEGY)
    waits_for_approval(fleet, 2)

    shown = cli(fleet, "status", "web")
    assert shown.exit_code == 0, shown.output
    assert shown.stdout.splitlines()[0] == (
        "web: revision 2 (stable 1) AwaitingApproval, wave 1/2 (canary)"
    )
    assert shown.stdout.splitlines()[1].split()[:3] == ["WAVE", "PHASE", "PROGRESS"]

    paused = cli(fleet, "pause", "web")
    assert paused.stdout.startswith("web: rollout of revision 2 paused"), paused.output
    wait_for(lambda: phase_is(fleet, 2, "Paused"), "the rollout paused")
    assert cli(fleet, "resume", "web").exit_code == 0
    waits_for_approval(fleet, 2)

    unknown = cli(fleet, "approve", "web", "--wave", "nowhere")
    assert unknown.exit_code == 1
    assert "no wave 'nowhere'" in unknown.stderr and "0 (canary), 1 (rest)" in unknown.stderr
    approved = cli(fleet, "approve", "web", "--wave", "canary")
    assert approved.stdout == "web: rollout of revision 2 approved: wave canary\n"

    watched = cli(fleet, "status", "web", "-w", "--timeout", "2m")
    assert watched.exit_code == 0, watched.output
    assert watched.stdout.splitlines()[0] == "web: revision 2 Succeeded"
    assert at_revision(fleet, SITES, 2)

    history = cli(fleet, "history", "web").stdout.splitlines()
    assert history[0].split() == ["REVISION", "CREATED", "SITES", "CHANGE"]
    assert history[1].split()[:2] == ["2", "(target)"]
    assert history[1].split()[-1] == "workload" and history[2].split()[-1] == "initial"
    assert "2/2" in history[1].split()
    listed = json.loads(cli(fleet, "history", "web", "-o", "json").stdout)["items"]
    assert [r["spec"]["revision"] for r in listed] == [2, 1]

    undone = cli(fleet, "undo", "web")
    assert undone.stdout.startswith("web: set back to revision 1"), undone.output
    spec = fleet.ok("GET", "/applications/web")["spec"]
    assert spec["workload"]["process"]["artifacts"][0]["version"] == V1
    waits_for_approval(fleet, 1)  # revision 1 again, rolled out like any change

    assert cli(fleet, "abort", "web").stdout.startswith("web: rollout of revision 1 aborted")
    aborted = cli(fleet, "status", "web", "-w", "--timeout", "2m")
    assert aborted.exit_code == 1, aborted.output
    assert aborted.stdout.splitlines()[0].startswith("web: revision 1 (stable 2) Aborted")
    assert at_revision(fleet, SITES, 2)  # the stable one everywhere
