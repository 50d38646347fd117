"""Failback: when a site that came back may take back the replicas moved away from it.

An application with ``failover.failback: true`` prefers its original sites. When a lost
site returns, its replicas move back only once it has stayed healthy for a hold-down
period (``failover.holdDownSeconds``, ``DEFAULT_HOLD_DOWN_SECONDS`` when unset), so a
site that is back for a moment does not pull workloads over only to lose them again.

Hysteresis: a site that keeps coming back (a flapping link) waits longer each time. The
hold-down doubles for every further return within ``FLAP_WINDOW_SECONDS`` before the
latest (1 return: the base, 2: twice, 3: four times), up to ``MAX_HOLD_DOWN_FACTOR``
times the base. Returns older than the window do not count: a site that settled and
is lost again later waits the base again.

Pure: the caller keeps each site's recent returns (``record_return`` bounds them) and
asks with the hub's clock ``now``. Neighbours: ``health.failover`` (when replicas leave).
"""

from __future__ import annotations

from collections.abc import Sequence

from edgeplane.api.sites import RETURNS_MAX

DEFAULT_HOLD_DOWN_SECONDS = 60.0
"""A minute of health before replicas move back: several heartbeat periods and lease
renewals, long enough to see that a link is up for good rather than for a moment."""

MAX_HOLD_DOWN_FACTOR = 8
"""The longest hold-down, in bases (8 minutes by default): a flapping site waits, but a
site that has settled is not kept from its workloads for an hour."""

FLAP_WINDOW_SECONDS = 600.0
"""How far back returns count as flapping."""

DEFAULT_KEEP = RETURNS_MAX
"""Returns remembered per site, as many as a Site's ``status.returns`` holds: more than
enough to reach the longest hold-down."""


def flaps(returns: Sequence[float]) -> int:
    """How many returns came within ``FLAP_WINDOW_SECONDS`` before the latest one, not
    counting it: how often the site has flapped lately."""
    if not returns:
        return 0
    latest = max(returns)
    return sum(1 for at in returns if latest - at <= FLAP_WINDOW_SECONDS) - 1


def hold_down(base: float, returns: Sequence[float], now: float) -> float:
    """How long a returned site must stay healthy: ``base`` doubled for each return
    before the latest within the flap window, capped at ``base * MAX_HOLD_DOWN_FACTOR``.

    The window is anchored at the latest return, not at ``now`` (accepted for callers
    that ask at a time): the hold-down a return earns is fixed when it happens, so it
    can be shown ahead, and it cannot shrink while it runs as older returns age out (a
    site back three times in ten minutes waits the full four bases)."""
    del now  # the answer depends on the returns alone
    return base * min(1 << flaps(returns), MAX_HOLD_DOWN_FACTOR)


def back_at(returns: Sequence[float], base: float, now: float) -> float | None:
    """When replicas may move back: the last return plus its hold-down; None when the
    site never returned (it was never lost, or not since the caller remembers)."""
    if not returns:
        return None
    return max(returns) + hold_down(base, returns, now)


def may_fail_back(online: bool, returns: Sequence[float], base: float, now: float) -> bool:
    """Whether replicas may move back to the site now: it is online and its hold-down
    has passed. An online site with no recorded return is healthy as far as the caller
    knows (it never left, or the record was lost with a restart) and may take them."""
    if not online:
        return False
    at = back_at(returns, base, now)
    return at is None or now >= at


def record_return(
    returns: Sequence[float], at: float, keep: int = DEFAULT_KEEP
) -> tuple[float, ...]:
    """The returns with one more at ``at``, the newest ``keep`` of them. A return no
    newer than the last recorded is already there (the caller saw it twice), so
    recording is idempotent and flapping is never over-counted."""
    if keep < 1:
        raise ValueError(f"keep at least one return, not {keep}")
    if returns and at <= returns[-1]:
        return tuple(returns[-keep:])
    return (*returns, at)[-keep:]
