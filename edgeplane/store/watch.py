"""Watch fan-out: one pump per store reads the event log and feeds every watcher.

The pump wakes when this process commits a write and every ``poll_interval``
seconds (to see writes of other hubs sharing the database), reads the events after
the last one it saw in one query, and hands them to each subscriber's bounded queue.
A watcher registers before it reads its backlog from the log, then drains its queue
skipping what the backlog already gave it: no gaps and no duplicates.

Subscribers are routed by kind and by the ``edgeplane.io/site`` label through a dict:
an event costs four lookups, not a test per watcher, so 10,000 sites each watching
their own Assignments do not turn every event into 10,000 checks.

A queue is bounded by events and by bytes. A watcher that falls further behind (a
client that opens a watch and never reads) is ended as Kubernetes does, with Gone so
it lists again, and its buffered events are given back at once, not when it reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field

from edgeplane.store.objects import site_of
from edgeplane.store.protocol import WatchEvent

log = logging.getLogger(__name__)

QUEUE_LIMIT = 10_000
BUFFER_BYTES = 16 * 1024 * 1024

ReadAfter = Callable[[int], Awaitable[Sequence[WatchEvent]]]
Route = tuple[str | None, str | None]
"""(kind, site) a subscriber asked for; None is "any"."""


@dataclass(eq=False)
class Subscriber:
    kind: str | None
    queue: asyncio.Queue[WatchEvent | None] = field(
        default_factory=lambda: asyncio.Queue(QUEUE_LIMIT)
    )
    max_bytes: int = BUFFER_BYTES
    site: str | None = None
    """Only objects labelled ``edgeplane.io/site`` = this site, when given."""
    queued_bytes: int = 0
    overflowed: bool = False
    closed: bool = False

    @property
    def route(self) -> Route:
        return self.kind, self.site

    def wants(self, event: WatchEvent) -> bool:
        if self.kind is not None and event.object["kind"] != self.kind:
            return False
        return self.site is None or self.site in (site_of(event.object), event.previous_site)

    def offer(self, event: WatchEvent) -> None:
        if self.overflowed or not self.wants(event):
            return
        # One event always fits, however large: the limit is on falling behind.
        over = self.queue.qsize() and self.queued_bytes + event.size > self.max_bytes
        if over or self.queue.full():
            self._overflow()
            return
        self.queue.put_nowait(event)
        self.queued_bytes += event.size

    async def next(self) -> WatchEvent | None:
        """The next event; None when the watch ended (see ``overflowed``)."""
        event = await self.queue.get()
        if event is not None:
            self.queued_bytes -= event.size
        return event

    def _overflow(self) -> None:
        self.overflowed = True
        # The watcher must list again anyway: drop what it has not read now, so the
        # memory comes back even if it never reads again.
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queued_bytes = 0
        self.queue.put_nowait(None)

    def close(self) -> None:
        """End the watch, even when its queue is full (that is not an overflow)."""
        self.closed = True
        with contextlib.suppress(asyncio.QueueFull):
            self.queue.put_nowait(None)


class Pump:
    def __init__(self, read_after: ReadAfter, start_after: int, poll_interval: float) -> None:
        self._read_after = read_after
        self._poll_interval = poll_interval
        self.last_rv = start_after
        self._routes: dict[Route, set[Subscriber]] = {}
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="edgeplane-store-pump")

    def poke(self) -> None:
        self._wake.set()

    def add(self, subscriber: Subscriber) -> None:
        self._routes.setdefault(subscriber.route, set()).add(subscriber)

    def discard(self, subscriber: Subscriber) -> None:
        routed = self._routes.get(subscriber.route)
        if routed is not None:
            routed.discard(subscriber)
            if not routed:
                del self._routes[subscriber.route]

    @property
    def subscribers(self) -> list[Subscriber]:
        return [subscriber for routed in self._routes.values() for subscriber in routed]

    def routed(self, event: WatchEvent) -> Iterator[Subscriber]:
        """The subscribers that may want ``event``: a few lookups, whatever their number."""
        kind = event.object.get("kind")
        routes: list[Route] = [(None, None), (kind, None)]
        for site in {site_of(event.object), event.previous_site} - {None}:
            routes += ((None, site), (kind, site))
        for route in routes:
            yield from self._routes.get(route, ())

    async def stop(self) -> None:
        # Cooperative: cancelling a task inside a database call can leave the driver's
        # connection half-closed, so the loop is asked to finish its current read.
        self._stopping = True
        self._wake.set()
        if self._task:
            await self._task
        for subscriber in self.subscribers:
            subscriber.close()

    async def _run(self) -> None:
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._poll_interval):
                    await self._wake.wait()
            self._wake.clear()
            if self._stopping:
                return
            try:
                await self.drain()
            except Exception:
                # A database hiccup must not end every watch: try again next poll.
                log.exception("reading the event log failed; retrying in %ss", self._poll_interval)

    async def drain(self) -> None:
        while events := await self._read_after(self.last_rv):
            for event in events:
                for subscriber in self.routed(event):
                    subscriber.offer(event)
            self.last_rv = events[-1].resource_version


class InFlight:
    """Counts database reads in progress, so ``close`` can wait for them to finish."""

    def __init__(self) -> None:
        self._count = 0
        self._idle = asyncio.Event()
        self._idle.set()

    async def __aenter__(self) -> None:
        self._count += 1
        self._idle.clear()

    async def __aexit__(self, *_: object) -> None:
        self._count -= 1
        if not self._count:
            self._idle.set()

    async def drained(self) -> None:
        await self._idle.wait()


def overflow_reason(last: int, queue_size: int, max_bytes: int = BUFFER_BYTES) -> str:
    return (
        f"the watch fell more than {queue_size} events or {max_bytes} bytes behind after "
        f"resourceVersion {last} (it was not read), so events were dropped"
    )
