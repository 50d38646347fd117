"""The hub's informer over each store backend (memory, SQLite, PostgreSQL): it lists
once, then follows one watch, tells subscribers each change, and lists again when the
watch is Gone (a compacted log, a watcher that fell behind)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any, cast

import pytest

from edgeplane.hub import informer as informing
from edgeplane.hub.informer import RELIST, Change, Informer
from edgeplane.store.errors import Gone
from edgeplane.store.memory import MemoryStore
from edgeplane.store.protocol import Store, WatchEvent
from tests.conftest import AnyStore, MakeStore
from tests.integration.store.helpers import group, site
from tests.support.waiting import wait_until_async


@contextlib.asynccontextmanager
async def running(store: Any) -> AsyncIterator[Informer]:
    informer = Informer(cast(Store, store), ["Site", "SiteGroup"])
    stop = asyncio.Event()
    task = asyncio.create_task(informer.run(stop))
    try:
        async with asyncio.timeout(20):
            await informer.synced()
        yield informer
    finally:
        stop.set()
        async with asyncio.timeout(10):  # stops promptly when told
            await task


async def next_changes(queue: asyncio.Queue[Change], count: int) -> list[Change]:
    async with asyncio.timeout(20):
        return [await queue.get() for _ in range(count)]


def summary(changes: list[Change]) -> list[tuple[str, str, str]]:
    return [(c.kind, c.name, c.type) for c in changes]


async def test_it_lists_then_follows_the_watch(store: AnyStore) -> None:
    await store.create(site("s1", region="eu"))
    await store.create(group("g1"))
    async with running(store) as informer:
        assert set(informer.items("Site")) == {"s1"}
        assert informer.get("SiteGroup", "g1") is not None
        changes = informer.subscribe()
        s1 = await store.get("Site", "s1")
        s1["metadata"]["labels"] = {"region": "us"}
        await store.replace(s1)
        await store.create(site("s2"))
        # A kind it does not inform about is not cached and tells nothing.
        await store.create({**site("x"), "kind": "Tenant"})
        await store.delete("SiteGroup", "g1")
        found = await next_changes(changes, 3)
        assert summary(found) == [
            ("Site", "s1", "MODIFIED"),
            ("Site", "s2", "ADDED"),
            ("SiteGroup", "g1", "DELETED"),
        ]
        assert found[0].old is not None and found[0].old["metadata"]["labels"] == {"region": "eu"}
        assert found[0].new is not None and found[0].new["metadata"]["labels"] == {"region": "us"}
        assert found[2].new is None and found[2].old is not None
        assert set(informer.items("Site")) == {"s1", "s2"}
        assert dict(informer.items("SiteGroup")) == {}
        assert informer.version == await store.current_resource_version()
        assert informer.relists == 1


class GoneOnDemand:
    """A real store whose watch says Gone once when told (as when this watcher fell
    behind or the log was compacted), or just ends (a dropped watch), losing the event
    it was about to give."""

    def __init__(self, inner: AnyStore) -> None:
        self.inner, self.gone_next, self.end_next, self.watches = inner, False, False, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def watch(self, kind: str | None, since: int) -> AsyncIterator[WatchEvent]:
        self.watches += 1
        async for event in self.inner.watch(kind, since):
            if self.gone_next:
                self.gone_next = False
                raise Gone(since, event.resource_version)
            if self.end_next:
                self.end_next = False
                return
            yield event


@pytest.mark.parametrize("fault", ["gone_next", "end_next"], ids=["gone", "dropped"])
async def test_a_lost_watch_lists_again_and_tells_the_difference(
    store: AnyStore, fault: str
) -> None:
    await store.create(site("s1"))
    await store.create(site("s2"))
    flaky = GoneOnDemand(store)
    async with running(flaky) as informer:
        changes = informer.subscribe()
        setattr(flaky, fault, True)
        await store.delete("Site", "s1")  # the event that is lost with the watch
        await store.create(site("s3"))
        found = await next_changes(changes, 2)
        assert sorted(summary(found)) == [("Site", "s1", "DELETED"), ("Site", "s3", "ADDED")]
        assert informer.relists == 2 and flaky.watches == 2
        assert set(informer.items("Site")) == {"s2", "s3"}
        await store.create(site("s4"))  # and it follows the new watch
        assert summary(await next_changes(changes, 1)) == [("Site", "s4", "ADDED")]


async def test_a_compacted_log_lists_again() -> None:
    """The memory store's own compaction: a burst of writes that never yields to the
    informer, compacted, leaves its watch behind the log."""
    store = MemoryStore(event_retention=5)
    await store.open()
    async with running(store) as informer:
        for i in range(50):
            await store.create(site(f"s{i:02}"))
        assert informer.version < await store.compact()
        await wait_until_async(lambda: len(informer.items("Site")) == 50)
        assert informer.relists >= 2


async def test_a_subscriber_that_falls_behind_gets_one_relist(
    store: AnyStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(informing, "QUEUE_LIMIT", 3)
    async with running(store) as informer:
        slow, fast = informer.subscribe(), informer.subscribe()
        for i in range(5):
            await store.create(site(f"s{i}"))
            await next_changes(fast, 1)
        # Three queued, the fourth overflows: they go, one RELIST says so; then on.
        found = await next_changes(slow, 2)
        assert [c.type for c in found] == [RELIST, "ADDED"] and found[1].name == "s4"
        assert slow.empty()
        informer.unsubscribe(fast)
        await store.create(site("s9"))
        assert summary(await next_changes(slow, 1)) == [("Site", "s9", "ADDED")]
        assert fast.empty()


async def test_caught_up_waits_for_a_write(make_store: MakeStore) -> None:
    store = await make_store()
    async with running(store) as informer:
        created = await store.create(site("s1"))
        version = int(created["metadata"]["resourceVersion"])
        assert await informer.caught_up(version, 20)
        assert informer.get("Site", "s1") is not None
        assert not await informer.caught_up(version + 1000, 0.05)
