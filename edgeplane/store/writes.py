"""Writes of the SQL store, a batch at a time: one transaction, one commit, each write
with its own outcome.

A batch first takes the ``counter`` row (an UPDATE that changes nothing): its lock
serializes writers, across hubs too, so commit order is resourceVersion order and the
event log stays in order. Each write then reads and checks, and only writes once its
checks passed, so a write refused for its precondition (NotFound, Conflict,
AlreadyExists) has written nothing and fails alone; its version is not used. Versions go
to the writes that change something, one each, and the counter is set once at the end.

Any other failure of a write (a driver error, a bug) may have left the transaction half
written: the whole transaction is rolled back and each write of the batch runs again on
its own, so the failing one fails alone there. A failure of the batch itself (taking the
counter, committing) reaches every write of it, as a ``StoreError`` naming that write.

Neighbours: ``grouping`` queues the writes, ``sql`` says what each write does,
``driver_errors`` names the failures.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from edgeplane.api.wire import Object
from edgeplane.store import objects as bookkeeping
from edgeplane.store.driver_errors import translate
from edgeplane.store.errors import AlreadyExists, Conflict, NotFound, StoreError
from edgeplane.store.grouping import Queued
from edgeplane.store.protocol import EventType
from edgeplane.store.schema import counter, events, labels, objects

MAX_BATCH_BYTES = 8 * 1024 * 1024
"""Logged bytes after which a batch takes no more writes (the rest go in the next)."""
PRECONDITIONS = (NotFound, Conflict, AlreadyExists)

_TAKE_COUNTER = (
    counter.update()
    .where(counter.c.id == 1)
    .values(value=counter.c.value)
    .returning(counter.c.value)
)


@dataclass
class Tx:
    """What one write of a batch gets: the connection and the version it will have."""

    conn: AsyncConnection
    rv: int
    logged_bytes: int = 0


@dataclass(frozen=True)
class Write:
    body: Callable[[Tx], Awaitable[Any]]
    """Checks, then writes; returns what the caller gets, or None when nothing changed."""
    what: str
    on_integrity_error: Callable[[], StoreError] | None = None


Outcome = tuple[Queued[Write], object]


class _Spoiled(Exception):
    """A write failed after it may have written: the transaction cannot be committed."""


class BatchWriter:
    def __init__(
        self,
        engine: Callable[[], AsyncEngine],
        lock: asyncio.Lock,
        committed: Callable[[int, int], None],
        max_bytes: int = MAX_BATCH_BYTES,
    ) -> None:
        self._engine, self._lock, self._max_bytes = engine, lock, max_bytes
        self._committed = committed
        """Told (writes, logged bytes) after each commit."""

    async def run(self, batch: list[Queued[Write]]) -> Sequence[Queued[Write]]:
        """Write ``batch``, settle each write; hand back those not reached."""
        async with self._lock:
            outcomes, leftover = await self._outcomes(batch)
        for queued, outcome in outcomes:
            queued.settle(outcome)
        return leftover

    async def _outcomes(
        self, batch: list[Queued[Write]]
    ) -> tuple[list[Outcome], Sequence[Queued[Write]]]:
        try:
            return await self._attempt(batch)
        except _Spoiled as spoiled:
            if len(batch) == 1:
                cause = spoiled.__cause__ or spoiled
                return [(batch[0], _failure(batch[0].write, cause))], ()
            outcomes: list[Outcome] = []
            for queued in batch:  # each alone: the one that spoiled fails alone
                outcomes += (await self._outcomes([queued]))[0]
            return outcomes, ()
        except Exception as e:  # the batch itself failed: every write of it did
            return [(queued, _failure(queued.write, e)) for queued in batch], ()

    async def _attempt(
        self, batch: list[Queued[Write]]
    ) -> tuple[list[Outcome], Sequence[Queued[Write]]]:
        async with self._engine().connect() as conn:
            transaction = await conn.begin()
            try:
                base = int((await conn.execute(_TAKE_COUNTER)).scalar_one())
                outcomes, used, size, leftover = await self._apply(conn, base, batch)
                if not used:
                    await transaction.rollback()
                    return outcomes, leftover
                await conn.execute(
                    counter.update().where(counter.c.id == 1).values(value=base + used)
                )
                await transaction.commit()
            except BaseException:
                with contextlib.suppress(SQLAlchemyError):
                    await transaction.rollback()
                raise
        self._committed(used, size)
        return outcomes, leftover

    async def _apply(
        self, conn: AsyncConnection, base: int, batch: list[Queued[Write]]
    ) -> tuple[list[Outcome], int, int, Sequence[Queued[Write]]]:
        outcomes: list[Outcome] = []
        used = size = 0
        for index, queued in enumerate(batch):
            if size >= self._max_bytes:
                return outcomes, used, size, batch[index:]
            tx = Tx(conn, base + used + 1)
            try:
                result = await queued.write.body(tx)
            except PRECONDITIONS as refused:
                outcomes.append((queued, refused))
                continue
            except Exception as e:
                raise _Spoiled(queued.write.what) from e
            if result is not None:
                used, size = used + 1, size + tx.logged_bytes
            outcomes.append((queued, result))
        return outcomes, used, size, ()


def _failure(write: Write, error: BaseException) -> BaseException:
    return translate(write.what, error, write.on_integrity_error)


# --- what a write does to the tables ----------------------------------------------------


async def insert_object(tx: Tx, obj: Object, body: str) -> None:
    await tx.conn.execute(objects.insert().values(object_row(obj, tx.rv, body)))
    await insert_labels(tx.conn, obj)


async def update_object(tx: Tx, stored: Object, new: Object, body: str) -> None:
    kind, name = bookkeeping.key_of(new)
    key = (objects.c.kind == kind) & (objects.c.name == name)
    await tx.conn.execute(objects.update().where(key).values(object_row(new, tx.rv, body)))
    if bookkeeping.labels_of(new) != bookkeeping.labels_of(stored):
        await tx.conn.execute(
            labels.delete().where((labels.c.kind == kind) & (labels.c.name == name))
        )
        await insert_labels(tx.conn, new)


async def delete_object(tx: Tx, kind: str, name: str) -> None:
    await tx.conn.execute(
        objects.delete().where((objects.c.kind == kind) & (objects.c.name == name))
    )
    await tx.conn.execute(labels.delete().where((labels.c.kind == kind) & (labels.c.name == name)))


async def insert_labels(conn: AsyncConnection, obj: Object) -> None:
    kind, name = bookkeeping.key_of(obj)
    rows = [
        {"kind": kind, "name": name, "key": k, "value": v}
        for k, v in bookkeeping.labels_of(obj).items()
    ]
    if rows:
        await conn.execute(labels.insert(), rows)


async def log_event(
    tx: Tx, type_: EventType, obj: Object, body: str, previous_site: str | None = None
) -> None:
    """Append the event of this write; ``body`` is ``obj`` encoded (once for both rows)."""
    kind, name = bookkeeping.key_of(obj)
    size = len(body.encode()) if not body.isascii() else len(body)
    row = {
        "resource_version": tx.rv,
        "kind": kind,
        "name": name,
        "type": type_.value,
        "body": body,
        "size": size,
        "site": bookkeeping.site_of(obj),
        "previous_site": previous_site,
    }
    await tx.conn.execute(events.insert().values(row))
    tx.logged_bytes += size


def object_row(obj: Object, rv: int, body: str) -> dict[str, Any]:
    kind, name = bookkeeping.key_of(obj)
    return {
        "kind": kind,
        "name": name,
        "uid": obj["metadata"]["uid"],
        "resource_version": rv,
        "body": body,
    }
