"""A lossy link is no lost site: the hub and two agents run in a network namespace whose
nftables drop 20 % of the packets to and from the hub's port (real loss: the agents'
requests, the hub's answers and the acknowledgements of both; the kernel's TCP
retransmits, so heartbeats arrive late and bunched) for ``SOAK_SECONDS`` at a 0.5 s
period, about 150 heartbeats a site. Nothing fails over: no site is ever marked Offline
(the hub's own counter of such marks stays 0 and no return is recorded), the replica
stays where it was placed, the same Assignment throughout, and the application has no
FailedOver event.

Both ways (``BOTH_WAYS``) since the agent sends heartbeats on a fixed beat: while each
waited for the one before, one held in TCP's retransmission backoff held up the next,
and a site was declared Offline after silences of 4-7 s (one run in five both ways, and
in CI one way too).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.integration.failover.harness import (
    PERIOD,
    Watch,
    events,
    hub_counter,
    join,
    ledger_app,
    pass_hub_time,
    running_at,
    site_status,
)
from tests.support.fleet import Fleet, wait_for
from tests.support.netns import LossyNamespace

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]
SITES = ("l-1", "l-2")
LOSS = 0.2
BOTH_WAYS = True
SOAK_SECONDS = 75.0
HEARTBEATS = "/api/v1alpha1/sites/{site}/heartbeat"


def look(fleet: Fleet) -> tuple[dict[str, str], dict[str, str]]:
    """Each site's phase, and the uid of the Assignment at each site."""
    sites = fleet.ok("GET", "/sites", params={"labelSelector": "failover-test=yes"})["items"]
    phases = {s["metadata"]["name"]: str((s.get("status") or {}).get("phase")) for s in sites}
    placed = {s: a["metadata"]["uid"] for s, a in fleet.assignments("calm").items()}
    return phases, placed


def heartbeats(fleet: Fleet) -> float:
    return hub_counter(fleet, "edgeplane_http_requests_total", route=HEARTBEATS)


def test_a_fifth_of_packets_lost_for_a_minute_fails_nothing_over(
    netns_fleet: Fleet, lossy_netns: LossyNamespace, tmp_path: Path
) -> None:
    fleet = netns_fleet
    for site in SITES:
        join(fleet, site)
    fleet.ok("POST", "/applications", ledger_app("calm", tmp_path / "ledger"))
    home = wait_for(lambda: running_at(fleet, "calm"), "calm running")
    before: tuple[dict[str, str], dict[str, Any]] = look(fleet)
    beats = heartbeats(fleet)

    lossy_netns.set_loss(fleet.port, LOSS, both_ways=BOTH_WAYS)
    began = time.time()
    with Watch(lambda: look(fleet), every=PERIOD) as watch:
        pass_hub_time(began + SOAK_SECONDS)
    dropped = lossy_netns.dropped()
    lossy_netns.set_loss(fleet.port, 0.0)

    assert dropped > 0, lossy_netns.rules()
    changed = [(at, seen) for at, seen in watch.seen if seen != before]
    assert watch.seen, f"no look answered: {watch.missed}"
    assert not changed, f"before the loss {before}; then {changed}"
    unreachable = hub_counter(fleet, "edgeplane_sites_unreachable_total")
    assert unreachable == 0, f"sites marked Offline {unreachable:.0f} time(s)"
    assert all(not site_status(fleet, site).get("returns") for site in SITES)
    assert events(fleet, "calm", "FailedOver") == []
    assert running_at(fleet, "calm") == home
    judged = heartbeats(fleet) - beats
    looks = f"{len(watch.seen)} looks ({len(watch.missed)} unanswered)"
    print(f"{judged:.0f} heartbeats judged, {dropped} packets dropped, {looks}")
