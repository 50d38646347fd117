"""Async engines for the two backends, and the lock that serializes schema upgrades.

SQLite: WAL (readers never wait for the writer), ``synchronous=FULL`` (an
acknowledged write survives a crash or power cut), a 30 s busy timeout and foreign
keys, set on every new connection. PostgreSQL: a pool with pre-ping, so connections
that died with a server restart or failover are replaced instead of failing requests.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

MIGRATION_LOCK = 0x6564676570  # pg_advisory_xact_lock key: "edgep"
_SQLITE_PRAGMAS = ("journal_mode=WAL", "synchronous=FULL", "busy_timeout=30000", "foreign_keys=ON")


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def create_engine(url: str) -> AsyncEngine:
    if not is_sqlite(url):
        return create_async_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)
    engine = create_async_engine(url, connect_args={"timeout": 30})
    event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


async def lock_for_migration(conn: AsyncConnection) -> None:
    """Serialize schema upgrades of hubs opening the same database at once."""
    if conn.dialect.name == "postgresql":
        await conn.execute(sa.select(sa.func.pg_advisory_xact_lock(MIGRATION_LOCK)))
        return
    # sqlite3 would run the DDL outside any transaction; an explicit write
    # transaction makes a second opener wait here, then find the schema current.
    await conn.exec_driver_sql("BEGIN IMMEDIATE")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    for pragma in _SQLITE_PRAGMAS:
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()
