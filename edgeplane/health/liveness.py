"""Liveness: whether the hub should hold a site Offline, from what it has heard of it.

Every time here is the hub's: a site is last heard from at the newer of its lease
(renewed by each heartbeat and status write) and the ``lastHeartbeat`` the hub stamped
with its receive time when the site wrote its status. A time further in the future than
the clock skew allowed between hubs proves nothing and counts as none (an older hub kept
the agent's clock, or someone wrote it). A joined site that never reports (still
Pending) is stale once the limit has passed since it joined, so it is not left waiting
for replicas it will never run. Offline and Cordoned sites are never stale: there is
nothing left to mark.

A site the failure detector (``health.detector``) suspects is unreachable before that
limit: its silence is unlikely for the heartbeats it used to send (phi at or past its
threshold). The limit stays as a hard bound for sites the detector has not heard since
the hub began watching (a restarted hub, a new leader). ``unreachable`` decides both and
says why, with what the Offline write records: when the site was last heard.

A site whose nodes are all NotReady is down too: the agent is fine but nothing runs
there (a node pool cut off from its central cluster).

Pure: the hub's health controller (``hub.controllers.health``) reads the stored sites
and leases, asks these rules, and writes the Offline it decides.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from edgeplane.api.sites import SitePhase

CLOCK_SKEW_SECONDS = 5.0
"""How far ahead of this hub's clock another hub's stamp may be (several hubs share
one PostgreSQL); anything further ahead is no heartbeat."""

WATCHED = frozenset({SitePhase.ONLINE, SitePhase.PENDING})
"""The phases a site can go Offline from."""


@dataclass(frozen=True, slots=True)
class Heard:
    """What the hub has heard of one site: its phase, its stamps (RFC 3339, as stored)
    and its lease (unix seconds by the hub's clock, None when it has none)."""

    phase: SitePhase | None
    last_heartbeat: str | None = None
    created: str | None = None
    lease: float | None = None
    watched_since: float | None = None
    """When the hub began watching (its health loop started): no silence counts from
    before it, so a hub that was down does not mark every site Offline at once."""


class Cause(enum.StrEnum):
    """Why a site is declared unreachable (the hub's metric labels these)."""

    SUSPECTED = "suspicion"
    """The detector's phi reached the site's threshold."""
    SILENT = "silence"
    """Not heard from for the hub's ``--offline-after-seconds``: the hard bound."""
    NEVER_REPORTED = "never_reported"
    """Pending, and never reported since it joined, for that long."""


@dataclass(frozen=True, slots=True)
class Suspicion:
    """What the detector says of a site: its phi and how long it has been silent (None
    when it has not heard the site since the hub began watching), and the threshold
    the site is judged at."""

    phi: float | None
    threshold: float
    silence: float | None = None

    def clears(self, limit: float) -> bool:
        """Whether this alone shows the site reachable: heard within ``limit`` and not
        suspected. The detector hears only what renews the lease, so the lease is at
        least that recent and the site is not stale either: the health check skips
        reading its stamps (most sites, most checks)."""
        heard = self.silence is not None and self.silence <= limit
        return heard and self.phi is not None and self.phi < self.threshold


@dataclass(frozen=True, slots=True)
class Unreachable:
    """A site declared unreachable: why, when it was last heard (unix seconds, the
    newest of its lease and stamp; None when never), how long it has been silent."""

    cause: Cause
    last_heard: float | None
    silence: float | None
    limit: float
    suspicion: Suspicion | None = None

    @property
    def message(self) -> str:
        """The ``Reachable`` condition's message: the silence and what judged it."""
        silent = (
            "no heartbeat" if self.silence is None else f"no heartbeat for {self.silence:.0f} s"
        )
        if self.cause is Cause.SUSPECTED and self.suspicion and self.suspicion.phi is not None:
            phi, threshold = self.suspicion.phi, self.suspicion.threshold
            return f"{silent} (suspicion {phi:.1f}, threshold {threshold:g})"
        if self.cause is Cause.NEVER_REPORTED:
            return f"never reported since it joined (the hub's limit is {self.limit:g} s)"
        return f"{silent} (the hub's limit is {self.limit:g} s)"


def unreachable(
    site: Heard, limit: float, now: float, suspicion: Suspicion | None = None
) -> Unreachable | None:
    """Whether an Online or Pending site is unreachable at ``now``: suspected (its phi
    at or past its threshold), or stale by ``limit`` (``stale``); None when neither."""
    if site.phase not in WATCHED:
        return None
    last = last_heard(site, now)
    silence = None if last is None else max(0.0, now - last)
    if suspicion is not None and suspicion.phi is not None and suspicion.phi >= suspicion.threshold:
        return Unreachable(Cause.SUSPECTED, last, silence, limit, suspicion)
    if not stale(site, limit, now):
        return None
    never = site.phase is SitePhase.PENDING and last is None
    return Unreachable(Cause.NEVER_REPORTED if never else Cause.SILENT, last, silence, limit)


def last_heard(site: Heard, now: float) -> float | None:
    """When the site was last heard from: the newer of its lease and its stamp (a time
    beyond the clock skew counts as none); None when never."""
    return newest((parse_stamp(site.last_heartbeat), site.lease), now)


def stale(site: Heard, limit: float, now: float) -> bool:
    """An Online site last heard from (its lease or its ``lastHeartbeat``, the newer)
    more than ``limit`` seconds ago, or only in the future; or a Pending site that has
    not reported for ``limit`` seconds since it joined. Nothing counts as older than
    ``site.watched_since`` when set."""
    if site.phase is SitePhase.ONLINE:
        since = site.last_heartbeat
    elif site.phase is SitePhase.PENDING:
        since = site.last_heartbeat or site.created
    else:
        return False
    last = newest((parse_stamp(since), site.lease), now)
    if site.watched_since is not None:
        last = max(last or site.watched_since, site.watched_since)
    return last is None or now - last > limit


def why_stale(site: Heard, limit: float) -> str:
    """Why a stale site goes Offline, for the hub's log."""
    silent = "no heartbeat"
    if site.phase is SitePhase.PENDING:
        silent = "never reported since it joined"
    return f"{silent} for {limit:.0f} s"


def newest(times: Iterable[float | None], now: float) -> float | None:
    """The newest of ``times`` no further ahead of ``now`` than the clock skew (a time
    in the future proves nothing and counts as none); None when there is none."""
    valid = [t for t in times if t is not None and t - now <= CLOCK_SKEW_SECONDS]
    return max(valid) if valid else None


def parse_stamp(stamp: object) -> float | None:
    """An RFC 3339 time as unix seconds; None when absent or unreadable."""
    if not stamp or not isinstance(stamp, str):
        return None
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except (ValueError, OverflowError, OSError):
        return None


def cut_off(nodes: object, ready: object) -> bool:
    """Whether a site has nodes (as its inventory reports them) and none is Ready."""
    return isinstance(nodes, int) and nodes > 0 and ready == 0


def nodes_down(phase: SitePhase | None, nodes: object, ready: object) -> bool:
    """An Online or Pending site that reports nodes, none of them Ready."""
    return phase in WATCHED and cut_off(nodes, ready)


def phase_of(value: object) -> SitePhase | None:
    """A stored ``status.phase`` as the API's enum; None when absent or unknown."""
    return _PHASES.get(value) if isinstance(value, str) else None


_PHASES = {phase.value: phase for phase in SitePhase}
