"""Shared fixtures: a real PostgreSQL for the whole session, and stores per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from edgeplane.store.factory import open_store, sqlite_url
from edgeplane.store.sql import SqlStore
from tests.support.postgres import PostgresUnavailable, running_postgres


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


async def fresh_database(admin_url: str) -> str:
    """Create an empty database next to the admin one; return its URL."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(admin_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture(params=["sqlite", "postgresql"])
async def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return sqlite_url(tmp_path)
    admin: str = request.getfixturevalue("postgres_url")
    return await fresh_database(admin)


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[SqlStore]:
    opened = open_store(store_url, poll_interval=0.05)
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()
