"""Continue tokens on the SQL backends: signed with a secret the database keeps, so
every hub of one PostgreSQL (or a reopened SQLite file) takes the others' tokens, and
a store with another secret refuses them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from edgeplane.store.factory import open_store, sqlite_url
from edgeplane.store.sql import SqlStore
from tests.integration.store.helpers import site


@pytest.fixture
async def hubs(store_url: str) -> AsyncIterator[tuple[SqlStore, SqlStore]]:
    """Two stores opening one new database at once, like two hubs starting together."""
    one = open_store(store_url, poll_interval=0.05)
    two = open_store(store_url, poll_interval=0.05)
    await asyncio.gather(one.open(), two.open())
    yield one, two
    await one.close()
    await two.close()


async def test_every_hub_of_one_database_takes_the_others_tokens(
    hubs: tuple[SqlStore, SqlStore], store_url: str
) -> None:
    one, two = hubs
    for name in ("a", "b", "c"):
        await one.create(site(name))
    first = await one.list("Site", limit=1)
    assert first.continue_token
    second = await two.list("Site", limit=1, continue_token=first.continue_token)
    assert [o["metadata"]["name"] for o in second.items] == ["b"]
    assert second.resource_version == first.resource_version
    again = open_store(store_url, poll_interval=0.05)
    await again.open()  # a restarted hub keeps the secret
    try:
        third = await again.list("Site", limit=1, continue_token=second.continue_token)
        assert [o["metadata"]["name"] for o in third.items] == ["c"]
    finally:
        await again.close()


async def test_another_database_refuses_the_token(
    hubs: tuple[SqlStore, SqlStore], tmp_path: Path
) -> None:
    one, _ = hubs
    for name in ("a", "b"):
        await one.create(site(name))
    token = (await one.list("Site", limit=1)).continue_token
    assert token
    (tmp_path / "other").mkdir()
    other = open_store(sqlite_url(tmp_path / "other"), poll_interval=0.05)
    await other.open()
    try:
        await other.create(site("a"))
        with pytest.raises(ValueError, match="not one this hub issued"):
            await other.list("Site", limit=1, continue_token=token)
    finally:
        await other.close()
