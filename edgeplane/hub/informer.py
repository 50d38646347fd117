"""The hub's informer: every object of the kinds the controllers read, kept in memory
and fed by one store watch, so a controller pass reads dicts instead of listing the
store, and learns what changed instead of guessing.

``run`` lists each kind once (from a resourceVersion read before the lists), then
follows ONE watch of every kind from there; an event older than what the cache holds
(the lists may have seen it already) is skipped. When the watch is Gone (the event log
was compacted past it, or this watcher fell too far behind) or ends while the hub
runs, it lists again and tells subscribers the difference as ordinary changes.

Subscribers get a bounded queue of ``Change`` (none for the first list: read the
caches once ``synced``); one that falls ``QUEUE_LIMIT`` changes
behind loses them and gets one ``RELIST`` change instead: "anything may have changed,
read the caches". The cached objects are shared with every reader and must never be
mutated (copy before changing one).

Neighbours: ``hub.app`` makes one per hub (``app.state.informer``), ``hub.server`` runs
it beside the controllers, ``hub.controllers`` read it (placement, health), the
heartbeat answer reads Sites from it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Protocol

from edgeplane.api.wire import Object
from edgeplane.store.errors import Gone
from edgeplane.store.protocol import EventType, Store, WatchEvent

log = logging.getLogger("edgeplane.hub.informer")

INFORMED_KINDS = (
    "Site",
    "SiteGroup",
    "Application",
    "Assignment",
    "Device",
    "Policy",
    "Revision",
    "DataStream",
    "DiscoveryProfile",
)
"""What the hub's controllers read (and data ingest: which streams a site reaches)."""
LIST_PAGE = 1000
QUEUE_LIMIT = 10_000
"""Changes one subscriber may fall behind before it gets a RELIST instead."""
RELIST = "RELIST"
"""A change's type when a subscriber lost changes: every object may have changed."""
RETRY_FIRST_SECONDS, RETRY_MAX_SECONDS = 0.5, 30.0


@dataclass(frozen=True)
class Change:
    """One object's change: ``old`` is what the cache held before (for DELETED, the
    object's last state), ``new`` what it holds now (None when DELETED)."""

    kind: str
    name: str
    type: str
    old: Object | None
    new: Object | None


RELIST_CHANGE = Change("", "", RELIST, None, None)


def resource_version(obj: Object | None) -> int:
    """An object's resourceVersion as a number (0 when absent or unreadable)."""
    meta = (obj or {}).get("metadata")
    try:
        return int(meta.get("resourceVersion") or 0) if isinstance(meta, dict) else 0
    except (TypeError, ValueError):
        return 0


