"""The site's lease with the hub, and self-fencing when it ends.

Each heartbeat the hub answers with phase Online renews the lease, timed from when the
heartbeat was *sent* (``api.leases``: the rule the hub keeps on its side). When the
lease is about to end without a renewal, the agent fences: every assignment with
``spec.fencing: Strict`` is stopped by the reconciler and stays stopped, whether the
hub is unreachable or answers that it holds the site Offline (it may have started the
replica elsewhere). Unfencing takes both a renewal after the fence and a complete list
of the assignments begun after that renewal, so a returning site has heard that a
replica moved before it can start anything. The agent lists again for that only when it
holds a Strict assignment (at the renewal, or when one arrives): a site without one
keeps following its stream, and any complete list begun after the renewal lifts it.

A freshly started agent is fenced (it may be restarting inside a partition) unless it
was not fenced when it stopped and the lease it held then still runs: the lease is kept
in local state by the monotonic clock, which a restart of the agent keeps and a reboot
does not (so it is kept with the boot's id).

Neighbours: ``agent.reporter`` (renews it), ``agent.sync`` (lists again when asked),
``agent.reconciler`` (leaves Strict assignments out while fenced), ``agent.state``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeGuard

from edgeplane.agent.state import LocalState, Object
from edgeplane.api.leases import fence_at, lease_seconds_for

log = logging.getLogger("edgeplane.agent.fencing")
FENCED_KEY = "fenced"
LEASE_KEY = "lease"
"""Local state: ``<boot id> <monotonic fence time>`` of the lease last renewed."""
SAVE_STEP_SECONDS = 1.0
"""How far the lease must have moved before it is written again: a restart reads one at
most this much older, which only fences sooner (a write per heartbeat is not needed)."""
PERIOD_BOUNDS = (0.5, 300.0)
BOOT_ID = Path("/proc/sys/kernel/random/boot_id")
FENCED_MESSAGE = (
    "stopped: the site's lease with the hub ended (failover.fencing Strict); it starts "
    "again once the hub has been heard and the assignments listed"
)
Clock = Callable[[], float]


def is_strict(obj: Object) -> bool:
    """Whether an assignment is fenced with its site (``spec.fencing: Strict``)."""
    spec = obj.get("spec")
    return isinstance(spec, dict) and spec.get("fencing") == "Strict"


@dataclass(frozen=True)
class Terms:
    """A site's heartbeat period and lease as the hub last said them; sent back in the
    heartbeat's query as they came, so the hub can answer 204."""

    heartbeat_seconds: float
    lease_seconds: float

    @property
    def period(self) -> float:
        low, high = PERIOD_BOUNDS
        return min(high, max(low, self.heartbeat_seconds))

    def query(self) -> dict[str, str]:
        return {
            "heartbeatSeconds": str(self.heartbeat_seconds),
            "leaseSeconds": str(self.lease_seconds),
        }


def terms_in(answer: Mapping[str, Any], held: Terms | None) -> Terms | None:
    """The terms a heartbeat's answer gives, ``held`` when it gives none (a 204, an
    older hub) or ones that are not positive numbers."""
    period, lease = answer.get("heartbeatSeconds"), answer.get("leaseSeconds")
    if not (_positive(period) and _positive(lease)):
        return held
    return Terms(period, lease)


def _positive(value: Any) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < math.inf


def lease_for(terms: Terms | None, period: float) -> float:
    """The lease a renewal holds: the hub's, or the rule's for the period beaten at."""
    return terms.lease_seconds if terms is not None else lease_seconds_for(period)


def this_boot() -> str | None:
    try:
        return BOOT_ID.read_text().strip() or None
    except OSError:
        return None


class Fence:
    """The lease and the fenced flag; ``run`` fences when the lease ends."""

    def __init__(
        self,
        state: LocalState,
        wake: asyncio.Event,
        relist: Callable[[], None],
        clock: Clock = time.monotonic,
        boot: str | None = None,
    ) -> None:
        self._state, self._wake, self._relist, self._clock = state, wake, relist, clock
        self._boot = boot if boot is not None else this_boot()
        self._saved = self._fence_at = self._kept_lease()
        self._heard: float | None = None  # the first renewal since fenced
        self._listing = False  # a relist asked and not yet done
        self._changed = asyncio.Event()
        kept = state.meta(FENCED_KEY) == "0" and not self.expired(clock())
        self.fenced = not kept
        self._save_flag()

    def expired(self, now: float) -> bool:
        """Whether fenced workloads must be stopped by ``now`` (no lease, or it ends)."""
        return self._fence_at is None or now >= self._fence_at

    def fence_at(self) -> float | None:
        return self._fence_at

    def renewed(self, sent_at: float, lease_seconds: float) -> None:
        """A heartbeat sent at ``sent_at`` was answered Online: the lease runs on."""
        at = fence_at(sent_at, lease_seconds)
        if self._fence_at is None or at > self._fence_at:
            self._fence_at = at
            self._save_lease(at)
        if self.fenced:
            self._heard = self._clock() if self._heard is None else self._heard
            self._relist_if_due()
        self._changed.set()

    def closed(self) -> bool:
        """Whether Strict assignments must stay stopped now (the reconciler asks at each
        pass); asks for the relist that lifts the fence once one is due."""
        if self.fenced:
            self._relist_if_due()
        return self.fenced

    def _relist_if_due(self) -> None:
        """List again when renewed since the fence and a Strict assignment is held; a
        site without one lists only when it would anyway (a restarted agent resumes
        its stream), and a list begun after the renewal for any reason lifts the fence."""
        if self._heard is None or self._listing:
            return
        if any(is_strict(obj) for obj in self._state.assignments().values()):
            self._listing = True
            self._relist()

    def listed(self, began_at: float) -> None:
        """A complete list of the assignments, begun at ``began_at``: unfence when it
        began after a renewal since the fence and the lease still runs."""
        self._listing = False
        heard = self._heard is not None and began_at >= self._heard
        if self.fenced and heard and not self.expired(self._clock()):
            log.info("lease renewed and assignments listed: fenced workloads may run")
            self._set(False)

    def check(self) -> float | None:
        """Fence when the lease has ended; how long until it ends (None: nothing to
        wait for, fenced or without a lease)."""
        now = self._clock()
        if not self.fenced and self.expired(now):
            log.warning("no heartbeat answered Online within the lease: fencing")
            self._set(True)
        if self.fenced or self._fence_at is None:
            return None
        return self._fence_at - now

    async def run(self) -> None:
        while True:
            self._changed.clear()
            delay = self.check()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._changed.wait()

    def _set(self, fenced: bool) -> None:
        self.fenced = fenced
        self._heard, self._listing = None, False
        self._save_flag()
        self._wake.set()
        self._changed.set()

    def _save_flag(self) -> None:
        self._state.set_meta(FENCED_KEY, "1" if self.fenced else "0")

    def _save_lease(self, at: float) -> None:
        if self._boot is None or (self._saved is not None and at - self._saved < SAVE_STEP_SECONDS):
            return
        self._saved = at
        self._state.set_meta(LEASE_KEY, f"{self._boot} {at!r}")

    def _kept_lease(self) -> float | None:
        """The lease kept by an earlier run of the agent in this boot."""
        kept = (self._state.meta(LEASE_KEY) or "").split()
        if self._boot is None or len(kept) != 2 or kept[0] != self._boot:
            return None
        try:
            return float(kept[1])
        except ValueError:
            return None
