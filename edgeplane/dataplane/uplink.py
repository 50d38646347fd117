"""The uplink: sends a site's spooled records home, most urgent first, within budget.

Each turn waits until the budget (``bucket.TokenBucket``) has room for a chunk, and
only then asks the spool what to send (``Spool.next_batch``: strictly by priority,
streams of one priority in turn), so a critical record published while bulk data
waits for tokens goes in the very next batch. A chunk is a twentieth of a second of
the budget (between 1 KiB and 256 KiB): small enough that a critical record never
waits behind much bulk, large enough to compress well. Up to ``in_flight`` batches
travel at once, so the round trip does not cap the rate; their records are left out
of later batches until the hub answers.

The hub acknowledges the records its sink has stored (``send`` returns their
sequence numbers); only those leave the spool. A batch the hub refuses for what it
holds (a 4xx but 408 and 429: too large, unreadable) is sent again a record at a time,
and a record refused alone is dropped and counted (``refused``): one bad record must
not hold up every record behind it for good. A failed send leaves every record
where it was, to be sent again after a backoff: at least once on the wire, and the
hub drops the duplicates by (epoch, seq), so exactly once in effect.

Neighbours: ``dataplane.spool`` (blocking: run through ``blocking``, one thread),
``dataplane.wire`` (the batch format), the agent's ``data`` module (wires ``send`` to
the hub link and the budget to the Site's ``spec.uplink``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from edgeplane.dataplane import wire
from edgeplane.dataplane.bucket import TokenBucket
from edgeplane.dataplane.spool import Spool, Spooled

log = logging.getLogger("edgeplane.dataplane.uplink")
T = TypeVar("T")
Send = Callable[[bytes], Awaitable[Sequence[int]]]
"""POST a batch to the hub: the sequence numbers it acknowledged; raises when it failed."""
Blocking = Callable[..., Awaitable[Any]]
"""Run a blocking call (the spool's) off the event loop: ``await blocking(f, *args)``."""
CHUNK_SECONDS = 0.05
CHUNK_MIN, CHUNK_MAX = 1024, 256 * 1024
IDLE_SECONDS = 1.0
"""How long an idle uplink waits before it looks at the spool again unasked."""
BACKOFF_MIN, BACKOFF_MAX = 0.5, 30.0


def chunk_bytes(bucket: TokenBucket | None) -> int:
    """How many bytes of bodies one batch holds at most, for this budget."""
    if bucket is None or math.isinf(bucket.rate):
        return CHUNK_MAX
    return int(max(CHUNK_MIN, min(CHUNK_MAX, bucket.rate * CHUNK_SECONDS)))


class Uplink:
    def __init__(
        self,
        spool: Spool,
        send: Send,
        blocking: Blocking,
        *,
        fifo: bool = False,
        in_flight: int = 4,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.spool, self.send, self.blocking = spool, send, blocking
        self.fifo, self.in_flight, self.clock = fifo, in_flight, clock
        self.bucket: TokenBucket | None = None
        """The budget; None: as fast as the link goes. Set by whoever reads the Site."""
        self.sent: Counter[str] = Counter()
        """Records the hub acknowledged, by stream."""
        self.sent_bytes = 0
        """Bytes sent on the wire (compressed), acknowledged or not."""
        self.failures = 0
        self.last_error: str | None = None
        self._wake = asyncio.Event()
        self._flying: dict[asyncio.Task[None], tuple[int, ...]] = {}
        self._backoff_until = 0.0
        self._solo = 0
        """Batches still to send a record at a time (after the hub refused a batch)."""

    def published(self) -> None:
        """Something was spooled: look now rather than at the next idle tick."""
        self._wake.set()

    def budget(self, bytes_per_second: float | None, burst: float | None = None) -> None:
        """Set the budget (None: none); a change keeps no tokens from the old one."""
        if bytes_per_second is None:
            self.bucket = None
        elif self.bucket is None or (self.bucket.rate, self.bucket.burst) != (
            bytes_per_second,
            burst or bytes_per_second,
        ):
            self.bucket = TokenBucket(bytes_per_second, burst or bytes_per_second)

    async def run(self, stop: asyncio.Event) -> None:
        try:
            while not stop.is_set():
                await self._turn(stop)
        finally:
            for task in self._flying:
                task.cancel()
            await asyncio.gather(*self._flying, return_exceptions=True)

    async def _turn(self, stop: asyncio.Event) -> None:
        self._wake.clear()  # before the spool is read: a publish from now on wakes the wait
        if len(self._flying) >= self.in_flight or self.clock() < self._backoff_until:
            await self._idle(stop, max(0.0, self._backoff_until - self.clock()) or IDLE_SECONDS)
            return
        bucket, chunk = self.bucket, chunk_bytes(self.bucket)
        if bucket is not None and (wait := bucket.wait_for(chunk, self.clock())) > 0:
            await self._idle(stop, wait, wake_on_publish=False)
            return
        skip = [seq for seqs in self._flying.values() for seq in seqs]
        batch: list[Spooled] = await self.blocking(
            self.spool.next_batch, chunk, 1 if self._solo else 1000, skip, self.fifo
        )
        if not batch:
            await self._idle(stop, IDLE_SECONDS)
            return
        self._solo = max(0, self._solo - 1)
        payload = wire.encode(self.spool.epoch, [_record(r) for r in batch])
        if bucket is not None:
            bucket.take(len(payload), self.clock())
        self.sent_bytes += len(payload)
        task = asyncio.create_task(self._deliver(payload, batch))
        self._flying[task] = tuple(r.seq for r in batch)
        task.add_done_callback(self._landed)

    async def _deliver(self, payload: bytes, batch: list[Spooled]) -> None:
        try:
            acked = set(await self.send(payload))
            ours = [r for r in batch if r.seq in acked]
            await self.blocking(self.spool.acknowledge, [r.seq for r in ours])
        except Exception as e:  # any failure: the records stay spooled for the next try
            if _refused(e) and await self._refused(batch, e):
                return
            self.failures += 1
            self.last_error = str(e) or type(e).__name__
            delay = min(BACKOFF_MAX, BACKOFF_MIN * 2 ** min(self.failures, 10))
            self._backoff_until = self.clock() + delay * random.uniform(0.5, 1.0)
            log.warning("uplink: %s; sending again in %.1f s", self.last_error, delay)
            return
        self.failures, self.last_error = 0, None
        self.sent.update(r.stream for r in ours)

    async def _refused(self, batch: list[Spooled], error: Exception) -> bool:
        """The hub refused the batch for what it holds (a 4xx other than 408 and 429): a
        record alone is dropped (counted as ``refused``), so it cannot hold up the rest
        for good; a batch of several is sent again a record at a time, to find it."""
        if len(batch) > 1:
            self._solo = max(self._solo, len(batch))
            return False
        (record,) = batch
        log.error(
            "uplink: the hub refuses record %d of %s, dropped: %s", record.seq, record.stream, error
        )
        await self.blocking(self.spool.acknowledge, [record.seq])
        await self.blocking(self.spool.count_drop, record.stream, "refused")
        return True

    def _landed(self, task: asyncio.Task[None]) -> None:
        self._flying.pop(task, None)
        self._wake.set()
        if not task.cancelled() and (error := task.exception()) is not None:
            log.error("uplink: a batch failed unexpectedly: %r", error)

    async def _idle(
        self, stop: asyncio.Event, seconds: float, wake_on_publish: bool = True
    ) -> None:
        waits = [asyncio.ensure_future(stop.wait())]
        if wake_on_publish:
            waits.append(asyncio.ensure_future(self._wake.wait()))
        try:
            await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await w


def _refused(error: Exception) -> bool:
    status = getattr(error, "status", None)
    return isinstance(status, int) and 400 <= status < 500 and status not in (408, 429)


def _record(row: Spooled) -> wire.Record:
    return wire.Record(row.seq, row.stream, row.at, row.priority, row.body)
