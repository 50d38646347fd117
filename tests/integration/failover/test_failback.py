"""Failback: an application with ``failover.failback: true`` loses its home site (cut
off through toxiproxy), its replica moves, and once the site is back and has stayed
up for the hold-down the replica runs at home again, and only there: the ledger's
newest lines all come from home (the other site's copy stopped)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.failover import ledger
from tests.integration.failover.conftest import Links
from tests.integration.failover.harness import (
    events,
    join,
    latest_return,
    ledger_app,
    moved_from,
    running_at,
)
from tests.support.fleet import Fleet, wait_for

pytestmark = pytest.mark.timeout(180)
SITES = ("b-1", "b-2")
HOLD_DOWN = 3
TAIL = 20
"""Newest ledger lines that must all be home's (about 2 s of writing)."""


def only_at(path: Path, site: str) -> bool:
    """Whether the ledger's newest ``TAIL`` lines were all written at ``site``."""
    tail = ledger.read(path)[-TAIL:]
    return len(tail) == TAIL and {line.site for line in tail} == {site}


def test_a_replica_goes_home_once_its_site_has_been_back_for_the_hold_down(
    fleet: Fleet, links: Links, tmp_path: Path
) -> None:
    for site in SITES:
        join(fleet, site, hub_url=links.add(site).url)
    book = tmp_path / "ledger"
    app = ledger_app("homing", book, failback=True, holdDownSeconds=HOLD_DOWN)
    fleet.ok("POST", "/applications", app)
    home = wait_for(lambda: running_at(fleet, "homing"), "homing running")

    links[home].cut()
    other = wait_for(lambda: moved_from(fleet, "homing", home), "homing running elsewhere", 120)
    assert fleet.assignments("homing")[other]["spec"]["failedOverFrom"] == home
    links[home].heal()
    back = wait_for(lambda: latest_return(fleet, home), f"{home} back")

    wait_for(lambda: running_at(fleet, "homing") == home, f"homing back at {home}", 120)
    wait_for(lambda: only_at(book, home), f"the ledger written at {home} alone")
    assert set(fleet.assignments("homing")) == {home}
    moves = events(fleet, "homing", "FailedBack")
    assert moves == [f"failed back from {other} to {home}: {home} healthy for its hold-down"]
    assert latest_return(fleet, home) == back, "the site came back once"
