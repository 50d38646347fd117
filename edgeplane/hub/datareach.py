"""Which DataStreams a site reaches: those whose selector matches an Application that
is assigned to the site, or was within ``FORMER_SECONDS``.

The second half is what keeps data home through a failover: a site cut off for two
minutes is declared lost, its assignments move elsewhere (or wait, unplaced), and when
its link comes back it sends what its workloads published meanwhile. Those records
were published by an application that ran there; refusing them as "not allowed" would
lose data the agent acknowledged. So every hub follows the informer's Assignment
deletions and remembers, per site, when each application left it (at most
``FORMER_MAX`` pairs, the oldest forgotten first). A site still reaches nothing it
never ran: the memory is filled from the stored objects, never from what a site sends.

Each site's reach is cached for ``REACH_SECONDS``; an Assignment of the site made or
deleted drops its entry at once (an assignment placed back after the link returns
counts for the next batch, not five seconds later).

Memory only: a hub restarted while a site is away forgets which applications left it
(docs/data.md).
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Mapping

from edgeplane.api.selectors import LabelSelector
from edgeplane.api.wellknown import assignment_name
from edgeplane.api.wire import Object
from edgeplane.hub.informer import RELIST, Change, Informer

REACH_SECONDS = 5.0
"""How long a site's reach is cached: a stream made meanwhile counts within this long
(records for it are refused as not-allowed until then: the agent learns of a stream
from the same reach, so that is rare)."""
REACH_CACHED_MAX = 100_000
FORMER_SECONDS = 7 * 24 * 3600.0
"""How long a site still reaches the streams of an application that left it: as long
as an agent's spool keeps records (a week away at most)."""
FORMER_MAX = 200_000


class Reach:
    """Which DataStreams each site reaches, from the informer's objects, cached."""

    def __init__(self, informer: Informer) -> None:
        self.informer = informer
        self._cache: dict[str, tuple[float, dict[str, tuple[str, ...]]]] = {}
        self._former: OrderedDict[tuple[str, str], float] = OrderedDict()
        """(site, application) -> when its assignment there was deleted (wall clock)."""
        self._by_site: dict[str, set[str]] = {}

    def of(self, site: str, now: float | None = None) -> dict[str, tuple[str, ...]]:
        """Stream name -> the applications at ``site`` that may publish to it."""
        at = time.monotonic() if now is None else now
        cached = self._cache.get(site)
        if cached is not None and cached[0] > at:
            return cached[1]
        reach = self._compute(site)
        if len(self._cache) >= REACH_CACHED_MAX:
            self._cache.clear()
        self._cache[site] = (at + REACH_SECONDS, reach)
        return reach

    def left(self, site: str, application: str, at: float | None = None) -> None:
        """``application``'s assignment at ``site`` is gone: remember it a while."""
        key = (site, application)
        self._former.pop(key, None)
        self._former[key] = time.time() if at is None else at
        self._by_site.setdefault(site, set()).add(application)
        while len(self._former) > FORMER_MAX:
            (old_site, old_app), _ = self._former.popitem(last=False)
            self._forget(old_site, old_app)
        self._cache.pop(site, None)

    def changed(self, site: str) -> None:
        self._cache.pop(site, None)

    def _forget(self, site: str, application: str) -> None:
        apps = self._by_site.get(site)
        if apps is not None:
            apps.discard(application)
            if not apps:
                del self._by_site[site]

    def _former_apps(self, site: str) -> set[str]:
        oldest = time.time() - FORMER_SECONDS
        found = set()
        for app in list(self._by_site.get(site, ())):
            if self._former.get((site, app), 0.0) >= oldest:
                found.add(app)
            else:
                self._former.pop((site, app), None)
                self._forget(site, app)
        return found

    def _compute(self, site: str) -> dict[str, tuple[str, ...]]:
        former = self._former_apps(site)
        apps = [
            app
            for name, app in self.informer.items("Application").items()
            if name in former
            or self.informer.get("Assignment", assignment_name(name, site)) is not None
        ]
        reach = {}
        for name, stream in self.informer.items("DataStream").items():
            raw = (stream.get("spec") or {}).get("selector")
            selector = LabelSelector.model_validate(raw or {}).to_selector()
            allowed = tuple(
                sorted(a["metadata"]["name"] for a in apps if selector.matches(_labels(a)))
            )
            if allowed:
                reach[name] = allowed
        return reach

    def apply(self, change: Change) -> None:
        if change.type == RELIST:
            self._cache.clear()
            return
        if change.kind != "Assignment":
            return
        spec = (change.old or change.new or {}).get("spec") or {}
        site, app = spec.get("site"), spec.get("application")
        if not isinstance(site, str) or not isinstance(app, str):
            return
        if change.new is None:
            self.left(site, app)
        elif change.old is None:  # a new assignment; a status write changes no reach
            self.changed(site)

    async def run(self, stop: asyncio.Event) -> None:
        """Follow the informer's changes until ``stop`` (every hub: each answers sites)."""
        queue = self.informer.subscribe()
        try:
            while not stop.is_set():
                self.apply(await queue.get())
        finally:
            self.informer.unsubscribe(queue)


def _labels(obj: Object) -> Mapping[str, str]:
    return obj["metadata"].get("labels") or {}
