"""Watches for one site (``site=``) on memory, SQLite and PostgreSQL: only that site's
objects, from the backlog and live, and an object moved away still reaches the site it
left."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from edgeplane.api.wire import Object
from edgeplane.store import EventType
from tests.conftest import MakeStore
from tests.integration.store.helpers import AnyStore, collect
from tests.support.waiting import wait_until_async

SITE = "edgeplane.io/site"


def assignment(name: str, site: str | None, **extra: str) -> Object:
    labels = {SITE: site} if site else {}
    return {
        "apiVersion": "edgeplane.io/v1alpha1",
        "kind": "Assignment",
        "metadata": {"name": name, "labels": {**labels, **extra}},
        "spec": {"site": site or ""},
    }


def names(events: list[Any]) -> list[tuple[int, str, str]]:
    return [(e.resource_version, e.type.value, e.object["metadata"]["name"]) for e in events]


async def site_events(store: AnyStore, site: str, since: int, count: int) -> list[Any]:
    events: list[Any] = []
    async with asyncio.timeout(20):
        async for event in store.watch("Assignment", since, site=site):
            events.append(event)
            if len(events) == count:
                break
    return events


async def test_a_site_watch_replays_only_that_sites_objects(store: AnyStore) -> None:
    await store.create(assignment("web.a", "a"))
    await store.create(assignment("web.b", "b"))
    await store.create(assignment("free", None))
    await store.replace(assignment("web.a", "a", rev="2"))
    await store.create({**assignment("site-a", "a"), "kind": "Site"})  # another kind
    await store.delete("Assignment", "web.a")
    events = await site_events(store, "a", 0, 3)
    assert names(events) == [
        (1, "ADDED", "web.a"),
        (4, "MODIFIED", "web.a"),
        (6, "DELETED", "web.a"),
    ]
    assert names(await site_events(store, "b", 0, 1)) == [(2, "ADDED", "web.b")]


async def test_a_site_watch_follows_live_writes_of_its_site_only(store: AnyStore) -> None:
    watcher = asyncio.create_task(site_events(store, "a", 0, 2))
    for i in range(5):
        await store.create(assignment(f"other{i}", "b"))
    await store.create(assignment("mine", "a"))
    await store.replace(assignment("mine", "a", rev="2"))
    assert names(await watcher) == [(6, "ADDED", "mine"), (7, "MODIFIED", "mine")]


@pytest.mark.parametrize("live", [False, True], ids=["backlog", "live"])
async def test_an_object_moved_to_another_site_reaches_both(store: AnyStore, live: bool) -> None:
    await store.create(assignment("mover", "a"))
    old = asyncio.create_task(site_events(store, "a", 1, 1))
    new = asyncio.create_task(site_events(store, "b", 1, 1))
    if live:
        await wait_until_async(lambda: _subscribed(store) >= 2 or not hasattr(store, "_pump"))
    moved = await store.replace(assignment("mover", "b"))
    for task in (old, new):
        (event,) = await task
        assert (event.type, event.object, event.previous_site) == (EventType.MODIFIED, moved, "a")


async def test_the_sites_watch_ends_with_the_store(make_store: MakeStore) -> None:
    store = await make_store()
    await store.create(assignment("x", "a"))
    seen: list[Any] = []

    async def follow() -> None:
        async for event in store.watch("Assignment", 0, site="a"):
            seen.append(event)

    task = asyncio.create_task(follow())
    await wait_until_async(lambda: len(seen) == 1)
    await store.close()
    async with asyncio.timeout(20):
        await task


async def test_a_site_watch_and_a_whole_watch_see_the_same_order(store: AnyStore) -> None:
    for i in range(30):
        await store.create(assignment(f"n{i}", "a" if i % 3 else "b"))
    mine = await site_events(store, "a", 0, 20)
    every = await collect(store, "Assignment", 0, 30)
    assert names(mine) == [n for n in names(every) if int(n[2][1:]) % 3]


def _subscribed(store: AnyStore) -> int:
    pump = getattr(store, "_pump", None)
    return len(pump.subscribers) if pump is not None else 0
