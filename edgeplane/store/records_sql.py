"""Data records in the SQL backends: the ``data_records`` table (migration 0009), the
hub's own sink for DataStreams (``hub.data``).

``(site, epoch, seq)`` is unique: a batch sent again after a lost answer inserts
nothing twice (``ON CONFLICT DO NOTHING``, the same on SQLite and PostgreSQL), which is
what makes the uplink's at-least-once delivery exactly once in effect. ``id`` orders
records as they were stored, so a tail follows new ones with ``after_id`` and never
misses one stored meanwhile (SQLite's ``AUTOINCREMENT`` never hands out an id again).

Neighbours: ``dataplane.wire`` (what sites send), ``hub.data`` (ingest and queries).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from edgeplane.store.driver_errors import translated
from edgeplane.store.engine_bound import EngineBound
from edgeplane.store.protocol import DataRecord, RecordQuery
from edgeplane.store.schema import metadata

data_records = sa.Table(
    "data_records",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("site", sa.String(253), nullable=False),
    sa.Column("epoch", sa.String(16), nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("stream", sa.String(253), nullable=False),
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("priority", sa.Integer, nullable=False),
    sa.Column("received", sa.Float, nullable=False),
    sa.Column("body", sa.LargeBinary, nullable=False),
    sa.UniqueConstraint("site", "epoch", "seq", name="uq_data_records_origin"),
    sa.Index("ix_data_records_stream_id", "stream", "id"),
    sa.Index("ix_data_records_stream_at", "stream", "at"),
    sqlite_autoincrement=True,
)
_c = data_records.c
QUERY_LIMIT_MAX = 10_000


class RecordTable(EngineBound):
    """``put_records`` and ``query_records`` of the ``Store`` protocol."""

    async def put_records(self, records: Sequence[DataRecord]) -> int:
        if not records:
            return 0
        now = time.time()
        rows = [
            {
                "site": r.site,
                "epoch": r.epoch,
                "seq": r.seq,
                "stream": r.stream,
                "at": r.at,
                "priority": r.priority,
                "received": now,
                "body": r.body,
            }
            for r in records
        ]
        insert = (sqlite.insert if self.is_sqlite else postgresql.insert)(data_records)
        # RETURNING counts what was new on both backends (asyncpg's executemany has no
        # rowcount); SQLAlchemy sends the rows as a few multi-row INSERTs.
        query = insert.on_conflict_do_nothing(index_elements=["site", "epoch", "seq"]).returning(
            _c.id
        )
        async with translated(f"store {len(rows)} data record(s)"), self.engine.begin() as conn:
            result = await conn.execute(query, rows)
            return len(result.all())

    async def query_records(self, query: RecordQuery) -> tuple[DataRecord, ...]:
        where = [_c.stream == query.stream, _c.id > query.after_id]
        if query.site is not None:
            where.append(_c.site == query.site)
        if query.since is not None:
            where.append(_c.at >= query.since)
        if query.until is not None:
            where.append(_c.at < query.until)
        limit = max(1, min(query.limit, QUERY_LIMIT_MAX))
        select = sa.select(data_records).where(*where).order_by(_c.id).limit(limit)
        async with translated(f"read records of {query.stream}"), self.engine.connect() as conn:
            rows = (await conn.execute(select)).all()
        return tuple(
            DataRecord(
                r.site, r.epoch, r.seq, r.stream, r.at, r.priority, bytes(r.body), r.received, r.id
            )
            for r in rows
        )
