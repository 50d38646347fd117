"""Liveness: whether the hub should hold a site Offline, from what it has heard of it.

Every time here is the hub's: a site is last heard from at the newer of its lease
(renewed by each heartbeat and status write) and the ``lastHeartbeat`` the hub stamped
with its receive time when the site wrote its status. A time further in the future than
the clock skew allowed between hubs proves nothing and counts as none (an older hub kept
the agent's clock, or someone wrote it). A joined site that never reports (still
Pending) is stale once the limit has passed since it joined, so it is not left waiting
for replicas it will never run. Offline and Cordoned sites are never stale: there is
nothing left to mark.

A site whose nodes are all NotReady is down too: the agent is fine but nothing runs
there (a node pool cut off from its central cluster).

Pure: the hub's health controller (``hub.controllers.health``) reads the stored sites
and leases, asks these rules, and writes the Offline it decides.
"""

from __future__ import annotations

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


def stale(site: Heard, limit: float, now: float) -> bool:
    """An Online site last heard from (its lease or its ``lastHeartbeat``, the newer)
    more than ``limit`` seconds ago, or only in the future; or a Pending site that has
    not reported for ``limit`` seconds since it joined."""
    if site.phase is SitePhase.ONLINE:
        since = site.last_heartbeat
    elif site.phase is SitePhase.PENDING:
        since = site.last_heartbeat or site.created
    else:
        return False
    last = newest((parse_stamp(since), site.lease), now)
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
    return next((phase for phase in SitePhase if phase == value), None)
