"""A site lost whole: its agent and its workloads killed (SIGKILL, no goodbye). The hub
finds it silent, marks it Offline, and its replica runs at another site of the three,
with the move on the application's events and the new Assignment naming its home.
The ledger shows the replica really running at the new site."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.failover import ledger
from tests.integration.failover.harness import (
    events,
    join,
    ledger_app,
    moved_from,
    reachable,
    running_at,
    site_status,
)
from tests.support.fleet import Fleet, wait_for

pytestmark = pytest.mark.timeout(180)
SITES = ("k-1", "k-2", "k-3")


def wrote(path: Path, site: str) -> bool:
    return any(line.site == site for line in ledger.read(path))


def test_a_killed_site_and_its_workloads_run_at_another_site(fleet: Fleet, tmp_path: Path) -> None:
    for site in SITES:
        join(fleet, site)
    book = tmp_path / "ledger"
    fleet.ok("POST", "/applications", ledger_app("solo", book))
    home = wait_for(lambda: running_at(fleet, "solo"), "solo running")
    wait_for(lambda: wrote(book, home), f"the ledger written at {home}")

    agent = fleet.agents[home]
    agent.kill9()
    assert agent.kill_leftovers(), f"the workload at {home} was killed with its agent"

    other = wait_for(lambda: moved_from(fleet, "solo", home), "solo running elsewhere", 120)
    assert other in SITES
    wait_for(lambda: wrote(book, other), f"the ledger written at {other}")
    assignment = fleet.assignments("solo")[other]
    assert assignment["spec"]["failedOverFrom"] == home

    status = site_status(fleet, home)
    assert status["phase"] == "Offline"
    assert reachable(status)["reason"] == "NoHeartbeat"
    moves = events(fleet, "solo", "FailedOver")
    prefix = f"failed over from {home} to {other}: no heartbeat for "
    assert [m for m in moves if m.startswith(prefix) and m.endswith(" s")], moves
