"""A flapping site does not bounce its replica: the home site of an application with
``failback: true`` is cut and healed three times in a row (toxiproxy). Its replica
moves away at the first loss and stays away while the site flaps, although the site's
second and third spells online outlast the plain hold-down (it doubles with each
return within ten minutes); once the site settles, the replica goes home.

The sites heartbeat for ``SETTLE_SECONDS`` (30 periods) before the first cut: a new
site's detector history assumes a lossy link at first (docs/failover.md), and a loss
found later than the hold-down would let the replica go back to a site already cut
off, which is not what this test is about. Each cut lasts ``CUT_SECONDS``, longer than
ten periods, so the detector does not learn the silences as intervals either.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.integration.failover.conftest import Links
from tests.integration.failover.harness import (
    PERIOD,
    Watch,
    events,
    join,
    latest_return,
    ledger_app,
    moved_from,
    pass_hub_time,
    running_at,
    site_status,
)
from tests.support.fleet import Fleet, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]
SITES = ("f-1", "f-2")
HOLD_DOWN = 5.0
CUT_SECONDS = 5.5
SETTLE_SECONDS = 30 * PERIOD + 1
BEYOND = 0.5
"""How far past a hold-down (as counted from the stamp) a spell online lasts: the hub
counts it from the end of the stamped second, so the replica is not home yet then."""


def cut(fleet: Fleet, links: Links, site: str) -> None:
    """Cut the site off until the hub holds it Offline and ``CUT_SECONDS`` have passed."""
    links[site].cut()
    began = time.time()
    wait_for(lambda: fleet.site_phase(site) == "Offline", f"{site} Offline", 90)
    pass_hub_time(began + CUT_SECONDS)


def heal(links: Links, fleet: Fleet, site: str, after: float | None) -> float:
    """Heal the site's link; when the hub recorded it back (newer than ``after``)."""
    links[site].heal()
    return wait_for(lambda: latest_return(fleet, site, after), f"{site} back", 90)


def test_a_flapping_site_does_not_pull_its_replica_back(
    fleet: Fleet, links: Links, tmp_path: Path
) -> None:
    for site in SITES:
        join(fleet, site, hub_url=links.add(site).url)
    joined = time.time()
    app = ledger_app("steady", tmp_path / "ledger", afterSeconds=1, failback=True)
    app["spec"]["failover"]["holdDownSeconds"] = HOLD_DOWN
    fleet.ok("POST", "/applications", app)
    home = wait_for(lambda: running_at(fleet, "steady"), "steady running")
    pass_hub_time(joined + SETTLE_SECONDS)

    cut(fleet, links, home)
    other = wait_for(lambda: moved_from(fleet, "steady", home), "steady moved", 90)
    with Watch(lambda: set(fleet.assignments("steady"))) as where:
        first = heal(links, fleet, home, None)
        cut(fleet, links, home)  # online for less than the hold-down
        second = heal(links, fleet, home, first)
        pass_hub_time(second + HOLD_DOWN + BEYOND)
        assert running_at(fleet, "steady") == other, "back after one hold-down, not two"
        cut(fleet, links, home)
        third = heal(links, fleet, home, second)
        pass_hub_time(third + 2 * HOLD_DOWN + BEYOND)
        assert running_at(fleet, "steady") == other, "back after two hold-downs, not four"
    elsewhere = [(at, sites) for at, sites in where.seen if sites != {other}]
    assert where.seen and not elsewhere, f"the replica was not at {other} alone: {elsewhere}"
    assert len(site_status(fleet, home)["returns"]) == 3

    # The site has settled: after four hold-downs since its last return, it is home.
    wait_for(lambda: running_at(fleet, "steady") == home, f"steady back at {home}", 90)
    assert events(fleet, "steady", "FailedBack") == [
        f"failed back from {other} to {home}: {home} healthy for its hold-down"
    ]
