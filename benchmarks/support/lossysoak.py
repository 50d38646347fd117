"""The lossy-link soak of ``benchmarks/failover.py``: sites on a link that loses 20 % of
its packets must not be declared lost.

As root with ``nft``: a hub and two agents inside a network namespace
(``tests/support/netns``) whose nftables drop 20 % of the TCP packets to the hub's port
and 20 % of those from it, so the kernel's TCP retransmits as on a real lossy link; the
benchmark reads the hub through a relay into the namespace (lossy too). Otherwise:
toxiproxy's emulation (``Proxy.lossy``: a share of connections stall, all data late).
Over ``seconds`` the sites are polled; at the end the hub's counter of sites marked
unreachable and the application's ``FailedOver`` events are read. Neighbours:
``failfleet`` (the sites and readings).
"""

from __future__ import annotations

import contextlib
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.support.failfleet import (
    SLEEPER,
    application,
    counter,
    events,
    join,
    phases,
    reader,
    running_at,
    site_group,
    the_one_site,
)
from tests.support.fleet import TRANSIENT, Fleet
from tests.support.netns import NetnsUnavailable, lossy_namespace
from tests.support.ports import free_port
from tests.support.toxiproxy import find_binary, running_toxiproxy

LOSS = 0.2
SITES = ["lossy-a", "lossy-b"]
POLL_SECONDS = 0.5
HEARTBEATS = 'route="/api/v1alpha1/sites/{site}/heartbeat"'


def heard(fleet: Fleet) -> float:
    """Heartbeats the hub answered so far."""
    return counter(fleet, "edgeplane_http_requests_total", HEARTBEATS)


def hold(fleet: Fleet, seconds: float) -> dict[str, Any]:
    """Poll the sites' phases for ``seconds``; which were ever seen not Online."""
    client = reader(fleet)
    try:
        home = the_one_site(client, "soaked")
        seen: set[str] = set()
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            with contextlib.suppress(*TRANSIENT):
                seen |= {s for s, p in phases(client, SITES).items() if p != "Online"}
            time.sleep(POLL_SECONDS)  # the sampling rate over a fixed soak
        return {"replica_at_start": home, "sites_seen_not_online": sorted(seen)}
    finally:
        client.close()


def outcome(fleet: Fleet, heard_before: float) -> dict[str, Any]:
    """What the hub says happened over the soak (read once the loss has ended)."""
    client = reader(fleet)
    try:
        marks = counter(fleet, "edgeplane_sites_unreachable_total")
        moved = events(client, "soaked")
        return {
            "false_failovers": int(marks),
            "failed_over_events": len(moved),
            "replica_at_end": sorted(running_at(client, "soaked")),
            "heartbeats_heard": int(
                counter(fleet, "edgeplane_http_requests_total", HEARTBEATS) - heard_before
            ),
        }
    finally:
        client.close()


def prepare(fleet: Fleet, period: float, urls: dict[str, str]) -> None:
    fleet.start_hub()
    fleet.ok("POST", "/sitegroups", site_group(period))
    for site in SITES:
        join(fleet, site, urls.get(site))
    fleet.ok("POST", "/applications", application("soaked", SLEEPER))


def soaked(
    fleet: Fleet, seconds: float, lossy: Callable[[], None], healthy: Callable[[], int | None]
) -> dict[str, Any]:
    """``lossy()`` for ``seconds``, then ``healthy()``; what happened meanwhile."""
    with reader(fleet) as client:
        the_one_site(client, "soaked")
    before = heard(fleet)
    lossy()
    try:
        found = hold(fleet, seconds)
    finally:
        dropped = healthy()
    return found | {"dropped_packets": dropped} | outcome(fleet, before)


def netns_soak(root: Path, seconds: float, period: float) -> dict[str, Any]:
    with lossy_namespace("epbench") as space:
        port = free_port()  # the namespace is new: any port is free in it
        with space.forward(port) as outside:
            fleet = Fleet(
                root,
                wrap=lambda argv: space.command(*argv),
                port=port,
                reached_at=f"http://127.0.0.1:{outside}",
            )
            try:
                prepare(fleet, period, {})

                def healthy() -> int:
                    dropped = space.dropped()
                    space.set_loss(port, 0)
                    return dropped

                found = soaked(fleet, seconds, lambda: space.set_loss(port, LOSS, True), healthy)
            finally:
                fleet.close()
    how = f"netns + nftables: {LOSS:.0%} of TCP packets to and from the hub dropped"
    return {"loss": how, **found}


def toxiproxy_soak(root: Path, seconds: float, period: float) -> dict[str, Any]:
    binary = find_binary(build=shutil.which("go") is not None)
    with running_toxiproxy(binary) as toxi:
        fleet = Fleet(root)
        proxies = {s: toxi.proxy(s, f"127.0.0.1:{fleet.port}") for s in SITES}
        try:
            prepare(fleet, period, {s: p.url for s, p in proxies.items()})

            def lossy() -> None:
                for p in proxies.values():
                    p.lossy(LOSS)

            def healthy() -> None:
                for p in proxies.values():
                    p.clear()  # toxiproxy counts no drops

            found = soaked(fleet, seconds, lossy, healthy)
        finally:
            fleet.close()
    how = f"toxiproxy emulation: {LOSS:.0%} of connections stall 5 s, data delayed"
    return {"loss": how, **found}


def soak(root: Path, seconds: float, period: float) -> dict[str, Any]:
    """The soak in a namespace when this process may make one, else through toxiproxy."""
    base = {"heartbeat_seconds": period, "seconds": seconds, "sites": len(SITES)}
    try:
        return base | netns_soak(root, seconds, period)
    except NetnsUnavailable as e:
        print(f"  no network namespace ({e}): toxiproxy instead", file=sys.stderr)
        return base | toxiproxy_soak(root, seconds, period)
