"""The event log of the SQL store: reading it (for the pump and each watcher's backlog),
and keeping it within its budget (compaction).

One read stops after ``EVENT_BATCH`` events or ``EVENT_BATCH_BYTES`` bytes, streamed from
the database rather than fetched at once. A read for one site uses the indexes on
``events.site`` and ``events.previous_site``: a site's backlog costs its own events,
not every site's.

The log keeps the newest ``retention`` events and at most ``retention_bytes`` of them:
the compactor runs every ``compact_every`` seconds, and at once when a quarter of the
byte budget was logged since it last ran (a burst of large writes cannot outgrow it in
between); it records the watermark, and watches from older versions are Gone.

Neighbours: ``watch`` (the pump that reads it), ``writes`` (which appends to it),
``sql`` (the store that owns it).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from edgeplane.store import codec
from edgeplane.store.driver_errors import translated
from edgeplane.store.errors import Gone, StoreError
from edgeplane.store.protocol import EventType, WatchEvent
from edgeplane.store.schema import COMPACTED_KEY, counter, events, meta
from edgeplane.store.watch import InFlight

log = logging.getLogger(__name__)

EVENT_BATCH = 1000
# One read of the event log stops after this many bytes: 1,000 events of 1 MiB each
# would otherwise be a gigabyte in memory at once.
EVENT_BATCH_BYTES = 8 * 1024 * 1024


class EventLog:
    def __init__(
        self,
        engine: Callable[[], AsyncEngine],
        write_lock: asyncio.Lock,
        retention: int,
        retention_bytes: int,
    ) -> None:
        self._engine, self._write_lock = engine, write_lock
        self.retention, self.retention_bytes = retention, retention_bytes
        self.reads = InFlight()
        self.closing = asyncio.Event()
        # Bytes logged since the last compaction: past a quarter of the budget the
        # compactor runs early.
        self._logged_bytes = 0
        self._compact_now = asyncio.Event()

    # --- reading ---------------------------------------------------------------------

    async def read_after(
        self, rv: int, kind: str | None = None, site: str | None = None
    ) -> Sequence[WatchEvent]:
        """The next events after ``rv`` (of ``kind``, for ``site`` when given)."""
        columns = (events.c.resource_version, events.c.type, events.c.body)
        query = sa.select(*columns, events.c.previous_site).where(events.c.resource_version > rv)
        if kind is not None:
            query = query.where(events.c.kind == kind)
        if site is not None:
            query = query.where((events.c.site == site) | (events.c.previous_site == site))
        query = query.order_by(events.c.resource_version).limit(EVENT_BATCH)
        found: list[WatchEvent] = []
        size = 0
        with translated("read the event log"):
            async with self._engine().connect() as conn:
                result = await conn.stream(query.execution_options(yield_per=64))
                async for row in result:
                    found.append(_event(row))
                    size += found[-1].size
                    if size >= EVENT_BATCH_BYTES:
                        break
                await result.close()
        return found

    async def backlog(
        self, kind: str | None, since: int, site: str | None = None
    ) -> AsyncIterator[WatchEvent]:
        """Events already in the log after ``since``, read in batches until none are left."""
        last = since
        while not self.closing.is_set():
            async with self.reads:
                backlog = await self.read_after(last, kind, site)
                # Read after the events: a compaction that removed some of them before
                # they were read is then always seen, never a silent gap.
                compacted = await self.compacted()
            if last < compacted:
                raise Gone(last, compacted)
            if not backlog:
                return
            for old in backlog:
                yield old
            last = backlog[-1].resource_version

    async def compacted(self) -> int:
        query = sa.select(meta.c.value).where(meta.c.key == COMPACTED_KEY)
        with translated("read the compaction watermark"):
            async with self._engine().connect() as conn:
                return int((await conn.execute(query)).scalar_one())

    # --- compaction ------------------------------------------------------------------

    def logged(self, size: int) -> None:
        """``size`` bytes were committed to the log."""
        self._logged_bytes += size
        if self._logged_bytes > self.retention_bytes // 4:
            self._compact_now.set()

    async def compact(self) -> int:
        """Drop events beyond the newest ``retention`` and beyond the newest
        ``retention_bytes``; return the new watermark."""
        async with (
            self._write_lock,
            translated("compact the event log"),
            self._engine().begin() as conn,
        ):
            self._logged_bytes = 0
            current = int((await conn.execute(sa.select(counter.c.value))).scalar_one())
            watermark = max(0, current - self.retention)
            watermark = max(watermark, await self._bytes_watermark(conn))
            query = sa.select(meta.c.value).where(meta.c.key == COMPACTED_KEY)
            stored = int((await conn.execute(query)).scalar_one())
            if watermark <= stored:
                return stored  # a compaction triggered early may have gone further
            await conn.execute(events.delete().where(events.c.resource_version <= watermark))
            await conn.execute(
                meta.update().where(meta.c.key == COMPACTED_KEY).values(value=str(watermark))
            )
            return watermark

    async def _bytes_watermark(self, conn: AsyncConnection) -> int:
        """The newest resourceVersion whose event, with all newer ones, is over the byte
        budget (0 when the log is within it): a running sum over ix_events_rv_size."""
        newer = (
            sa.func.sum(events.c.size)
            .over(order_by=events.c.resource_version.desc())
            .label("newer")
        )
        sums = sa.select(events.c.resource_version, newer).subquery()
        query = (
            sa.select(sums.c.resource_version)
            .where(sums.c.newer > self.retention_bytes)
            .order_by(sums.c.resource_version.desc())
            .limit(1)
        )
        found = (await conn.execute(query)).scalar_one_or_none()
        return int(found or 0)

    async def run_compactor(self, every: float) -> None:
        while not self.closing.is_set():
            if await self._wait_to_compact(every):
                return
            try:
                await self.compact()
            except StoreError:
                log.exception("compacting the event log failed; retrying later")

    async def _wait_to_compact(self, every: float) -> bool:
        """Wait for the next compaction (its period or a burst of logged bytes); True
        when the store is closing instead."""
        closing = asyncio.ensure_future(self.closing.wait())
        early = asyncio.ensure_future(self._compact_now.wait())
        try:
            await asyncio.wait({closing, early}, timeout=every, return_when="FIRST_COMPLETED")
        finally:
            closing.cancel()
            early.cancel()
        self._compact_now.clear()
        return self.closing.is_set()


def _event(row: Any) -> WatchEvent:
    body = row.body
    size = len(body) if body.isascii() else len(body.encode())
    return WatchEvent(
        EventType(row.type),
        codec.loads_object(body),
        int(row.resource_version),
        size,
        previous_site=row.previous_site,
    )
