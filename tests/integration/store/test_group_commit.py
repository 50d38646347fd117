"""Group commit on real SQLite and PostgreSQL: writes made at once share transactions, each
caller gets its own outcome, a write that fails fails alone, the log stays whole and in
order, and a killed process loses no write it acknowledged."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any, cast

import pytest

from edgeplane.api.wire import Object
from edgeplane.store import AlreadyExists, Conflict, NotFound, StoreError
from edgeplane.store.engine import create_engine
from edgeplane.store.factory import open_store
from edgeplane.store.sql import SqlStore
from tests.integration.store.helpers import AnyStore, collect, rv_of, site

WRITERS = 60
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
async def sql_store(store_url: str) -> Any:
    store = open_store(store_url, poll_interval=0.05)
    await store.open()
    yield store
    await store.close()


async def _mixed_writes(store: AnyStore) -> list[Any]:
    """WRITERS creates, plus three writes refused for their precondition, all at once."""
    stale = site("seed", v="stale")
    stale["metadata"]["resourceVersion"] = "1"
    calls = [store.create(site(f"w{i:03d}", n=str(i))) for i in range(WRITERS)]
    calls.insert(10, store.replace(stale))  # Conflict: seed is at rv 2 by then
    calls.insert(20, store.create(site("seed")))  # AlreadyExists
    calls.insert(30, store.delete("Site", "ghost"))  # NotFound
    return await asyncio.gather(*calls, return_exceptions=True)


async def test_writers_at_once_each_get_their_own_outcome(store: AnyStore) -> None:
    await store.create(site("seed"))
    await store.replace(site("seed", v="2"))
    outcomes = await _mixed_writes(store)
    assert isinstance(outcomes.pop(30), NotFound)
    assert isinstance(outcomes.pop(20), AlreadyExists)
    assert isinstance(outcomes.pop(10), Conflict)
    names = [o["metadata"]["name"] for o in outcomes]
    assert names == [f"w{i:03d}" for i in range(WRITERS)]
    assert sorted(rv_of(o) for o in outcomes) == list(range(3, 3 + WRITERS))
    assert await store.current_resource_version() == 2 + WRITERS, "refused writes use no version"
    assert (await store.get("Site", "seed"))["metadata"]["labels"] == {"v": "2"}
    events = await collect(store, None, 0, 2 + WRITERS)
    assert [e.resource_version for e in events] == list(range(1, 3 + WRITERS))
    assert all(rv_of(e.object) == e.resource_version for e in events)
    for event in events[2:]:
        stored = await store.get("Site", event.object["metadata"]["name"])
        assert stored == event.object


async def test_writes_at_once_share_transactions(sql_store: SqlStore) -> None:
    before = sql_store.write_batches
    await asyncio.gather(*(sql_store.create(site(f"b{i}")) for i in range(WRITERS)))
    batches = sql_store.write_batches - before
    # Queued while the first commits: a handful of transactions, not one per write.
    assert 1 <= batches <= WRITERS // 4, batches
    assert (await sql_store.counts())["Site"] == WRITERS


async def test_a_write_that_breaks_in_the_database_fails_alone(sql_store: SqlStore) -> None:
    """Not a precondition: the write fails after it started writing (here: a value the
    encoder refuses), so the batch is rolled back and every other write done again."""
    broken = site("broken")
    broken["spec"]["bad"] = {1, 2}  # a set: not JSON
    calls = [sql_store.create(site(f"ok{i}")) for i in range(20)]
    calls.insert(7, sql_store.create(broken))
    outcomes = await asyncio.gather(*calls, return_exceptions=True)
    assert isinstance(outcomes.pop(7), TypeError)
    assert [cast(Object, o)["metadata"]["name"] for o in outcomes] == [f"ok{i}" for i in range(20)]
    assert await sql_store.current_resource_version() == 20
    with pytest.raises(NotFound):
        await sql_store.get("Site", "broken")


@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
async def test_a_database_error_of_one_write_fails_that_write_alone(sql_store: SqlStore) -> None:
    """PostgreSQL enforces the labels column's length: the INSERT fails inside the
    transaction (which PostgreSQL then refuses to go on with)."""
    calls = [sql_store.create(site(f"ok{i}")) for i in range(20)]
    calls.insert(3, sql_store.create(site("long", key="x" * 100)))
    outcomes = await asyncio.gather(*calls, return_exceptions=True)
    failed = outcomes.pop(3)
    assert isinstance(failed, StoreError) and 'create Site "long"' in str(failed)
    assert [cast(Object, o)["metadata"]["name"] for o in outcomes] == [f"ok{i}" for i in range(20)]
    events = await collect(sql_store, "Site", 0, 20)
    assert [e.resource_version for e in events] == list(range(1, 21))


async def test_the_failure_of_a_whole_batch_reaches_every_writer(
    sql_store: SqlStore, tmp_path: Path
) -> None:
    await sql_store.create(site("first"))
    working = sql_store._engine
    # A database that cannot be opened: the batch fails before its first write.
    sql_store._engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/missing/dir/x.db")
    try:
        outcomes = await asyncio.gather(
            *(sql_store.create(site(f"x{i}")) for i in range(5)), return_exceptions=True
        )
    finally:
        await sql_store.engine.dispose()
        sql_store._engine = working
    assert all(isinstance(o, StoreError) for o in outcomes), outcomes
    assert [f'create Site "x{i}"' in str(o) for i, o in enumerate(outcomes)] == [True] * 5
    assert await sql_store.counts() == {"Site": 1}


WRITER = """
import asyncio, sys
from edgeplane.store.engine import create_engine
from edgeplane.store.factory import open_store

async def main(url):
    store = open_store(url)
    await store.open()
    async def writer(w):
        for i in range(100_000):
            name = f"k{w}-{i}"
            await store.create({"apiVersion": "edgeplane.io/v1alpha1", "kind": "Site",
                                "metadata": {"name": name}, "spec": {"runtime": "process"}})
            print(name, flush=True)
    await asyncio.gather(*(writer(w) for w in range(16)))

asyncio.run(main(sys.argv[1]))
"""


async def test_a_killed_process_loses_no_acknowledged_write(store_url: str, tmp_path: Path) -> None:
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(script), store_url, stdout=asyncio.subprocess.PIPE, env=env
    )
    assert process.stdout is not None
    acknowledged = [(await process.stdout.readline()).decode().strip() for _ in range(300)]
    process.send_signal(signal.SIGKILL)
    acknowledged += (await process.stdout.read()).decode().split()
    await process.wait()
    assert "" not in acknowledged[:300], "the writer ended before 300 writes"
    store = open_store(store_url)
    await store.open()
    try:
        stored = {o["metadata"]["name"] for o in (await store.list("Site")).items}
        events = await collect(store, "Site", 0, len(stored))
        current = await store.current_resource_version()
    finally:
        await store.close()
    assert set(filter(None, acknowledged)) <= stored
    assert [e.resource_version for e in events] == list(range(1, current + 1))
    assert {e.object["metadata"]["name"] for e in events} == stored
