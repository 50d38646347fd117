"""Site leases: when each site was last heard from, kept in memory, not in the store.

A heartbeat renews the site's lease here (the hub's clock, ``time.time()``) and writes
nothing; ``flush`` writes this hub's renewals since the previous flush to the store in one
batch (``Store.put_leases``, every few seconds and on shutdown), ``load`` merges what every
hub has flushed (the newest renewal wins), so a restarted hub, or the hub that runs the
health controller, knows them too.

Every renewal this hub takes in, and every newer one ``load`` merges, is a heartbeat for
the failure detector (``health.detector``, ``app.state.detector``) too, expected every
``period_of(site)`` seconds (the site's terms, ``hub.healthterms``). Another hub's
renewals reach this one up to a flush and a load late, in batches: they are fed as
heartbeats at least ``RELAYED_SECONDS`` apart, so that delay is never taken for a
silence.

Neighbours: ``hub.heartbeat`` renews, ``hub.sitewrites`` renews on a site's status write,
``hub.controllers.health`` reads ``last`` to decide Offline, ``hub.resources`` overlays
``status.lastHeartbeat`` on served Sites, ``hub.server`` runs ``flush_loop``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable, Iterable
from datetime import datetime

from edgeplane.api.wire import Object
from edgeplane.health.detector import Detector
from edgeplane.store.protocol import Store

log = logging.getLogger("edgeplane.hub.leases")
FLUSH_SECONDS = 5.0
FLUSH_TIMEOUT_SECONDS = 10.0
LOAD_SECONDS = 2.5
"""How often the health controller loads other hubs' renewals (they flush every
``FLUSH_SECONDS``: more often would read the same rows again)."""
RELAYED_SECONDS = FLUSH_SECONDS + LOAD_SECONDS
"""How late another hub's renewal may reach this one."""


def hub_id() -> str:
    """This hub process's name in ``site_leases.hub``: host, pid and a random part (a
    pid is reused across restarts and hosts)."""
    return f"{socket.gethostname()[:200]}/{os.getpid()}/{secrets.token_hex(4)}"


class Leases:
    """Renewal times by site name; one instance per hub (``app.state.leases``)."""

    def __init__(
        self,
        hub_id: str,
        detector: Detector | None = None,
        period_of: Callable[[str], float] | None = None,
    ) -> None:
        """``detector``: fed every renewal, each site expected every ``period_of(site)``
        seconds (required with a detector)."""
        if detector is not None and period_of is None:
            raise ValueError("a detector needs each site's heartbeat period: pass period_of")
        self.hub_id = hub_id
        self.detector = detector
        self._period_of = period_of
        self._last: dict[str, float] = {}
        self._dirty: dict[str, float] = {}

    def renew(self, site: str, now: float | None = None) -> None:
        at = time.time() if now is None else now
        if at > self._last.get(site, 0.0):
            self._last[site] = at
            self._dirty[site] = at
            if self._period_of is not None and self.detector is not None:
                self.detector.heard(site, at, self._period_of(site))

    def last(self, site: str) -> float | None:
        """The newest renewal known: this hub's own, or one another hub flushed."""
        return self._last.get(site)

    def forget(self, site: str) -> None:
        self._last.pop(site, None)
        self._dirty.pop(site, None)
        if self.detector is not None:
            self.detector.forget(site)

    def snapshot(self) -> dict[str, float]:
        return dict(self._last)

    @property
    def pending(self) -> int:
        """Renewals the next flush writes."""
        return len(self._dirty)

    async def flush(self, store: Store) -> None:
        """Write this hub's renewals since the last flush, one batch; on failure they stay
        pending for the next flush (a newer renewal meanwhile replaces its own)."""
        if not self._dirty:
            return
        batch, self._dirty = self._dirty, {}
        try:
            await store.put_leases(batch, self.hub_id)
        except BaseException:
            for site, at in batch.items():
                if site in self._last and at > self._dirty.get(site, 0.0):
                    self._dirty[site] = at
            raise

    async def load(self, store: Store) -> None:
        """Merge in the renewals other hubs stored, the newest of each site winning (this
        hub's own are in memory: reading them back cost the health loop 70 ms a check at
        2,500 sites, on the event loop)."""
        period_of, detector = self._period_of, self.detector
        for site, at in (await store.get_leases(other_than=self.hub_id)).items():
            if at > self._last.get(site, 0.0):
                self._last[site] = at
                if period_of is not None and detector is not None:
                    detector.heard(site, at, max(period_of(site), RELAYED_SECONDS))


async def flush_loop(leases: Leases, store: Store, stop: asyncio.Event, seconds: float) -> None:
    """Flush every ``seconds`` until ``stop``, then once more so a stopping hub's last
    renewals are stored."""
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await stop.wait()
        await _flush(leases, store, seconds)
    await _flush(leases, store, seconds)  # renewals since (nothing to do when none)


async def _flush(leases: Leases, store: Store, seconds: float) -> None:
    try:
        # Bounded: a store that hangs must not keep a stopping hub from exiting.
        async with asyncio.timeout(max(seconds, FLUSH_TIMEOUT_SECONDS)):
            await leases.flush(store)
    except Exception as e:  # a failed flush is retried at the next period
        log.warning("flushing %d site lease(s) failed: %r", leases.pending, e)


def _rfc3339(at: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))


def _older(stored: object, lease: float, stamp: str) -> bool:
    """Whether a stored ``lastHeartbeat`` is older than the lease. The hub writes one
    form (``2027-01-15T08:00:00Z``), compared as text (cheap over 10,000 sites); any
    other form is parsed, and an unreadable one is replaced."""
    if not isinstance(stored, str):
        return True
    if len(stored) == 20 and stored.endswith("Z"):
        return stored < stamp
    try:
        return datetime.fromisoformat(stored.replace("Z", "+00:00")).timestamp() < lease
    except (ValueError, OverflowError, OSError):
        return True


def with_lease(site: Object, leases: Leases) -> Object:
    """``site`` with ``status.lastHeartbeat`` from its lease when the lease is newer
    (a copy; the given object is not changed)."""
    lease = leases.last(site.get("metadata", {}).get("name", ""))
    if lease is None:
        return site
    status = site.get("status") or {}
    stamp = _rfc3339(lease)
    if not _older(status.get("lastHeartbeat"), lease, stamp):
        return site
    return {**site, "status": {**status, "lastHeartbeat": stamp}}


def with_leases(sites: Iterable[Object], leases: Leases) -> list[Object]:
    return [with_lease(site, leases) for site in sites]
