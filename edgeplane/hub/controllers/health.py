"""Site health: the controller that declares sites unreachable and marks them Offline.
The rules are ``health.liveness`` (pure): a site the failure detector suspects (its phi
at or past its terms' threshold, ``health.detector``), a site not heard from for
``offline_after_seconds`` (the hard bound), a Pending site that never reported since it
joined, a site whose nodes are all NotReady. This module reads the stored sites, their
leases and the detector, and writes what the rules decide.

An unreachable site is written in one status write: phase Offline, ``lastHeartbeat``
when it was last heard (its lease: failover is timed from it, so it is the real last
heartbeat, not the time of the mark), and the condition ``Reachable`` False (reason
``NoHeartbeat``, a message with the silence and the suspicion). Agents mark themselves
Online again (``hub.sitewrites`` records the return).

Leases (``hub.leases``) are renewed by each heartbeat and status write, in memory,
flushed by every hub and loaded here every ``LOAD_SECONDS``; the detector is fed beside
them. No silence counts from before the health loop started: a restarted hub (or a new
leader) gives every site ``offline_after_seconds`` to be heard from, and judges by the
detector only the sites it has heard since, however long it was down.

Checks run every half of the shortest heartbeat period among the sites (0.25 to 1 s,
and no longer than ``offline_after / 4``): a stopped site is found within a few
heartbeats. A check is a pass over the informer's cached Sites, a few microseconds each
(``benchmarks/health_check.py``; the figures are in docs/failover.md).

A check that runs later than it should by more than its own interval means the hub
itself did not run (an overloaded machine, the process paused): heartbeats that came
meanwhile wait unread, and every site would look silent. The detector does not count
the hub's last such stall as any site's silence (``Judge.stalled``); the hard bound
still does, so a hub that stalls without end still marks silent sites Offline.

A site whose nodes are all NotReady goes Offline with the condition ``NodesReady`` False
(reason ``NodesNotReady``, ``hub.sitewrites.nodes_checked``): sites' own writes get the
rule as they are made, and this controller applies it to whatever else is stored (an
admin's write, an older hub's). The site's next write with a node Ready brings it back.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from edgeplane.api.sites import SitePhase
from edgeplane.api.wire import Object
from edgeplane.health import liveness
from edgeplane.health.detector import DEFAULT_THRESHOLD, DOUBT_PHI, Detector
from edgeplane.hub.controllers.loading import list_all
from edgeplane.hub.controllers.pacing import pause, retry_delay
from edgeplane.hub.healthterms import SiteTerms
from edgeplane.hub.leases import LOAD_SECONDS, Leases
from edgeplane.hub.metrics import HubMetrics
from edgeplane.hub.sitewrites import (
    NO_HEARTBEAT,
    REACHABLE,
    condition,
    nodes_checked,
    rfc3339,
    with_condition,
)
from edgeplane.store.errors import Conflict, NotFound
from edgeplane.store.protocol import Store

log = logging.getLogger("edgeplane.hub.health")
CHECK_SECONDS_MIN, CHECK_SECONDS_MAX = 0.25, 1.0
YIELD_EVERY = 1000
"""Sites judged between turns of the event loop (a few milliseconds' worth)."""
_WATCHED = frozenset(phase.value for phase in liveness.WATCHED)


class Terms(Protocol):
    """What health reads of ``hub.healthterms.HealthTerms``: each site's terms."""

    def of(self, site: Object) -> SiteTerms: ...


def heard(
    site: Object, lease: float | None = None, watched_since: float | None = None
) -> liveness.Heard:
    """What the stored ``site`` and its ``lease`` say of it, for the liveness rules."""
    status = site.get("status") or {}
    return liveness.Heard(
        phase=liveness.phase_of(status.get("phase")),
        last_heartbeat=status.get("lastHeartbeat"),
        created=site["metadata"].get("creationTimestamp"),
        lease=lease,
        watched_since=watched_since,
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


def _cut_off(site: Object) -> bool:
    """``nodes_down`` for a site known to be Online or Pending."""
    inventory = (site.get("status") or {}).get("inventory") or {}
    return liveness.cut_off(inventory.get("nodes"), inventory.get("readyNodes"))


def _no_lease(_: str) -> float | None:
    return None


@dataclass
class Judge:
    """What a check judges each site by: the hard bound, leases, the detector and each
    site's terms (the hub's defaults without them); what the last check found."""

    offline_after: float
    lease_of: Callable[[str], float | None] = _no_lease
    detector: Detector | None = None
    terms: Terms | None = None
    watched_since: float | None = None
    suspected: int = field(default=0, init=False)
    shortest_period: float | None = field(default=None, init=False)
    stall: tuple[float, float] | None = field(default=None, init=False)
    """The hub's last stall (start, end; its clock), when its own checks ran late: what
    heartbeats arrived meanwhile waited unread, so that time is nobody's silence."""

    def stalled(self, start: float, end: float) -> None:
        """The hub did not run from ``start`` to ``end`` (an overloaded machine, a long
        pause of the process): the detector will not count that time as silence."""
        self.stall = (start, end)

    def verdict(self, site: Object, now: float) -> liveness.Unreachable | None:
        suspicion = self._suspicion(site, now)
        if suspicion is not None and suspicion.clears(self.offline_after):
            return None
        name = site["metadata"]["name"]
        seen = heard(site, self.lease_of(name), self.watched_since)
        return liveness.unreachable(seen, self.offline_after, now, suspicion)

    def _suspicion(self, site: Object, now: float) -> liveness.Suspicion | None:
        if self.detector is None:
            return None
        threshold = DEFAULT_THRESHOLD
        if self.terms is not None:
            terms = self.terms.of(site)
            threshold, period = terms.threshold, terms.heartbeat_seconds
            self.shortest_period = min(self.shortest_period or period, period)
        name = site["metadata"]["name"]
        silence = self.detector.silent_for(name, now)
        if silence is None or now - silence < (self.watched_since or -math.inf):
            # Not heard since the hub began watching: an older arrival (from before a
            # restart) says nothing of the silence since; the hard bound judges.
            return liveness.Suspicion(None, threshold)
        phi = self.detector.phi(name, now - self._blind(now - silence, now))
        self.suspected += phi is not None and phi >= DOUBT_PHI
        return liveness.Suspicion(phi, threshold, silence)

    def _blind(self, since: float, now: float) -> float:
        """Seconds of the hub's last stall between ``since`` and ``now``."""
        if self.stall is None:
            return 0.0
        start, end = self.stall
        return max(0.0, min(end, now) - max(start, since))

    def next_check(self) -> float:
        """Seconds to the next check: half the shortest period seen, within bounds."""
        half = CHECK_SECONDS_MAX if self.shortest_period is None else self.shortest_period / 2
        return max(CHECK_SECONDS_MIN, min(CHECK_SECONDS_MAX, self.offline_after / 4, half))


def offline_status(status: dict[str, Any], why: liveness.Unreachable, now: float) -> dict[str, Any]:
    """The status an unreachable site is written with: Offline, last heard when it was,
    ``Reachable`` False saying why."""
    gone = condition(REACHABLE, False, NO_HEARTBEAT, why.message, now)
    written = {**with_condition(status, gone), "phase": SitePhase.OFFLINE.value}
    if why.last_heard is not None:
        written["lastHeartbeat"] = rfc3339(why.last_heard)
    return written


async def mark_offline(
    store: Store,
    sites: Iterable[Object],
    offline_after: float,
    lease_of: Callable[[str], float | None] = _no_lease,
) -> list[str]:
    """Mark stale sites, and sites whose nodes are all NotReady, Offline; the names
    marked. ``lease_of``: when each site was last heard from, as far as leases say."""
    return await check(store, sites, Judge(offline_after, lease_of))


async def check(
    store: Store, sites: Iterable[Object], judge: Judge, metrics: HubMetrics | None = None
) -> list[str]:
    """One health check over ``sites``: mark the unreachable and those whose nodes are
    down Offline; the names marked. Counts what it found in ``judge`` and ``metrics``."""
    marked, now = [], time.time()
    judge.suspected, judge.shortest_period = 0, None
    for i, site in enumerate(list(sites)):
        if i % YIELD_EVERY == YIELD_EVERY - 1:
            await asyncio.sleep(0)  # heartbeats are answered meanwhile
        if (site.get("status") or {}).get("phase") not in _WATCHED:
            continue  # nothing to mark: the cheap test first, at 10,000 sites
        why = judge.verdict(site, now)
        if why is None and not _cut_off(site):
            continue
        if await _write(store, site, why, now):
            name = site["metadata"]["name"]
            if why is not None and metrics is not None:
                metrics.sites_unreachable.labels(why.cause.value).inc()
            log.warning("site %s: %s: Offline", name, why.message if why else "no node Ready")
            marked.append(name)
    if metrics is not None:
        metrics.sites_suspected.set(judge.suspected)
    return marked


async def _write(store: Store, site: Object, why: liveness.Unreachable | None, now: float) -> bool:
    status = site.get("status") or {}
    written = offline_status(status, why, now) if why else nodes_checked(status, now)
    try:
        await store.replace_status({**site, "status": written})
    except (Conflict, NotFound):
        return False  # a heartbeat arrived meanwhile, or the site is gone
    return True


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
    terms: Terms | None = None,
    metrics: HubMetrics | None = None,
) -> None:
    """Check every ``Judge.next_check`` seconds. Sites come from the informer's cache
    when given, else from the store; other hubs' leases are loaded from the store every
    ``LOAD_SECONDS``; the detector is the leases' (``hub.leases``)."""
    judge = Judge(
        offline_after,
        leases.last if leases is not None else _no_lease,
        leases.detector if leases is not None else None,
        terms,
        # Without leases (tests) the stored stamps are all there is to go by.
        watched_since=time.time() if leases is not None else None,
    )
    failures, loaded = 0, float("-inf")
    while not stop.is_set():
        try:
            if leases is not None and time.monotonic() - loaded >= LOAD_SECONDS:
                await leases.load(store)
                loaded = time.monotonic()
            sites = informer.items("Site").values() if informer else await list_all(store, "Site")
            await check(store, sites, judge, metrics)
            failures = 0
        except Exception as e:  # a failed check must not end health checks
            failures += 1
            log.warning("health check failed (%s); retrying", e, exc_info=True)
        period = judge.next_check()
        wait = max(period, retry_delay(failures)) if failures else period
        due = time.monotonic() + wait
        await pause(stop, wait)
        if (late := time.monotonic() - due) > period:
            # Heartbeats that came meanwhile are still unread: the stall is no silence.
            end = time.time()
            judge.stalled(end - late, end)
            log.info("health checks ran %.1f s late: not counted as sites' silence", late)
