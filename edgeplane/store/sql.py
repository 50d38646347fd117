"""The SQL store: SQLAlchemy Core over SQLite (aiosqlite) or PostgreSQL (asyncpg).

Every write runs in one transaction that first takes the next resourceVersion from
the ``counter`` row, so writers are serialized and the event log is in commit order.
Writers inside one process also queue on an asyncio lock, which keeps SQLite from
ever returning "database is locked" to a caller.

Neighbours: ``engine`` (connections, pragmas), ``objects`` (metadata rules),
``selectors_sql`` (label selectors), ``watch`` (fan-out to watchers), ``statistics``
(PostgreSQL planner statistics), ``driver_errors`` (SQLAlchemy errors to StoreError).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from edgeplane.api.selectors import Selector
from edgeplane.store import objects as bookkeeping
from edgeplane.store.continuation import ContinueTokens, load_secret, new_secret
from edgeplane.store.driver_errors import translated
from edgeplane.store.engine import create_engine, lock_for_migration
from edgeplane.store.errors import AlreadyExists, Gone, NotFound, StoreError
from edgeplane.store.leadership_sql import LeaderTable
from edgeplane.store.leases_sql import LeaseTable
from edgeplane.store.migrations import upgrade
from edgeplane.store.protocol import EventType, ListResult, Object, TokenRecord, WatchEvent
from edgeplane.store.schema import COMPACTED_KEY, counter, events, labels, meta, objects, tokens
from edgeplane.store.selectors_sql import requirement_clause
from edgeplane.store.statistics import ANALYZE_EVERY, PlannerStatistics
from edgeplane.store.watch import (
    BUFFER_BYTES,
    QUEUE_LIMIT,
    InFlight,
    Pump,
    Subscriber,
    overflow_reason,
)

log = logging.getLogger(__name__)

PAGE_MAX = 1000
EVENT_BATCH = 1000
# One read of the event log stops after this many bytes: 1,000 events of 1 MiB each
# would otherwise be a gigabyte in memory at once.
EVENT_BATCH_BYTES = 8 * 1024 * 1024


def _dumps(obj: Object) -> str:
    return json.dumps(obj, separators=(",", ":"), sort_keys=False)


class SqlStore(LeaseTable, LeaderTable):
    def __init__(
        self,
        url: str,
        *,
        event_retention: int = 100_000,
        event_retention_bytes: int = 256 * 1024 * 1024,
        poll_interval: float = 1.0,
        compact_every: float = 30.0,
        watch_queue_size: int = QUEUE_LIMIT,
        watch_buffer_bytes: int = BUFFER_BYTES,
        analyze_every: int = ANALYZE_EVERY,
    ) -> None:
        self.url = url
        self.event_retention = event_retention
        self.event_retention_bytes = event_retention_bytes
        self._watch_buffer_bytes = watch_buffer_bytes
        # Bytes logged since the last compaction: past a quarter of the budget the
        # compactor runs early, so a burst of large writes cannot outgrow it for 30 s.
        self._logged_bytes = 0
        self._compact_now = asyncio.Event()
        self._poll_interval = poll_interval
        self._compact_every = compact_every
        self._watch_queue_size = watch_queue_size
        self._analyze_every = analyze_every
        self._watch_reads = InFlight()
        self._engine: AsyncEngine | None = None
        self._write_lock = asyncio.Lock()
        self._pump: Pump | None = None
        self._compactor: asyncio.Task[None] | None = None
        self._statistics: PlannerStatistics | None = None
        self._closing = asyncio.Event()
        self._continue = ContinueTokens(new_secret())  # replaced by the store's own at open

    # --- lifecycle -------------------------------------------------------------------

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")

    @property
    def engine(self) -> AsyncEngine:
        if self._engine is None:
            raise StoreError("the store is not open: call open() first")
        return self._engine

    async def open(self) -> None:
        # SQLite: two hubs opening a new file at once can meet in a lock upgrade that
        # SQLite breaks at once with "database is locked" (its busy timeout does not
        # apply to a deadlock). The one that lost tries again, briefly backing off.
        delay, deadline = 0.05, asyncio.get_running_loop().time() + 30.0
        while True:
            self._engine = create_engine(self.url)
            try:
                async with self._engine.begin() as conn:
                    await lock_for_migration(conn)
                    await conn.run_sync(upgrade)
                    self._continue = ContinueTokens(await load_secret(conn))
                break
            except (SQLAlchemyError, OSError) as e:
                await self._engine.dispose()
                locked = "database is locked" in str(e) and self.is_sqlite
                if locked and asyncio.get_running_loop().time() < deadline:
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 1.0)
                    continue
                raise StoreError(f"cannot open the store at {self._safe_url()}: {e}") from e
        self._closing = asyncio.Event()
        self._pump = Pump(
            self._events_after, await self.current_resource_version(), self._poll_interval
        )
        self._pump.start()
        self._compactor = asyncio.create_task(self._compact_loop(), name="edgeplane-compactor")
        if not self.is_sqlite:
            self._statistics = PlannerStatistics(self._engine, self._analyze_every)

    async def close(self) -> None:
        self._closing.set()
        if self._compactor:
            await self._compactor
        if self._statistics:
            await self._statistics.close()
        if self._pump:
            await self._pump.stop()
        # Watchers reading their backlog finish that read (then see the store closing)
        # before the engine and its connections go away.
        await self._watch_reads.drained()
        if self._engine:
            await self._engine.dispose()
        self._engine = self._pump = self._compactor = self._statistics = None

    def _safe_url(self) -> str:
        return sa.engine.make_url(self.url).render_as_string(hide_password=True)

    # --- reads -----------------------------------------------------------------------

    async def get(self, kind: str, name: str) -> Object:
        async with self._reading(f'get {kind} "{name}"') as conn:
            found = await self._load(conn, kind, name)
        if found is None:
            raise NotFound(kind, name)
        return found

    async def list(
        self,
        kind: str,
        selector: Selector | None = None,
        limit: int | None = None,
        continue_token: str | None = None,
    ) -> ListResult:
        after, rv = self._continue.decode(continue_token, kind) if continue_token else ("", None)
        page = min(limit or PAGE_MAX * 100, PAGE_MAX * 100)
        query = sa.select(objects.c.name, objects.c.body).where(objects.c.kind == kind)
        query = query.where(objects.c.name > after).order_by(objects.c.name).limit(page + 1)
        for requirement in selector.requirements if selector else ():
            query = query.where(requirement_clause(requirement))
        async with self._reading(f"list {kind}") as conn:
            if rv is None:
                rv = await self._current_rv(conn)
            rows = (await conn.execute(query)).all()
        items = [json.loads(row.body) for row in rows[:page]]
        more = len(rows) > page
        token = self._continue.encode(kind, rows[page - 1].name, rv) if more else None
        return ListResult(items, rv, token)

    async def current_resource_version(self) -> int:
        async with self._reading("read the current resourceVersion") as conn:
            return await self._current_rv(conn)

    async def counts(self) -> dict[str, int]:
        query = sa.select(objects.c.kind, sa.func.count()).group_by(objects.c.kind)
        async with self._reading("count objects") as conn:
            return {row[0]: int(row[1]) for row in await conn.execute(query)}

    # --- writes ----------------------------------------------------------------------

    async def create(self, obj: Object) -> Object:
        kind, name = bookkeeping.key_of(obj)

        async def write(conn: AsyncConnection, rv: int) -> Object | None:
            if await self._load(conn, kind, name) is not None:
                raise AlreadyExists(kind, name)
            new = bookkeeping.created(obj, rv)
            await conn.execute(objects.insert().values(_object_row(new, rv)))
            await self._write_labels(conn, new)
            await self._log(conn, EventType.ADDED, new, rv)
            return new

        created: Object = await self._write(
            write, f'create {kind} "{name}"', lambda: AlreadyExists(kind, name)
        )
        return created

    async def replace(self, obj: Object) -> Object:
        return await self._update(obj, bookkeeping.replaced)

    async def replace_status(self, obj: Object) -> Object:
        return await self._update(obj, bookkeeping.status_replaced)

    async def delete(self, kind: str, name: str, resource_version: str | None = None) -> Object:
        async def write(conn: AsyncConnection, rv: int) -> Object | None:
            stored = await self._load(conn, kind, name)
            if stored is None:
                raise NotFound(kind, name)
            bookkeeping.check_version(stored, resource_version)
            key = (objects.c.kind == kind) & (objects.c.name == name)
            await conn.execute(objects.delete().where(key))
            await conn.execute(
                labels.delete().where((labels.c.kind == kind) & (labels.c.name == name))
            )
            last = bookkeeping.stamped(stored, rv)
            await self._log(conn, EventType.DELETED, last, rv)
            return last

        deleted: Object = await self._write(write, f'delete {kind} "{name}"')
        return deleted

    async def _update(self, obj: Object, change: Callable[[Object, Object], Object]) -> Object:
        kind, name = bookkeeping.key_of(obj)
        unchanged: list[Object] = []

        async def write(conn: AsyncConnection, rv: int) -> Object | None:
            stored = await self._load(conn, kind, name)
            if stored is None:
                raise NotFound(kind, name)
            bookkeeping.check_version(stored, obj)
            new = change(stored, obj)
            if new == stored:
                unchanged.append(stored)
                return None
            bookkeeping.stamped(new, rv)
            key = (objects.c.kind == kind) & (objects.c.name == name)
            await conn.execute(objects.update().where(key).values(_object_row(new, rv)))
            if bookkeeping.labels_of(new) != bookkeeping.labels_of(stored):
                await conn.execute(
                    labels.delete().where((labels.c.kind == kind) & (labels.c.name == name))
                )
                await self._write_labels(conn, new)
            await self._log(conn, EventType.MODIFIED, new, rv)
            return new

        written = await self._write(write, f'update {kind} "{name}"')
        return written if written is not None else unchanged[0]

    async def _write(
        self,
        body: Callable[[AsyncConnection, int], Any],
        what: str,
        on_integrity_error: Callable[[], StoreError] | None = None,
    ) -> Any:
        """Run ``body`` in a transaction holding the next resourceVersion.

        When ``body`` returns None the transaction is rolled back: nothing changed,
        and the resourceVersion it held is given back.
        """
        async with (
            self._write_lock,
            translated(what, on_integrity_error),
            self.engine.connect() as conn,
        ):
            transaction = await conn.begin()
            try:
                rv = await self._next_rv(conn)
                result = await body(conn, rv)
            except BaseException:
                await transaction.rollback()
                raise
            if result is None:
                await transaction.rollback()
                return None
            await transaction.commit()
        if self._pump:
            self._pump.poke()
        if self._statistics:
            self._statistics.note_write()
        return result

    async def _next_rv(self, conn: AsyncConnection) -> int:
        bump = counter.update().where(counter.c.id == 1).values(value=counter.c.value + 1)
        return int((await conn.execute(bump.returning(counter.c.value))).scalar_one())

    async def _current_rv(self, conn: AsyncConnection) -> int:
        return int((await conn.execute(sa.select(counter.c.value))).scalar_one())

    async def _load(self, conn: AsyncConnection, kind: str, name: str) -> Object | None:
        query = sa.select(objects.c.body).where((objects.c.kind == kind) & (objects.c.name == name))
        body = (await conn.execute(query)).scalar_one_or_none()
        return None if body is None else dict(json.loads(body))

    async def _write_labels(self, conn: AsyncConnection, obj: Object) -> None:
        kind, name = bookkeeping.key_of(obj)
        rows = [
            {"kind": kind, "name": name, "key": k, "value": v}
            for k, v in bookkeeping.labels_of(obj).items()
        ]
        if rows:
            await conn.execute(labels.insert(), rows)

    async def _log(self, conn: AsyncConnection, type_: EventType, obj: Object, rv: int) -> None:
        kind, name = bookkeeping.key_of(obj)
        body = _dumps(obj)
        row = {
            "resource_version": rv,
            "kind": kind,
            "name": name,
            "type": type_.value,
            "body": body,
            "size": len(body),
        }
        await conn.execute(events.insert().values(row))
        self._logged_bytes += len(body)
        if self._logged_bytes > self.event_retention_bytes // 4:
            self._compact_now.set()

    # --- watch -----------------------------------------------------------------------

    async def watch(self, kind: str | None, since: int) -> AsyncIterator[WatchEvent]:
        """Events after ``since``; the event objects are shared by watchers: do not mutate."""
        pump = self._pump
        if pump is None:
            raise StoreError("the store is not open: call open() first")
        queue: asyncio.Queue[WatchEvent | None] = asyncio.Queue(self._watch_queue_size)
        subscriber = Subscriber(kind, queue, self._watch_buffer_bytes)
        pump.subscribers.add(subscriber)
        try:
            last = since
            async for old in self._backlog(kind, since):
                last = old.resource_version
                yield old
            while not subscriber.closed:
                event = await subscriber.next()
                if subscriber.overflowed:
                    reason = overflow_reason(last, queue.maxsize, subscriber.max_bytes)
                    raise Gone(last, last, reason=reason)
                if event is None or subscriber.closed:
                    return
                if event.resource_version > last:
                    last = event.resource_version
                    yield event
        finally:
            pump.subscribers.discard(subscriber)

    async def _backlog(self, kind: str | None, since: int) -> AsyncIterator[WatchEvent]:
        """Events already in the log after ``since``, read in batches until none are left."""
        last = since
        while not self._closing.is_set():
            async with self._watch_reads:
                backlog = await self._events_after(last, kind)
                # Read after the events: a compaction that removed some of them before
                # they were read is then always seen, never a silent gap.
                compacted = await self.compacted_resource_version()
            if last < compacted:
                raise Gone(last, compacted)
            if not backlog:
                return
            for old in backlog:
                yield old
            last = backlog[-1].resource_version

    async def compacted_resource_version(self) -> int:
        query = sa.select(meta.c.value).where(meta.c.key == COMPACTED_KEY)
        async with self._reading("read the compaction watermark") as conn:
            return int((await conn.execute(query)).scalar_one())

    async def _events_after(self, rv: int, kind: str | None = None) -> Sequence[WatchEvent]:
        """The next events after ``rv``: at most EVENT_BATCH of them, and no more than
        EVENT_BATCH_BYTES past the first (rows are streamed, not fetched all at once)."""
        query = sa.select(events.c.resource_version, events.c.type, events.c.body)
        query = query.where(events.c.resource_version > rv)
        if kind is not None:
            query = query.where(events.c.kind == kind)
        query = query.order_by(events.c.resource_version).limit(EVENT_BATCH)
        found: list[WatchEvent] = []
        size = 0
        async with self._reading("read the event log") as conn:
            result = await conn.stream(query.execution_options(yield_per=64))
            async for row in result:
                found.append(_event(row))
                size += found[-1].size
                if size >= EVENT_BATCH_BYTES:
                    break
            await result.close()
        return found

    async def compact(self) -> int:
        """Drop events beyond the newest ``event_retention`` and beyond the newest
        ``event_retention_bytes``; return the new watermark."""
        async with (
            self._write_lock,
            translated("compact the event log"),
            self.engine.begin() as conn,
        ):
            self._logged_bytes = 0
            watermark = max(0, await self._current_rv(conn) - self.event_retention)
            watermark = max(watermark, await self._bytes_watermark(conn))
            stored = int(
                (
                    await conn.execute(sa.select(meta.c.value).where(meta.c.key == COMPACTED_KEY))
                ).scalar_one()
            )
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
            .where(sums.c.newer > self.event_retention_bytes)
            .order_by(sums.c.resource_version.desc())
            .limit(1)
        )
        found = (await conn.execute(query)).scalar_one_or_none()
        return int(found or 0)

    async def _compact_loop(self) -> None:
        while not self._closing.is_set():
            if await self._wait_to_compact():
                return
            try:
                await self.compact()
            except StoreError:
                log.exception("compacting the event log failed; retrying later")

    async def _wait_to_compact(self) -> bool:
        """Wait for the next compaction (its period or a burst of logged bytes); True
        when the store is closing instead."""
        closing = asyncio.ensure_future(self._closing.wait())
        early = asyncio.ensure_future(self._compact_now.wait())
        try:
            await asyncio.wait(
                {closing, early}, timeout=self._compact_every, return_when="FIRST_COMPLETED"
            )
        finally:
            closing.cancel()
            early.cancel()
        self._compact_now.clear()
        return self._closing.is_set()

    @contextlib.asynccontextmanager
    async def _reading(self, what: str) -> AsyncIterator[AsyncConnection]:
        with translated(what):
            async with self.engine.connect() as conn:
                yield conn

    # --- tokens ----------------------------------------------------------------------

    async def put_token(self, record: TokenRecord) -> None:
        row = {
            "token_id": record.token_id,
            "secret_hash": record.secret_hash,
            "subject": record.subject,
            "role": record.role,
            "created_at": record.created_at,
            "expires_at": record.expires_at,
            "attributes": record.attributes,
            "used_at": record.used_at,
            "used_by": record.used_by,
        }
        async with translated(f'store token "{record.token_id}"'), self.engine.begin() as conn:
            await conn.execute(tokens.delete().where(tokens.c.token_id == record.token_id))
            await conn.execute(tokens.insert().values(row))

    async def get_token(self, token_id: str) -> TokenRecord | None:
        query = sa.select(tokens).where(tokens.c.token_id == token_id)
        async with self._reading(f'read token "{token_id}"') as conn:
            row = (await conn.execute(query)).mappings().one_or_none()
        return None if row is None else TokenRecord(**dict(row))

    async def list_tokens(
        self, limit: int, role: str | None = None, subject: str | None = None
    ) -> tuple[TokenRecord, ...]:
        query = sa.select(tokens).order_by(tokens.c.created_at, tokens.c.token_id).limit(limit)
        if role is not None:
            query = query.where(tokens.c.role == role)
        if subject is not None:
            query = query.where(tokens.c.subject == subject)
        async with self._reading("list tokens") as conn:
            rows = (await conn.execute(query)).mappings().all()
        return tuple(TokenRecord(**dict(row)) for row in rows)

    async def delete_token(self, token_id: str) -> None:
        async with translated(f'delete token "{token_id}"'), self.engine.begin() as conn:
            await conn.execute(tokens.delete().where(tokens.c.token_id == token_id))

    async def delete_tokens_of(self, subject: str, role: str) -> int:
        query = tokens.delete().where(tokens.c.subject == subject, tokens.c.role == role)
        async with translated(f'delete tokens of "{subject}"'), self.engine.begin() as conn:
            return int((await conn.execute(query)).rowcount)

    async def use_token(self, token_id: str, used_by: str, at: float) -> bool:
        update = (
            tokens.update()
            .where(tokens.c.token_id == token_id, tokens.c.used_at.is_(None))
            .values(used_at=at, used_by=used_by)
        )
        async with translated(f'use token "{token_id}"'), self.engine.begin() as conn:
            return (await conn.execute(update)).rowcount == 1

    async def release_token(self, token_id: str) -> None:
        update = (
            tokens.update().where(tokens.c.token_id == token_id).values(used_at=None, used_by=None)
        )
        async with translated(f'release token "{token_id}"'), self.engine.begin() as conn:
            await conn.execute(update)


def _event(row: Any) -> WatchEvent:
    body = row.body
    return WatchEvent(EventType(row.type), json.loads(body), int(row.resource_version), len(body))


def _object_row(obj: Object, rv: int) -> dict[str, Any]:
    kind, name = bookkeeping.key_of(obj)
    return {
        "kind": kind,
        "name": name,
        "uid": obj["metadata"]["uid"],
        "resource_version": rv,
        "body": _dumps(obj),
    }
