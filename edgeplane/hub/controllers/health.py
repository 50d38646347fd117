"""Site health v0: a site whose agent has not been heard from for
``offline_after_seconds`` is marked Offline. Agents mark themselves Online again.

Every time here is the hub's: ``lastHeartbeat`` is stamped with the hub's receive time
when a site writes its status (``hub.sitewrites``), and ``creationTimestamp`` by the
store. A heartbeat dated in the future (an older hub kept the agent's clock, or
someone wrote it) proves nothing and counts as none. A joined site that never
reports (still Pending) is Offline once ``offline_after_seconds`` have passed since
it joined, so it is not left waiting for replicas it will never run.

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
from datetime import datetime

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
    if not stamp or not isinstance(stamp, str):
        return None
    try:
        return now - datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except (ValueError, OverflowError, OSError):
        return None


def _silent_for(stamp: str | None, limit: float, now: float) -> bool:
    age = seconds_since(stamp, now)
    return age is None or age > limit or age < -CLOCK_SKEW_SECONDS


def stale(site: Object, offline_after: float, now: float) -> bool:
    """An Online site whose last heartbeat is older than ``offline_after`` seconds (or
    in the future), or a Pending one that has not reported since it joined."""
    status = site.get("status") or {}
    phase = status.get("phase")
    if phase == "Online":
        return _silent_for(status.get("lastHeartbeat"), offline_after, now)
    if phase == "Pending":
        since = status.get("lastHeartbeat") or site["metadata"].get("creationTimestamp")
        return _silent_for(since, offline_after, now)
    return False


def nodes_down(site: Object) -> bool:
    """An Online (or Pending) site that reports nodes, none of them Ready."""
    status = site.get("status") or {}
    return status.get("phase") in ("Online", "Pending") and cut_off(status)


async def mark_offline(store: Store, sites: list[Object], offline_after: float) -> list[str]:
    """Mark stale sites, and sites whose nodes are all NotReady, Offline; the names
    marked."""
    marked, now = [], time.time()
    for site in sites:
        if stale(site, offline_after, now):
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


async def health_loop(
    store: Store, offline_after: float, stop: asyncio.Event, *, leases: Leases | None = None
) -> None:
    period, failures = max(0.5, min(5.0, offline_after / 4)), 0
    while not stop.is_set():
        try:
            await mark_offline(store, await list_all(store, "Site"), offline_after)
            failures = 0
        except Exception as e:  # a failed check must not end health checks
            failures += 1
            log.warning("health check failed (%s); retrying", e, exc_info=True)
        await pause(stop, max(period, retry_delay(failures)) if failures else period)
