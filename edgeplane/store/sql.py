"""The SQL store: SQLAlchemy Core over SQLite (aiosqlite) or PostgreSQL (asyncpg).

Writes made at the same time commit together (group commit: ``grouping`` queues them,
``writes`` runs each batch in one transaction that first takes the ``counter`` row), so
writers are serialized, across hubs too, the event log is in commit order, and a burst
of writes costs one fsync, not one each; each caller still gets its own result or
error. Batches in one process also hold an asyncio lock, shared with compaction, which
keeps SQLite from ever returning "database is locked" to a caller.

Neighbours: ``engine`` (connections, pragmas), ``objects`` (metadata rules),
``selectors_sql`` (label selectors), ``watch`` (fan-out to watchers), ``eventlog``
(reading and compacting the log), ``codec`` (JSON), ``statistics`` (PostgreSQL planner
statistics), ``driver_errors`` (SQLAlchemy errors to StoreError), and the tables that
share nothing with objects: ``tokens_sql``, ``leases_sql``, ``leadership_sql``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from edgeplane.api.selectors import Selector
from edgeplane.api.wire import Object
from edgeplane.store import codec, sqlite_reads
from edgeplane.store import objects as bookkeeping
from edgeplane.store.continuation import ContinueTokens, load_secret, new_secret
from edgeplane.store.driver_errors import translated
from edgeplane.store.engine import create_engine, lock_for_migration
from edgeplane.store.errors import AlreadyExists, Gone, NotFound, StoreError
from edgeplane.store.eventlog import EventLog
from edgeplane.store.grouping import GroupCommit
from edgeplane.store.leadership_sql import LeaderTable
from edgeplane.store.leases_sql import LeaseTable
from edgeplane.store.migrations import upgrade
from edgeplane.store.protocol import EventType, ListResult, WatchEvent
from edgeplane.store.records_sql import RecordTable
from edgeplane.store.relay_sql import RelayTable
from edgeplane.store.schema import counter, objects
from edgeplane.store.sealed_sql import SealedTable
from edgeplane.store.selectors_sql import requirement_clause
from edgeplane.store.statistics import ANALYZE_EVERY, PlannerStatistics
from edgeplane.store.tokens_sql import TokenTable
from edgeplane.store.watch import BUFFER_BYTES, QUEUE_LIMIT, Pump, Subscriber, overflow_reason
from edgeplane.store.writes import (
    BatchWriter,
    Tx,
    Write,
    delete_object,
    insert_object,
    log_event,
    update_object,
)

PAGE_MAX = 1000


class SqlStore(TokenTable, LeaseTable, LeaderTable, RelayTable, RecordTable, SealedTable):
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
        self._retention = event_retention
        self._retention_bytes = event_retention_bytes
        self._watch_buffer_bytes = watch_buffer_bytes
        self._poll_interval = poll_interval
        self._compact_every = compact_every
        self._watch_queue_size = watch_queue_size
        self._analyze_every = analyze_every
        self._engine: AsyncEngine | None = None
        self._write_lock = asyncio.Lock()
        self._writes = GroupCommit(
            BatchWriter(lambda: self.engine, self._write_lock, self._committed).run
        )
        self._log = self._new_log()
        self._pump: Pump | None = None
        self._compactor: asyncio.Task[None] | None = None
        self._statistics: PlannerStatistics | None = None
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

    @property
    def event_retention(self) -> int:
        return self._retention

    @event_retention.setter
    def event_retention(self, events: int) -> None:
        self._retention = self._log.retention = events

    @property
    def event_retention_bytes(self) -> int:
        return self._retention_bytes

    @event_retention_bytes.setter
    def event_retention_bytes(self, size: int) -> None:
        self._retention_bytes = self._log.retention_bytes = size

    @property
    def write_batches(self) -> int:
        """Transactions the group commit ran so far (fewer than writes under load)."""
        return self._writes.batches

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
        await self._start()

    async def _start(self) -> None:
        self._log = self._new_log()
        start = await self.current_resource_version()
        self._pump = Pump(self._log.read_after, start, self._poll_interval)
        self._pump.start()
        self._compactor = asyncio.create_task(
            self._log.run_compactor(self._compact_every), name="edgeplane-compactor"
        )
        if not self.is_sqlite:
            self._statistics = PlannerStatistics(self.engine, self._analyze_every)

    def _new_log(self) -> EventLog:
        return EventLog(
            lambda: self.engine,
            self._write_lock,
            self._retention,
            self._retention_bytes,
        )

    async def close(self) -> None:
        await self._writes.drained()
        self._log.closing.set()
        if self._compactor:
            await self._compactor
        if self._statistics:
            await self._statistics.close()
        if self._pump:
            await self._pump.stop()
        # Watchers reading their backlog finish that read (then see the store closing)
        # before the engine and its connections go away.
        await self._log.reads.drained()
        if self._engine:
            await self._engine.dispose()
        self._engine = self._pump = self._compactor = self._statistics = None

    def _safe_url(self) -> str:
        return sa.engine.make_url(self.url).render_as_string(hide_password=True)

    # --- reads -----------------------------------------------------------------------

    async def get(self, kind: str, name: str) -> Object:
        if self.is_sqlite:
            with translated(f'get {kind} "{name}"'):
                body = await sqlite_reads.object_body(self.engine, kind, name)
            found = None if body is None else codec.loads_object(body)
        else:
            async with self._reading(f'get {kind} "{name}"') as conn:
                found = await _load(conn, kind, name)
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
        async with self._reading(f"list {kind}", snapshot=True) as conn:
            if rv is None:
                rv = await _current_rv(conn)
            rows = (await conn.execute(query)).all()
        items = [codec.loads_object(row.body) for row in rows[:page]]
        more = len(rows) > page
        token = self._continue.encode(kind, rows[page - 1].name, rv) if more else None
        return ListResult(items, rv, token)

    async def current_resource_version(self) -> int:
        async with self._reading("read the current resourceVersion") as conn:
            return await _current_rv(conn)

    async def counts(self) -> dict[str, int]:
        query = sa.select(objects.c.kind, sa.func.count()).group_by(objects.c.kind)
        async with self._reading("count objects") as conn:
            return {row[0]: int(row[1]) for row in await conn.execute(query)}

    @contextlib.asynccontextmanager
    async def _reading(self, what: str, snapshot: bool = False) -> AsyncIterator[AsyncConnection]:
        """A connection for reads; with ``snapshot``, every read through it sees the
        store at one moment. A list reads the counter, then the rows: read apart (each
        SELECT alone, as sqlite3 and READ COMMITTED run them), a write between the two
        put an object in the list newer than the list's resourceVersion, and a watch
        from that version sent its DELETED before any ADDED."""
        with translated(what):
            async with self.engine.connect() as conn:
                if snapshot:
                    await _begin_snapshot(conn)
                yield conn

    # --- writes ----------------------------------------------------------------------

    async def create(self, obj: Object) -> Object:
        kind, name = bookkeeping.key_of(obj)

        async def write(tx: Tx) -> Object | None:
            if await _load(tx.conn, kind, name) is not None:
                raise AlreadyExists(kind, name)
            new = bookkeeping.created(obj, tx.rv)
            body = codec.dumps_text(new)
            await insert_object(tx, new, body)
            await log_event(tx, EventType.ADDED, new, body)
            return new

        created: Object = await self._write(
            Write(write, f'create {kind} "{name}"', lambda: AlreadyExists(kind, name))
        )
        return created

    async def replace(self, obj: Object) -> Object:
        return await self._update(obj, bookkeeping.replaced)

    async def replace_status(self, obj: Object) -> Object:
        return await self._update(obj, bookkeeping.status_replaced)

    async def delete(self, kind: str, name: str, resource_version: str | None = None) -> Object:
        async def write(tx: Tx) -> Object | None:
            stored = await _load(tx.conn, kind, name)
            if stored is None:
                raise NotFound(kind, name)
            bookkeeping.check_version(stored, resource_version)
            await delete_object(tx, kind, name)
            last = bookkeeping.stamped(stored, tx.rv)
            await log_event(tx, EventType.DELETED, last, codec.dumps_text(last))
            return last

        deleted: Object = await self._write(Write(write, f'delete {kind} "{name}"'))
        return deleted

    async def _update(self, obj: Object, change: Callable[[Object, Object], Object]) -> Object:
        kind, name = bookkeeping.key_of(obj)
        unchanged: list[Object] = []

        async def write(tx: Tx) -> Object | None:
            stored = await _load(tx.conn, kind, name)
            if stored is None:
                raise NotFound(kind, name)
            bookkeeping.check_version(stored, obj)
            new = change(stored, obj)
            if new == stored:
                unchanged.append(stored)
                return None
            body = codec.dumps_text(bookkeeping.stamped(new, tx.rv))
            await update_object(tx, stored, new, body)
            moved = bookkeeping.moved_from(stored, new)
            await log_event(tx, EventType.MODIFIED, new, body, moved)
            return new

        written = await self._write(Write(write, f'update {kind} "{name}"'))
        return written if written is not None else unchanged[-1]

    async def _write(self, write: Write) -> Any:
        if self._engine is None:
            raise StoreError("the store is not open: call open() first")
        return await self._writes.submit(write)

    def _committed(self, writes: int, logged_bytes: int) -> None:
        self._log.logged(logged_bytes)
        if self._pump:
            self._pump.poke()
        if self._statistics:
            for _ in range(writes):
                self._statistics.note_write()

    # --- watch -----------------------------------------------------------------------

    async def watch(
        self, kind: str | None, since: int, *, site: str | None = None
    ) -> AsyncIterator[WatchEvent]:
        """Events after ``since``; the event objects are shared by watchers: do not mutate."""
        pump = self._pump
        if pump is None:
            raise StoreError("the store is not open: call open() first")
        queue: asyncio.Queue[WatchEvent | None] = asyncio.Queue(self._watch_queue_size)
        subscriber = Subscriber(kind, queue, self._watch_buffer_bytes, site=site)
        pump.add(subscriber)
        try:
            last = since
            async for old in self._log.backlog(kind, since, site):
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
            pump.discard(subscriber)

    async def compacted_resource_version(self) -> int:
        return await self._log.compacted()

    async def compact(self) -> int:
        """Drop events beyond the newest ``event_retention`` and beyond the newest
        ``event_retention_bytes``; return the new watermark."""
        return await self._log.compact()


async def _begin_snapshot(conn: AsyncConnection) -> None:
    """Start a read transaction whose reads share one snapshot: SQLite's deferred BEGIN
    (WAL: the snapshot is taken at the first read, kept to the end), PostgreSQL's
    REPEATABLE READ. Closing the connection ends it (a rollback: nothing was written)."""
    if conn.dialect.name == "sqlite":
        await conn.exec_driver_sql("BEGIN")
    else:
        await conn.execution_options(isolation_level="REPEATABLE READ")


async def _current_rv(conn: AsyncConnection) -> int:
    return int((await conn.execute(sa.select(counter.c.value))).scalar_one())


async def _load(conn: AsyncConnection, kind: str, name: str) -> Object | None:
    query = sa.select(objects.c.body).where((objects.c.kind == kind) & (objects.c.name == name))
    body = (await conn.execute(query)).scalar_one_or_none()
    return None if body is None else codec.loads_object(body)
