"""Site health v0: a site whose agent has not been heard from for
``offline_after_seconds`` is marked Offline. Agents mark themselves Online again.

Every time here is the hub's: a site is last heard from at the newer of its lease
(``hub.leases``: renewed by each heartbeat and status write, in memory, flushed by every
hub and loaded here before each check) and the ``lastHeartbeat`` stamped with the hub's
receive time when it writes its status (``hub.sitewrites``); ``creationTimestamp`` is the
store's. No lease counts as older than the health loop's start: a restarted hub (or a new
leader) gives every site ``offline_after_seconds`` to be heard from before it marks it,
however long it was down. A heartbeat dated in the future
(an older hub kept the agent's clock, or someone wrote it) proves nothing and counts as
none. A joined site that never reports (still Pending) is Offline once
``offline_after_seconds`` have passed since it joined, so it is not left waiting for
replicas it will never run.

A site whose nodes are all NotReady (``hub.sitewrites.cut_off``) is Offline too, with
the condition ``NodesReady`` False (reason ``NodesNotReady``): sites' own writes get the
rule as they are made, and this controller applies it to whatever else is stored (an
admin's write, an older hub's). The site's next write with a node Ready brings it back.

(The health issue adds failover: moving replicas of Offline sites elsewhere.)
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Protocol

from edgeplane.hub.controllers.loading import list_all
from edgeplane.hub.controllers.pacing import pause, retry_delay
from edgeplane.hub.leases import Leases
from edgeplane.hub.sitewrites import cut_off, nodes_checked
from edgeplane.store.errors import Conflict, NotFound
from edgeplane.store.protocol import Object, Store

log = logging.getLogger("edgeplane.hub.health")
CLOCK_SKEW_SECONDS = 5.0
"""How far ahead of this hub's clock another hub's stamp may be (several hubs share
one PostgreSQL); anything further ahead is no heartbeat."""


def seconds_since(stamp: str | None, now: float) -> float | None:
    at = parse_stamp(stamp)
    return None if at is None else now - at


def parse_stamp(stamp: str | None) -> float | None:
    """An RFC 3339 time as unix seconds; None when absent or unreadable."""
    if not stamp or not isinstance(stamp, str):
        return None
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except (ValueError, OverflowError, OSError):
        return None


def _heard(times: tuple[float | None, ...], now: float) -> float | None:
    """The newest of ``times`` that is no further ahead of ``now`` than the clock skew
    (a time in the future proves nothing and counts as none)."""
    valid = [t for t in times if t is not None and t - now <= CLOCK_SKEW_SECONDS]
    return max(valid) if valid else None


def _silent_for(times: tuple[float | None, ...], limit: float, now: float) -> bool:
    heard = _heard(times, now)
    return heard is None or now - heard > limit


def stale(site: Object, offline_after: float, now: float, lease: float | None = None) -> bool:
    """An Online site last heard from (its lease, or the ``lastHeartbeat`` its status
    write stamped, the newer) more than ``offline_after`` seconds ago (or only in the
    future), or a Pending one that has not reported since it joined."""
    status = site.get("status") or {}
    phase = status.get("phase")
    if phase == "Online":
        return _silent_for((parse_stamp(status.get("lastHeartbeat")), lease), offline_after, now)
    if phase == "Pending":
        since = status.get("lastHeartbeat") or site["metadata"].get("creationTimestamp")
        return _silent_for((parse_stamp(since), lease), offline_after, now)
    return False


def nodes_down(site: Object) -> bool:
    """An Online (or Pending) site that reports nodes, none of them Ready."""
    status = site.get("status") or {}
    return status.get("phase") in ("Online", "Pending") and cut_off(status)


async def mark_offline(
    store: Store,
    sites: Iterable[Object],
    offline_after: float,
    lease_of: Callable[[str], float | None] = lambda _: None,
) -> list[str]:
    """Mark stale sites, and sites whose nodes are all NotReady, Offline; the names
    marked. ``lease_of``: when each site was last heard from, as far as leases say."""
    marked, now = [], time.time()
    for site in list(sites):
        if stale(site, offline_after, now, lease_of(site["metadata"]["name"])):
            silent = "no heartbeat"
            if (site.get("status") or {}).get("phase") == "Pending":
                silent = "never reported since it joined"
            why = f"{silent} for {offline_after:.0f} s"
            status = {**(site.get("status") or {}), "phase": "Offline"}
        elif nodes_down(site):
            why, status = "no node Ready", nodes_checked(site.get("status") or {}, now)
        else:
            continue
        try:
            await store.replace_status({**site, "status": status})
        except (Conflict, NotFound):
            continue  # a heartbeat arrived meanwhile, or the site is gone
        log.warning("site %s: %s: Offline", site["metadata"]["name"], why)
        marked.append(site["metadata"]["name"])
    return marked


class SiteSource(Protocol):
    """What health reads of the informer (``hub.informer``): the cached Sites."""

    def items(self, kind: str) -> Mapping[str, Object]: ...


async def health_loop(
    store: Store,
    offline_after: float,
    stop: asyncio.Event,
    *,
    leases: Leases | None = None,
    informer: SiteSource | None = None,
) -> None:
    """Check every ``offline_after / 4`` seconds (0.5 to 5 s). Sites come from the
    informer's cache when given, else from the store; leases are loaded from the store
    first (what every hub has flushed)."""
    period, failures = max(0.5, min(5.0, offline_after / 4)), 0
    lease_of = _lease_reader(leases, time.time())
    while not stop.is_set():
        try:
            if leases is not None:
                await leases.load(store)
            sites = informer.items("Site").values() if informer else await list_all(store, "Site")
            await mark_offline(store, sites, offline_after, lease_of)
            failures = 0
        except Exception as e:  # a failed check must not end health checks
            failures += 1
            log.warning("health check failed (%s); retrying", e, exc_info=True)
        await pause(stop, max(period, retry_delay(failures)) if failures else period)


def _lease_reader(leases: Leases | None, started: float) -> Callable[[str], float | None]:
    """A site's lease, never older than when this health loop started: a hub that was
    down (or has just become the leader) heard from nobody meanwhile, and must not mark
    every site Offline at once for it: each gets ``offline_after`` to be heard from."""
    if leases is None:
        return lambda _: None
    return lambda name: max(leases.last(name) or started, started)
