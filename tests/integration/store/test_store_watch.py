"""Watches on memory, SQLite and PostgreSQL: order, resume, Gone, fan-out, shutdown."""

from __future__ import annotations

import asyncio

import pytest

from edgeplane.store import EventType, Gone
from tests.conftest import MakeStore
from tests.integration.store.helpers import AnyStore, collect, group, rv_of, site
from tests.support.waiting import wait_until_async


async def write_history(store: AnyStore) -> None:
    """Six writes, rv 1..6: Site a added, group g added, a modified, b added, a deleted."""
    await store.create(site("a"))
    await store.create(group("g"))
    await store.replace(site("a", x="1"))
    await store.replace(site("a", x="1"))  # no-op: no event
    await store.create(site("b"))
    await store.replace_status({**site("b"), "status": {"phase": "Online"}})
    await store.delete("Site", "a")


HISTORY = [
    (1, EventType.ADDED, "Site", "a"),
    (2, EventType.ADDED, "SiteGroup", "g"),
    (3, EventType.MODIFIED, "Site", "a"),
    (4, EventType.ADDED, "Site", "b"),
    (5, EventType.MODIFIED, "Site", "b"),
    (6, EventType.DELETED, "Site", "a"),
]


@pytest.mark.parametrize("since", [0, 1, 3, 5], ids=lambda s: f"since-{s}")
@pytest.mark.parametrize("kind", [None, "Site"], ids=["all-kinds", "Site"])
async def test_watch_replays_the_log_from_any_version(
    store: AnyStore, since: int, kind: str | None
) -> None:
    await write_history(store)
    expected = [h for h in HISTORY if h[0] > since and kind in (None, h[2])]
    events = await collect(store, kind, since, len(expected))
    seen = [
        (e.resource_version, e.type, e.object["kind"], e.object["metadata"]["name"]) for e in events
    ]
    assert seen == expected
    assert all(rv_of(e.object) == e.resource_version for e in events)


async def test_watch_follows_live_writes_after_its_backlog(store: AnyStore) -> None:
    first = await store.create(site("a"))
    watcher = asyncio.create_task(collect(store, "Site", rv_of(first), 3))
    await store.create(group("g"))
    await store.replace(site("a", x="1"))
    await store.create(site("b"))
    deleted = await store.delete("Site", "b")
    events = await watcher
    assert [(e.type, e.object["metadata"]["name"]) for e in events] == [
        (EventType.MODIFIED, "a"),
        (EventType.ADDED, "b"),
        (EventType.DELETED, "b"),
    ]
    assert events[-1].object == deleted, "the DELETED event carries the returned last state"


async def test_watch_from_a_compacted_version_is_gone(make_store: MakeStore) -> None:
    small = await make_store(event_retention=3)
    for i in range(10):
        await small.create(site(f"s{i}"))
    assert await small.compact() == 7
    assert await small.compacted_resource_version() == 7
    with pytest.raises(Gone, match="resourceVersion 2 is too old"):
        await collect(small, "Site", 2, 1)
    events = await collect(small, "Site", 7, 3)
    assert [e.resource_version for e in events] == [8, 9, 10]
    assert await small.compact() == 7, "compacting again with nothing new changes nothing"


async def test_hundred_watchers_see_every_event_in_order(store: AnyStore) -> None:
    await store.create(site("before"))
    watchers = [asyncio.create_task(collect(store, None, 1, 40)) for _ in range(100)]
    await asyncio.gather(*(store.create(site(f"s{i:02d}")) for i in range(20)))
    await asyncio.gather(*(store.replace(site(f"s{i:02d}", v="2")) for i in range(20)))
    results = await asyncio.gather(*watchers)
    expected = list(range(2, 42))
    for events in results:
        assert [e.resource_version for e in events] == expected


async def test_watches_end_when_the_store_closes(make_store: MakeStore) -> None:
    closing = await make_store()
    for i in range(50):
        await closing.create(site(f"s{i}"))
    seen: dict[int, int] = {}

    async def follow(index: int, since: int) -> None:
        seen[index] = 0
        async for _ in closing.watch(None, since):
            seen[index] += 1
            await asyncio.sleep(0)

    # Half follow live writes, half are still reading their backlog when close() comes.
    tasks = [asyncio.create_task(follow(i, 50 if i % 2 else 0)) for i in range(10)]
    await wait_until_async(lambda: len(seen) == 10)
    await closing.create(site("last"))
    await closing.close()
    async with asyncio.timeout(20):
        await asyncio.gather(*tasks)  # every watch ended without an error


async def test_a_watch_started_in_the_future_waits_for_that_version(store: AnyStore) -> None:
    watcher = asyncio.create_task(collect(store, "Site", 2, 1))
    for name in "abc":
        await store.create(site(name))
    events = await watcher
    assert [e.resource_version for e in events] == [3]