class Informer:
    def __init__(self, store: Store, kinds: Sequence[str] = INFORMED_KINDS) -> None:
        self._store = store
        self.kinds = tuple(kinds)
        self._caches: dict[str, dict[str, Object]] = {kind: {} for kind in self.kinds}
        self._subscribers: list[asyncio.Queue[Change]] = []
        self._synced = asyncio.Event()
        self._applied = asyncio.Condition()
        self.version = 0
        """The resourceVersion the caches have applied (every kind's events count)."""
        self.relists = 0
        """How many times the caches were listed (1 after the first list)."""

    # -- reading ------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        """Whether the first list is in (a hub that does not run it never is)."""
        return self._synced.is_set()

    async def synced(self) -> None:
        """Returns once the first list is in."""
        await self._synced.wait()

    def get(self, kind: str, name: str) -> Object | None:
        return self._caches[kind].get(name)

    def items(self, kind: str) -> Mapping[str, Object]:
        """The objects of ``kind`` by name as they are now: a read-only copy, so a
        reader may await while it iterates (do not mutate the objects)."""
        return MappingProxyType(dict(self._caches[kind]))

    async def caught_up(self, version: int, seconds: float) -> bool:
        """Wait until the caches hold every write up to ``version`` (a controller's
        own writes, before it reads again); False when ``seconds`` passed first."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds), self._applied:
                await self._applied.wait_for(lambda: self.version >= version)
        return self.version >= version

    def subscribe(self) -> asyncio.Queue[Change]:
        """A queue of every change from now on (bounded: see ``RELIST``)."""
        queue: asyncio.Queue[Change] = asyncio.Queue()
        self._subscribers.append(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[Change]) -> None:
        with contextlib.suppress(ValueError):
            self._subscribers.remove(queue)

    # -- running ------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """List, then follow the watch, until ``stop`` is set (or cancelled)."""
        following = asyncio.create_task(self._keep_in_sync(), name="informer")
        stopped = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({following, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            following.cancel()
            stopped.cancel()
            await asyncio.gather(following, stopped, return_exceptions=True)

    async def _keep_in_sync(self) -> None:
        failures = 0
        while True:
            try:
                since = await self._relist()
                failures = 0
                await self._follow(since)
                log.info("informer: the watch ended; listing again")
            except Gone as e:
                log.info("informer: %s", e)
            except Exception as e:  # a store that is down is retried, never given up on
                failures += 1
                log.warning("informer: %s; listing again after a pause", e)
                # This task is cancelled to stop, so a plain sleep is the pause.
                await asyncio.sleep(_retry_delay(failures))

    async def _relist(self) -> int:
        """Every object of every kind, read again; subscribers get the difference."""
        since = await self._store.current_resource_version()
        fresh = {kind: await _by_name(self._store, kind) for kind in self.kinds}
        # The first list tells nothing: a subscriber reads the caches once synced.
        changes = list(self._differences(fresh)) if self.relists else []
        for kind, objs in fresh.items():
            cache = self._caches[kind]
            cache.clear()
            cache.update(objs)
        self.relists += 1
        self._publish(changes)
        await self._advance(since)
        self._synced.set()
        return since

    def _differences(self, fresh: Mapping[str, Mapping[str, Object]]) -> Iterator[Change]:
        for kind, objs in fresh.items():
            cache = self._caches[kind]
            for name, gone in cache.items():
                if name not in objs:
                    yield Change(kind, name, EventType.DELETED.value, gone, None)
            for name, new in objs.items():
                old = cache.get(name)
                if old is None:
                    yield Change(kind, name, EventType.ADDED.value, None, new)
                elif resource_version(old) != resource_version(new):
                    yield Change(kind, name, EventType.MODIFIED.value, old, new)

    async def _follow(self, since: int) -> None:
        async for event in self._store.watch(None, since):
            change = self._apply(event)
            if change is not None:
                self._publish([change])
            await self._advance(event.resource_version)

    def _apply(self, event: WatchEvent) -> Change | None:
        """The event into its cache; the change it makes (None: not a kind informed,
        or one the cache holds already)."""
        kind, meta = event.object.get("kind"), event.object.get("metadata") or {}
        cache, name = self._caches.get(str(kind)), meta.get("name")
        if cache is None or not isinstance(name, str):
            return None
        old = cache.get(name)
        if old is not None and resource_version(old) >= event.resource_version:
            return None  # the list saw it (or something newer) already
        if event.type is EventType.DELETED:
            if old is None:
                return None
            del cache[name]
            return Change(str(kind), name, EventType.DELETED.value, event.object, None)
        cache[name] = event.object
        type_ = EventType.ADDED if old is None else EventType.MODIFIED
        return Change(str(kind), name, type_.value, old, event.object)

    def _publish(self, changes: Sequence[Change]) -> None:
        for queue in self._subscribers:
            for change in changes:
                if queue.qsize() >= QUEUE_LIMIT:
                    # Fallen behind: what it has not read is moot, the caches say it all.
                    while not queue.empty():
                        queue.get_nowait()
                    queue.put_nowait(RELIST_CHANGE)
                    break
                queue.put_nowait(change)

    async def _advance(self, version: int) -> None:
        if version > self.version:
            async with self._applied:
                self.version = version
                self._applied.notify_all()


def _retry_delay(failures: int) -> float:
    """Capped exponential, as the controllers retry."""
    return min(RETRY_MAX_SECONDS, RETRY_FIRST_SECONDS * 2.0 ** min(failures - 1, 16))


async def _by_name(store: Store, kind: str) -> dict[str, Object]:
    found: dict[str, Object] = {}
    token = None
    while True:
        page = await store.list(kind, None, LIST_PAGE, token)
        for obj in page.items:
            name = (obj.get("metadata") or {}).get("name")
            if isinstance(name, str):
                found[name] = obj
        if not (token := page.continue_token):
            return found


class Follower(Protocol):
    """What follows the informer's changes in a task of its own (``follow``)."""

    async def run(self, stop: asyncio.Event) -> None: ...


async def follow(follower: Follower, stop: asyncio.Event) -> None:
    """``follower.run`` until ``stop``, however its loop ends (a hub's task)."""
    running = asyncio.create_task(follower.run(stop), name=type(follower).__name__)
    try:
        await stop.wait()
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
