"""Failover: when the replicas at a lost site may be placed elsewhere, and what to say.

An application's ``spec.failover`` becomes ``Terms``. Its replicas at a site the hub no
longer hears from may move ``after_seconds`` after the site's last heartbeat, by the
hub's clock (``DEFAULT_AFTER_SECONDS`` when unset). With ``fencing: Strict`` they wait
as well until the site's lease has certainly ended: the agent stops fenced workloads
before its lease ends, timed from when it *sent* the heartbeat that renewed it, which
is earlier than when the hub received it; so ``lease_seconds + LEASE_MARGIN_SECONDS``
after the hub's receive time, the original has stopped (``api.leases`` holds the rule
both sides keep). Without Strict the replacement starts at once: availability first,
and the returning site stops its copy.

These rules time the move; whether a site is lost at all is the detector's call
(``health.detector``), and where the replicas go is placement's. Pure: every time is
the hub's, passed in. Neighbours: ``health.failback`` (when they come back).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from edgeplane.api.applications import Failover, Fencing
from edgeplane.api.leases import LEASE_MARGIN_SECONDS
from edgeplane.health.failback import DEFAULT_HOLD_DOWN_SECONDS

DEFAULT_AFTER_SECONDS = 5.0
"""``failover.afterSeconds`` when unset. Users expect seconds, not Kubernetes' five
minutes: 5 s leaves room, within the 10 s goal, for placement and the new site to start
the replica. It need not guard against lossy links: the detector does (a site is lost
only once suspected), so this is the least time after the last heartbeat, not the
only check."""


@dataclass(frozen=True, slots=True)
class Terms:
    """An application's failover terms: how long after a site's last heartbeat its
    replicas may move, whether they are fenced singletons, whether and after what
    hold-down they move back."""

    after_seconds: float = DEFAULT_AFTER_SECONDS
    strict: bool = False
    failback: bool = False
    hold_down_seconds: float = DEFAULT_HOLD_DOWN_SECONDS


def terms_of(failover: Failover | None) -> Terms:
    """The terms an application's ``spec.failover`` sets, defaults for what it leaves
    unset."""
    if failover is None:
        return Terms()
    return Terms(
        after_seconds=_or(failover.after_seconds, DEFAULT_AFTER_SECONDS),
        strict=failover.fencing is Fencing.STRICT,
        failback=bool(failover.failback),
        hold_down_seconds=_or(failover.hold_down_seconds, DEFAULT_HOLD_DOWN_SECONDS),
    )


def _or(value: float | None, default: float) -> float:
    return default if value is None else float(value)


def due_at(last_heard: float, terms: Terms, lease_seconds: float) -> float:
    """When replicas at a site last heard at ``last_heard`` may move: ``after_seconds``
    later, and for fenced replicas not before the lease plus its margin has passed."""
    wait = terms.after_seconds
    if terms.strict:
        wait = max(wait, lease_seconds + LEASE_MARGIN_SECONDS)
    return last_heard + wait


def is_due(last_heard: float | None, terms: Terms, lease_seconds: float, now: float) -> bool:
    """Whether the replicas may move at ``now``. A site never heard from holds no lease
    and runs nothing the hub knows of: its replicas may move at once."""
    return last_heard is None or now >= due_at(last_heard, terms, lease_seconds)


def why(site: str, to: Sequence[str], silent_seconds: float) -> str:
    """The Application status event for a failover, e.g. ``failed over from A to B: no
    heartbeat for 12 s``."""
    dest = f" to {', '.join(to)}" if to else ""
    silence = f"no heartbeat for {silent_seconds:.0f} s"
    if math.isinf(silent_seconds):
        silence = "never heard from"
    return f"failed over from {site}{dest}: {silence}"
