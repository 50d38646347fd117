"""What only the SQL backends do: several hubs on one database, migrations, pragmas,
driver failures, and slow watchers falling off the fan-out."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection

from edgeplane.api.selectors import parse_selector
from edgeplane.api.wire import Object
from edgeplane.store import Conflict, Gone, StoreError, migrations
from edgeplane.store.factory import open_store
from edgeplane.store.protocol import TokenRecord
from edgeplane.store.schema import metadata
from edgeplane.store.sql import SqlStore
from tests.integration.store.helpers import collect, rv_of, site
from tests.support.waiting import wait_until_async


@pytest.fixture
async def hubs(store_url: str) -> Any:
    """Two stores on one database, like two hubs sharing PostgreSQL."""
    one = open_store(store_url, poll_interval=0.05)
    two = open_store(store_url, poll_interval=0.05)
    await asyncio.gather(one.open(), two.open())  # both migrate at once: one wins, one waits
    yield one, two
    await one.close()
    await two.close()


async def test_two_hubs_writing_at_once_are_seen_once_in_order(
    hubs: tuple[SqlStore, SqlStore],
) -> None:
    one, two = hubs
    start = await two.current_resource_version()
    watchers = [asyncio.create_task(collect(hub, "Site", start, 60)) for hub in (one, two)]
    await asyncio.gather(
        *(one.create(site(f"one-{i}")) for i in range(30)),
        *(two.create(site(f"two-{i}")) for i in range(30)),
    )
    for events in await asyncio.gather(*watchers):
        assert [e.resource_version for e in events] == list(range(start + 1, start + 61))
    assert await one.counts() == await two.counts() == {"Site": 60}


async def test_a_hub_sees_the_others_writes_by_polling(hubs: tuple[SqlStore, SqlStore]) -> None:
    one, two = hubs
    watcher = asyncio.create_task(collect(two, "Site", 0, 2))
    await one.create(site("a"))
    await one.replace(site("a", x="1"))
    assert [e.object["metadata"]["labels"] for e in await watcher] == [{}, {"x": "1"}]


async def test_conflicts_hold_across_hubs(hubs: tuple[SqlStore, SqlStore]) -> None:
    one, two = hubs
    created = await one.create(site("a"))
    stale: Object = {
        **site("a", by="one"),
        "metadata": {**created["metadata"], "labels": {"by": "one"}},
    }
    fresh: Object = {
        **site("a", by="two"),
        "metadata": {**created["metadata"], "labels": {"by": "two"}},
    }
    outcomes = await asyncio.gather(one.replace(stale), two.replace(fresh), return_exceptions=True)
    assert sum(isinstance(o, Conflict) for o in outcomes) == 1, "exactly one update wins"


async def test_a_join_token_is_used_once_across_hubs(hubs: tuple[SqlStore, SqlStore]) -> None:
    one, two = hubs
    await one.put_token(TokenRecord("j", "hash", "", "join", 1.0, None))
    uses = [hub.use_token("j", f"site-{i}", 2.0) for i in range(5) for hub in hubs]
    assert sum(await asyncio.gather(*uses)) == 1, "exactly one join wins the token"
    used = await two.get_token("j")
    assert used is not None and used.used_by is not None


async def test_reopening_keeps_data_and_migrates_nothing(store_url: str) -> None:
    first = open_store(store_url)
    await first.open()
    created = await first.create(site("a"))
    await first.close()
    again = open_store(store_url)
    await again.open()
    try:
        assert await again.get("Site", "a") == created
        assert rv_of(await again.create(site("b"))) == rv_of(created) + 1
    finally:
        await again.close()


def _schema_drift(connection: Connection) -> list[Any]:
    return list(compare_metadata(MigrationContext.configure(connection), metadata))


async def test_migrations_build_exactly_the_declared_schema(store_url: str) -> None:
    store = open_store(store_url)
    await store.open()
    try:
        async with store.engine.connect() as conn:
            drift = await conn.run_sync(_schema_drift)
            version = await conn.execute(sa.text("SELECT version_num FROM alembic_version"))
            assert version.scalar_one() == "0010"
    finally:
        await store.close()
    assert drift == []


async def test_sqlite_runs_in_wal_with_foreign_keys_and_a_busy_timeout(tmp_path: Any) -> None:
    store = open_store(f"sqlite+aiosqlite:///{tmp_path / 'p.db'}")
    await store.open()
    try:
        async with store.engine.connect() as conn:
            pragmas = {
                name: (await conn.exec_driver_sql(f"PRAGMA {name}")).scalar()
                for name in ("journal_mode", "foreign_keys", "busy_timeout")
            }
    finally:
        await store.close()
    assert pragmas == {"journal_mode": "wal", "foreign_keys": 1, "busy_timeout": 30000}


async def test_database_failures_are_store_errors_naming_the_operation(store_url: str) -> None:
    store = open_store(store_url)
    await store.open()
    try:
        await store.create(site("a"))
        async with store.engine.begin() as conn:
            await conn.execute(sa.text("DROP TABLE objects"))
        with pytest.raises(StoreError, match='could not get Site "a"'):
            await store.get("Site", "a")
        with pytest.raises(StoreError, match='could not create Site "b"'):
            await store.create(site("b"))
    finally:
        await store.close()


async def test_a_slow_watcher_gets_what_it_holds_then_gone(store_url: str) -> None:
    store = open_store(store_url, poll_interval=0.05, watch_queue_size=5)
    await store.open()
    try:
        await store.create(site("s00"))
        slow = aiter(store.watch("Site", 0))
        assert (await anext(slow)).resource_version == 1  # now parked, not reading
        for i in range(1, 21):
            await store.create(site(f"s{i:02d}"))
        received = []
        with pytest.raises(Gone, match="fell more than 5 events or"):
            async with asyncio.timeout(20):
                async for event in slow:
                    received.append(event.resource_version)
        assert received == list(range(2, 2 + len(received))) and len(received) >= 5
        fresh = await collect(store, "Site", 1, 20)  # relisting from a version works again
        assert [e.resource_version for e in fresh] == list(range(2, 22))
    finally:
        await store.close()


@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
async def test_watches_and_writes_survive_killed_connections(store_url: str) -> None:
    store = open_store(store_url, poll_interval=0.05)
    await store.open()
    try:
        seen: list[str] = []

        async def follow() -> None:
            async for event in store.watch("Site", 0):
                seen.append(event.object["metadata"]["name"])

        watcher = asyncio.create_task(follow())
        await store.create(site("before"))
        await wait_until_async(lambda: seen == ["before"])
        dsn = store_url.replace("postgresql+asyncpg://", "postgresql://")
        admin = await asyncpg.connect(dsn)
        try:
            killed = await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        finally:
            await admin.close()
        assert killed >= 1
        await store.create(site("after"))
        await wait_until_async(lambda: seen == ["before", "after"])
    finally:
        await store.close()
    await asyncio.wait_for(watcher, 10)


async def test_a_database_at_an_older_revision_is_upgraded_on_open(store_url: str) -> None:
    store = open_store(store_url)
    await store.open()
    await store.create(site("a", region="eu"))
    async with store.engine.begin() as conn:
        await conn.run_sync(lambda c: command.downgrade(_alembic_config(c), "0001"))
    await store.close()
    upgraded = open_store(store_url)
    await upgraded.open()
    try:
        async with upgraded.engine.connect() as conn:
            assert await conn.run_sync(_schema_drift) == []
        listed = await upgraded.list("Site", parse_selector("region=eu"))
        assert [o["metadata"]["name"] for o in listed.items] == ["a"]
    finally:
        await upgraded.close()


def _alembic_config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(Path(migrations.__file__).parent))
    config.attributes["connection"] = connection
    return config


@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
async def test_postgresql_statistics_are_refreshed_after_bulk_writes(store_url: str) -> None:
    store = open_store(store_url, analyze_every=5)
    await store.open()
    query = sa.text(
        "SELECT count(*) FROM pg_stat_user_tables "
        "WHERE relname IN ('objects', 'labels') AND last_analyze IS NOT NULL"
    )
    try:
        for i in range(5):
            await store.create(site(f"s{i}", region="eu"))
        async with asyncio.timeout(20):
            while True:
                async with store.engine.connect() as conn:
                    if (await conn.execute(query)).scalar_one() == 2:
                        break
                await asyncio.sleep(0.05)
    finally:
        await store.close()


async def test_the_event_log_is_compacted_to_its_byte_budget(store_url: str) -> None:
    """20 events of about 10 kB under a 50 kB budget: the newest that fit are kept."""
    store = open_store(store_url, event_retention_bytes=50_000)
    await store.open()
    try:
        for i in range(20):
            obj = site(f"s{i:02d}")
            obj["metadata"]["annotations"] = {"note": "n" * 10_000}
            await store.create(obj)
        watermark = await store.compact()
        assert watermark == 16  # four events of ~10 kB fit in 50 kB, five do not
        kept = await collect(store, "Site", watermark, 20 - watermark)
        assert [e.resource_version for e in kept] == list(range(watermark + 1, 21))
        assert sum(e.size for e in kept) <= 50_000
        with pytest.raises(Gone):
            await collect(store, "Site", watermark - 1, 1)
    finally:
        await store.close()
