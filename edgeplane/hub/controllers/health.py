"""Site health v0: the controller that marks sites Offline. The rules are
``health.liveness`` (pure): a site not heard from for ``offline_after_seconds``, a
Pending site that never reported since it joined, a site whose nodes are all NotReady.
This module reads the stored sites and leases for them and writes what they decide.
Agents mark themselves Online again.

Leases (``hub.leases``) are renewed by each heartbeat and status write, in memory,
flushed by every hub and loaded here before each check; ``lastHeartbeat`` is stamped
with the hub's receive time when a site writes its status (``hub.sitewrites``). No
lease counts as older than the health loop's start: a restarted hub (or a new leader)
gives every site ``offline_after_seconds`` to be heard from before it marks it, however
long it was down.

A site whose nodes are all NotReady goes Offline with the condition ``NodesReady`` False
(reason ``NodesNotReady``, ``hub.sitewrites.nodes_checked``): sites' own writes get the
rule as they are made, and this controller applies it to whatever else is stored (an
admin's write, an older hub's). The site's next write with a node Ready brings it back.

(The health issue adds failover: moving replicas of Offline sites elsewhere.)
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Protocol

from edgeplane.api.sites import SitePhase
from edgeplane.api.wire import Object
from edgeplane.health import liveness
from edgeplane.hub.controllers.loading import list_all
from edgeplane.hub.controllers.pacing import pause, retry_delay
from edgeplane.hub.leases import Leases
from edgeplane.hub.sitewrites import nodes_checked
from edgeplane.store.errors import Conflict, NotFound
from edgeplane.store.protocol import Store

log = logging.getLogger("edgeplane.hub.health")


def heard(site: Object, lease: float | None = None) -> liveness.Heard:
    """What the stored ``site`` and its ``lease`` say of it, for the liveness rules."""
    status = site.get("status") or {}
    return liveness.Heard(
        phase=liveness.phase_of(status.get("phase")),
        last_heartbeat=status.get("lastHeartbeat"),
        created=site["metadata"].get("creationTimestamp"),
        lease=lease,
    )


def stale(site: Object, offline_after: float, now: float, lease: float | None = None) -> bool:
    """Whether the stored ``site`` is stale (``liveness.stale``)."""
    return liveness.stale(heard(site, lease), offline_after, now)


def nodes_down(site: Object) -> bool:
    """Whether the stored ``site`` is Online or Pending with no node Ready."""
    status = site.get("status") or {}
    inventory = status.get("inventory") or {}
    phase = liveness.phase_of(status.get("phase"))
    return liveness.nodes_down(phase, inventory.get("nodes"), inventory.get("readyNodes"))


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
        seen = heard(site, lease_of(site["metadata"]["name"]))
        if liveness.stale(seen, offline_after, now):
            why = liveness.why_stale(seen, offline_after)
            status = {**(site.get("status") or {}), "phase": SitePhase.OFFLINE.value}
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
