"""Watch fan-out: one pump per store reads the event log and feeds every watcher.

The pump wakes when this process commits a write and every ``poll_interval``
seconds (to see writes of other hubs sharing the database), reads the events after
the last one it saw in one query, and hands them to each subscriber's bounded queue.
A watcher registers before it reads its backlog from the log, then drains its queue
skipping what the backlog already gave it: no gaps and no duplicates.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from edgeplane.store.protocol import WatchEvent

log = logging.getLogger(__name__)

QUEUE_LIMIT = 10_000

ReadAfter = Callable[[int], Awaitable[Sequence[WatchEvent]]]


@dataclass(eq=False)
class Subscriber:
    kind: str | None
    queue: asyncio.Queue[WatchEvent | None] = field(
        default_factory=lambda: asyncio.Queue(QUEUE_LIMIT)
    )
    overflowed: bool = False
    closed: bool = False

    def offer(self, event: WatchEvent) -> None:
        if self.overflowed or (self.kind is not None and event.object["kind"] != self.kind):
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.overflowed = True

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
        self.subscribers: set[Subscriber] = set()
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="edgeplane-store-pump")

    def poke(self) -> None:
        self._wake.set()

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
                await asyncio.wait_for(self._wake.wait(), self._poll_interval)
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
                for subscriber in self.subscribers:
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


def overflow_reason(last: int, queue_size: int) -> str:
    return (
        f"the watch fell more than {queue_size} events behind after resourceVersion {last}, "
        "so events were dropped"
    )
