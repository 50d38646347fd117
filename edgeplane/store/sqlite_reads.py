"""Point reads on SQLite in one call to the driver's thread.

aiosqlite runs each SQLite connection in a thread of its own, and SQLAlchemy's adapter
crosses to that thread four or five times per statement (cursor, execute, fetch, close,
then the pool's rollback); under load each crossing waits for the GIL and the thread's
wake-up, and a GET by name cost about 0.9 ms of them. ``aiosqlite``'s
``execute_fetchall`` does the whole statement in one crossing (a GET then cost about
0.2 ms on this machine). Only for reads of one row by key, on a pooled connection
that began no transaction, so the pool has nothing to reset.

Neighbours: ``sql`` (which uses it for ``get`` on SQLite, SQLAlchemy everywhere else),
``driver_errors`` (sqlite3 errors become StoreError there too).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

_OBJECT_BODY = "SELECT body FROM objects WHERE kind = ? AND name = ?"


async def object_body(engine: AsyncEngine, kind: str, name: str) -> str | None:
    """The stored JSON of one object, or None."""
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        driver: Any = raw.driver_connection
        rows = await driver.execute_fetchall(_OBJECT_BODY, (kind, name))
    return str(rows[0][0]) if rows else None
