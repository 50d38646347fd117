"""Which hub runs the controllers: a leader lease in the store.

Several hubs may share one PostgreSQL; each serves any agent and any client, but the
controllers (placement, health) run on one of them at a time, the holder of the
store's leader lease (``Store.claim_leader``, timed by the database's clock). A hub
claims the lease when it is free or has ended and renews it every third of its length;
it stops leading at once when a renewal fails or finds another holder, and at the
latest when its own lease would end by its last successful renewal (a hub cut off from
the database stops before another can take over). A hub stopping cleanly releases the
lease, so the next one takes over at once instead of a lease period later.

On SQLite there is one hub: it leads from the start (``solo``) without claiming
anything, so a restarted hub never waits for the lease of the process it replaces.

Neighbours: ``hub.server`` runs ``Leadership.run`` with the controllers as what to do
while leading; ``store.leadership_sql`` holds the lease table.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

from prometheus_client import CollectorRegistry, Gauge

from edgeplane.hub.controllers.pacing import pause, retry_delay
from edgeplane.store.errors import StoreError
from edgeplane.store.protocol import LeaderLease, Store

log = logging.getLogger("edgeplane.hub.leadership")
LEASE_SECONDS_MIN, LEASE_SECONDS_MAX, LEASE_SECONDS_DEFAULT = 3.0, 300.0, 15.0
RELEASE_SECONDS = 5.0
FOLLOW_SECONDS = 1.0
"""How often a hub that does not lead claims the lease (a refused claim writes nothing)."""
STOP_MARGIN = 0.1
"""Of the lease: how early a hub that cannot renew stops leading."""

Lead = Callable[[asyncio.Event], Coroutine[Any, Any, None]]
"""What a hub does while it leads: runs until the event it is given is set."""


def check_lease_seconds(seconds: float) -> float:
    """The lease length (``--lease-seconds``) within its bounds, or a ValueError saying
    what to use."""
    if not LEASE_SECONDS_MIN <= seconds <= LEASE_SECONDS_MAX:
        raise ValueError(
            f"use {LEASE_SECONDS_MIN:g} to {LEASE_SECONDS_MAX:g} seconds (default "
            f"{LEASE_SECONDS_DEFAULT:g}): the leader renews its lease every third of it, and "
            "the controllers wait at most that long for a new leader when one dies"
        )
    return seconds


class Leadership:
    """This hub's part in the leader lease; ``leading`` says whether it runs the
    controllers now (readyz and the ``edgeplane_hub_leader`` gauge show it)."""

    def __init__(
        self,
        store: Store,
        hub_id: str,
        lease_seconds: float,
        *,
        solo: bool = False,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.store, self.hub_id, self.solo = store, hub_id, solo
        self.lease_seconds = check_lease_seconds(lease_seconds)
        self.holder: str | None = None
        """The leader as last seen (this hub or another); None when unknown or none."""
        self._deadline = 0.0  # monotonic: when this hub's lease ends by its last renewal
        self._gauge = Gauge(
            "edgeplane_hub_leader",
            "1 while this hub holds the leader lease and runs the controllers",
            registry=registry,
        )

    @property
    def leading(self) -> bool:
        return self.holder == self.hub_id

    @property
    def renew_seconds(self) -> float:
        return self.lease_seconds / 3

    async def run(self, stop: asyncio.Event, lead: Lead) -> None:
        """Until ``stop``: claim the lease, and run ``lead`` for as long as it is held."""
        if self.solo:
            self._set_holder(self.hub_id)
            try:
                await lead(stop)
            finally:
                self._set_holder(None)
            return
        try:
            await self._contend(stop, lead)
        finally:
            await self._release()

    async def _contend(self, stop: asyncio.Event, lead: Lead) -> None:
        failures = 0
        while not stop.is_set():
            lease = await self._claim(self.renew_seconds)
            failures = 0 if lease is not None else failures + 1
            if lease is not None and lease.held_by(self.hub_id):
                log.warning("hub %s leads: the controllers run here", self.hub_id)
                await self._term(stop, lead)
                continue
            await pause(stop, self._wait_seconds(lease, failures))

    def _wait_seconds(self, lease: LeaderLease | None, failures: int) -> float:
        """Until the next claim: ``FOLLOW_SECONDS`` (a leader that stopped cleanly has
        released the lease: take over at once), or just past the holder's end when that
        comes first (the lease of a hub that died ends unrenewed)."""
        if lease is None:
            return max(self.renew_seconds, retry_delay(failures))
        return max(0.05, min(self.renew_seconds, FOLLOW_SECONDS, lease.seconds_left + 0.05))

    async def _term(self, stop: asyncio.Event, lead: Lead) -> None:
        """Lead until ``stop`` or the lease is lost, then stop leading before returning."""
        lost = asyncio.Event()
        task = asyncio.create_task(lead(lost), name="leading")
        try:
            while not stop.is_set() and not task.done():
                await pause(stop, self.renew_seconds)
                if stop.is_set() or not await self._renewed():
                    break
        finally:
            lost.set()
            self._set_holder(None if self.leading else self.holder)
            await _finish(task)
        if not stop.is_set():
            log.warning("hub %s no longer leads (now: %s)", self.hub_id, self.holder or "none")

    async def _renewed(self) -> bool:
        """Renew within what is left of this hub's lease, less a margin for stopping the
        controllers before another hub may start its own; False once it is lost."""
        left = self._deadline - time.monotonic() - self.lease_seconds * STOP_MARGIN
        lease = await self._claim(left) if left > 0 else None
        return lease is not None and lease.held_by(self.hub_id)

    async def _claim(self, within: float) -> LeaderLease | None:
        """One claim, given up after ``within`` seconds; None when it failed."""
        sent = time.monotonic()
        try:
            async with asyncio.timeout(within):
                lease = await self.store.claim_leader(self.hub_id, self.lease_seconds)
        except (StoreError, TimeoutError) as e:
            log.warning("hub %s: claiming the leader lease failed: %s", self.hub_id, e or "timeout")
            return None
        except Exception:  # a driver error the store did not translate must not end contention
            log.exception("hub %s: claiming the leader lease failed", self.hub_id)
            return None
        if lease.held_by(self.hub_id):
            # Counted from when the claim was sent, not answered: this hub then stops
            # leading no later than the database ends its lease.
            self._deadline = sent + lease.seconds_left
        self._set_holder(lease.holder if lease.seconds_left > 0 else None)
        return lease

    async def _release(self) -> None:
        """Hand the lease over on the way out (best effort: it ends by itself anyway)."""
        try:
            async with asyncio.timeout(RELEASE_SECONDS):
                await self.store.release_leader(self.hub_id)
        except Exception as e:  # best effort: the lease ends by itself
            log.warning("hub %s: releasing the leader lease failed: %r", self.hub_id, e)
        self._set_holder(None if self.leading else self.holder)

    def _set_holder(self, holder: str | None) -> None:
        self.holder = holder
        self._gauge.set(1 if self.leading else 0)


async def _finish(task: asyncio.Task[None]) -> None:
    """Wait for the leading task, which stops once its event is set; log how it ended."""
    try:
        await task
    except Exception:
        log.exception("the controllers ended with an error")
