"""Site leases: the one rule both sides of fencing keep, the hub and the agent.

A heartbeat the hub answers renews the site's lease for ``leaseSeconds`` (the hub says
how long in its answer). The agent times its lease from when it *sent* that heartbeat,
which is before the hub received it, and begins stopping its fenced workloads
(``failover.fencing: Strict``) ``FENCE_MARGIN_SECONDS`` before the lease ends, so they
are stopped when it ends. The hub times the same lease from when it *received* the
heartbeat and starts a replacement only ``LEASE_MARGIN_SECONDS`` after it ends (the
two clocks may run at slightly different rates). So the replacement starts after the
original stopped, whatever the network did in between.

Pure constants and arithmetic, no imports of the rest of edgeplane: the agent reads it
(``agent.fencing``), and so does the hub's side (``health.failover``).
"""

from __future__ import annotations

LEASE_MARGIN_SECONDS = 1.0
"""How long after a lease ends, by the hub's clock, a fenced replacement may start."""

FENCE_MARGIN_SECONDS = 2.0
"""How long before its lease ends the agent begins stopping fenced workloads: their
stop (SIGTERM, then SIGKILL at the grace period) must fit in it."""

HEARTBEATS_PER_LEASE = 3
"""A lease outlasts this many heartbeat periods: one lost or late heartbeat on a lossy
link never fences anything."""

MIN_LEASE_SECONDS = 3.0


def lease_seconds_for(heartbeat_seconds: float) -> float:
    """The lease a site heartbeating every ``heartbeat_seconds`` holds."""
    return max(MIN_LEASE_SECONDS, HEARTBEATS_PER_LEASE * heartbeat_seconds)


def fence_at(renewal_sent: float, lease_seconds: float) -> float:
    """When the agent begins stopping fenced workloads: before the lease it renewed by
    a heartbeat sent at ``renewal_sent`` (its monotonic clock) ends."""
    return renewal_sent + lease_seconds - min(FENCE_MARGIN_SECONDS, lease_seconds / 3)
