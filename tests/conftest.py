"""Shared fixtures: a real PostgreSQL for the whole session, and stores per test.

``make_store`` / ``store`` run a test on every backend (memory, SQLite, PostgreSQL);
``store_url`` gives SQL-only tests (two hubs on one database) a fresh, empty database.
PostgreSQL is started once per session from Debian's binaries; when it cannot start,
its tests skip with the reason, or fail when ``CI=true``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from edgeplane.store.factory import open_store, sqlite_url
from edgeplane.store.memory import MemoryStore
from edgeplane.store.sql import SqlStore
from tests.support.postgres import PostgresUnavailable, running_postgres

AnyStore = MemoryStore | SqlStore
MakeStore = Callable[..., Awaitable[AnyStore]]


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """The admin database of a private PostgreSQL started for this session."""
    try:
        with running_postgres() as url:
            yield url
    except PostgresUnavailable as e:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is required in CI: {e}")
        pytest.skip(f"PostgreSQL not available here: {e}")


def _asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


async def fresh_database(admin_url: str) -> str:
    """Create an empty database next to the admin one; return its URL."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(_asyncpg_dsn(admin_url))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


async def drop_database(admin_url: str, url: str) -> None:
    """Drop a database made by ``fresh_database`` (matters on a shared server)."""
    conn = await asyncpg.connect(_asyncpg_dsn(admin_url))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
    finally:
        await conn.close()


async def _database(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if backend == "sqlite":
        return sqlite_url(tmp_path)
    admin: str = request.getfixturevalue("postgres_url")
    return await fresh_database(admin)


@pytest.fixture(params=["sqlite", "postgresql"])
async def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A fresh SQL database (not opened) for tests that need two stores on one database."""
    url = await _database(request.param, request, tmp_path)
    yield url
    if request.param == "postgresql":
        await drop_database(request.getfixturevalue("postgres_url"), url)


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
async def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[MakeStore]:
    """Open a store of this backend with options; all are closed after the test."""
    url = None if request.param == "memory" else await _database(request.param, request, tmp_path)
    opened: list[AnyStore] = []

    async def make(**options: Any) -> AnyStore:
        made: AnyStore
        if url is None:
            made = MemoryStore(event_retention=options.get("event_retention", 100_000))
        else:
            made = open_store(url, **{"poll_interval": 0.05, **options})
        await made.open()
        opened.append(made)
        return made

    try:
        yield make
    finally:
        for made in opened:
            await made.close()
        if request.param == "postgresql" and url is not None:
            await drop_database(request.getfixturevalue("postgres_url"), url)


@pytest.fixture
async def store(make_store: MakeStore) -> AnyStore:
    return await make_store()
