"""The store contract, run against real SQLite and real PostgreSQL."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from edgeplane.api.selectors import parse_selector
from edgeplane.store import AlreadyExists, Conflict, EventType, Gone, NotFound, TokenRecord
from edgeplane.store.factory import open_store
from edgeplane.store.sql import SqlStore


def site(name: str, **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "edgeplane.io/v1alpha1",
        "kind": "Site",
        "metadata": {"name": name, "labels": labels},
        "spec": {"runtime": "process"},
    }


async def collect(store: SqlStore, kind: str | None, since: int, count: int) -> list[Any]:
    events = []
    async with asyncio.timeout(20):
        async for event in store.watch(kind, since):
            events.append(event)
            if len(events) == count:
                break
    return events


async def test_create_assigns_owned_metadata(store: SqlStore) -> None:
    sent = site("a", region="eu")
    sent["metadata"].update(uid="forged", resourceVersion="99", generation=7)
    created = await store.create(sent)
    meta = created["metadata"]
    assert meta["uid"] != "forged" and len(meta["uid"]) == 36
    assert meta["generation"] == 1
    assert meta["resourceVersion"] == "1"
    assert meta["creationTimestamp"].endswith("Z")
    assert await store.get("Site", "a") == created


async def test_duplicate_create_is_refused_and_changes_nothing(store: SqlStore) -> None:
    await store.create(site("a"))
    before = await store.current_resource_version()
    with pytest.raises(AlreadyExists):
        await store.create(site("a", other="x"))
    assert await store.current_resource_version() == before
    assert (await store.get("Site", "a"))["metadata"]["labels"] == {}


async def test_resource_versions_increase_across_kinds(store: SqlStore) -> None:
    versions = []
    for i in range(5):
        obj = site(f"s{i}") if i % 2 else {**site(f"g{i}"), "kind": "SiteGroup"}
        versions.append(int((await store.create(obj))["metadata"]["resourceVersion"]))
    assert versions == sorted(versions) and len(set(versions)) == 5


async def test_stale_update_conflicts_and_changes_nothing(store: SqlStore) -> None:
    created = await store.create(site("a"))
    updated = await store.replace(
        {
            **site("a", v="2"),
            "metadata": {
                "name": "a",
                "labels": {"v": "2"},
                "resourceVersion": created["metadata"]["resourceVersion"],
            },
        }
    )
    stale = site("a", v="3")
    stale["metadata"]["resourceVersion"] = created["metadata"]["resourceVersion"]
    with pytest.raises(Conflict) as raised:
        await store.replace(stale)
    assert "stale" in str(raised.value)
    assert await store.get("Site", "a") == updated


@pytest.mark.parametrize(
    ("change", "bumps"),
    [
        ({"spec": {"runtime": "kubernetes"}}, True),
        ({"metadata": {"name": "a", "labels": {"x": "y"}}}, False),
    ],
    ids=["spec-bumps-generation", "labels-do-not"],
)
async def test_generation_counts_spec_changes_only(
    store: SqlStore, change: dict[str, Any], bumps: bool
) -> None:
    await store.create(site("a"))
    replaced = await store.replace({**site("a"), **change})
    assert replaced["metadata"]["generation"] == (2 if bumps else 1)


async def test_status_is_separate_from_spec(store: SqlStore) -> None:
    await store.create(site("a"))
    with_status = await store.replace_status({**site("a"), "status": {"phase": "Online"}})
    assert with_status["status"] == {"phase": "Online"}
    assert with_status["metadata"]["generation"] == 1
    replaced = await store.replace({**site("a", k="v"), "status": {"phase": "Forged"}})
    assert replaced["status"] == {"phase": "Online"}


async def test_noop_write_stores_nothing(store: SqlStore) -> None:
    created = await store.create(site("a"))
    before = await store.current_resource_version()
    assert await store.replace(site("a")) == created
    assert await store.current_resource_version() == before


async def test_delete_returns_last_state_and_conflicts_when_stale(store: SqlStore) -> None:
    created = await store.create(site("a"))
    await store.replace(site("a", x="1"))
    with pytest.raises(Conflict):
        await store.delete("Site", "a", created["metadata"]["resourceVersion"])
    last = await store.delete("Site", "a")
    assert last["metadata"]["labels"] == {"x": "1"}
    with pytest.raises(NotFound):
        await store.get("Site", "a")
    with pytest.raises(NotFound):
        await store.delete("Site", "a")


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("region=eu", ["a", "b"]),
        ("region!=eu", ["c", "d"]),
        ("region in (eu,us)", ["a", "b", "c"]),
        ("region notin (eu)", ["c", "d"]),
        ("tier", ["a", "c"]),
        ("!tier", ["b", "d"]),
        ("region=eu,tier=edge", ["a"]),
        ("", ["a", "b", "c", "d"]),
    ],
    ids=["eq", "neq", "in", "notin", "exists", "not-exists", "and", "everything"],
)
async def test_list_filters_by_label_selector(
    store: SqlStore, selector: str, expected: list[str]
) -> None:
    await store.create(site("a", region="eu", tier="edge"))
    await store.create(site("b", region="eu"))
    await store.create(site("c", region="us", tier="cloud"))
    await store.create(site("d"))
    result = await store.list("Site", parse_selector(selector))
    assert [o["metadata"]["name"] for o in result.items] == expected


async def test_labels_follow_updates(store: SqlStore) -> None:
    await store.create(site("a", region="eu"))
    await store.replace(site("a", region="us"))
    assert (await store.list("Site", parse_selector("region=eu"))).items == []
    assert len((await store.list("Site", parse_selector("region=us"))).items) == 1


async def test_pagination_returns_every_item_once(store: SqlStore) -> None:
    for i in range(23):
        await store.create(site(f"s{i:02d}", even=str(i % 2 == 0).lower()))
    names, token, versions = [], None, set()
    while True:
        page = await store.list("Site", parse_selector("even=true"), limit=5, continue_token=token)
        names += [o["metadata"]["name"] for o in page.items]
        versions.add(page.resource_version)
        if not (token := page.continue_token):
            break
    assert names == [f"s{i:02d}" for i in range(0, 23, 2)]
    assert len(versions) == 1


async def test_bad_continue_token_is_refused(store: SqlStore) -> None:
    with pytest.raises(ValueError, match="continue token"):
        await store.list("Site", continue_token="garbage!")


async def test_watch_replays_from_a_version_then_follows(store: SqlStore) -> None:
    first = await store.create(site("a"))
    await store.replace(site("a", x="1"))
    watcher = asyncio.create_task(
        collect(store, "Site", int(first["metadata"]["resourceVersion"]), 3)
    )
    await store.create({**site("g"), "kind": "SiteGroup"})
    await store.delete("Site", "a")
    await store.create(site("b"))
    events = await watcher
    assert [(e.type, e.object["metadata"]["name"]) for e in events] == [
        (EventType.MODIFIED, "a"),
        (EventType.DELETED, "a"),
        (EventType.ADDED, "b"),
    ]
    versions = [e.resource_version for e in events]
    assert versions == sorted(versions)


async def test_watch_from_compacted_version_is_gone(store_url: str) -> None:
    small = open_store(store_url, event_retention=3, poll_interval=0.05)
    await small.open()
    try:
        for i in range(10):
            await small.create(site(f"s{i}"))
        watermark = await small.compact()
        assert watermark == 7
        with pytest.raises(Gone):
            await collect(small, "Site", 2, 1)
        events = await collect(small, "Site", 7, 3)
        assert [e.resource_version for e in events] == [8, 9, 10]
    finally:
        await small.close()


async def test_hundred_watchers_see_every_event_in_order(store: SqlStore) -> None:
    start = await store.current_resource_version()
    watchers = [asyncio.create_task(collect(store, "Site", start, 20)) for _ in range(100)]
    await asyncio.gather(*(store.create(site(f"s{i:02d}")) for i in range(20)))
    results = await asyncio.gather(*watchers)
    expected = list(range(start + 1, start + 21))
    assert all([e.resource_version for e in events] == expected for events in results)


async def test_watch_ends_when_the_store_closes(store_url: str) -> None:
    closing = open_store(store_url, poll_interval=0.05)
    await closing.open()
    seen: list[Any] = []

    async def follow() -> None:
        async for event in closing.watch(None, 0):
            seen.append(event)

    task = asyncio.create_task(follow())
    await closing.create(site("a"))
    await asyncio.sleep(0)
    await closing.close()
    await asyncio.wait_for(task, 10)
    assert task.done() and task.exception() is None


async def test_concurrent_writers_get_distinct_versions(store: SqlStore) -> None:
    created = await asyncio.gather(*(store.create(site(f"c{i}")) for i in range(50)))
    versions = sorted(int(o["metadata"]["resourceVersion"]) for o in created)
    assert versions == list(range(versions[0], versions[0] + 50))


async def test_second_hub_on_same_database_sees_writes(store_url: str) -> None:
    one = open_store(store_url, poll_interval=0.05)
    two = open_store(store_url, poll_interval=0.05)
    await one.open()
    await two.open()  # migrations are idempotent
    try:
        start = await two.current_resource_version()
        watcher = asyncio.create_task(collect(two, "Site", start, 40))
        await asyncio.gather(
            *(one.create(site(f"one-{i}")) for i in range(20)),
            *(two.create(site(f"two-{i}")) for i in range(20)),
        )
        events = await watcher
        versions = [e.resource_version for e in events]
        assert versions == list(range(start + 1, start + 41))
        assert await one.counts() == {"Site": 40}
    finally:
        await one.close()
        await two.close()


async def test_tokens_round_trip(store: SqlStore) -> None:
    record = TokenRecord("abc", "hash", "admin", "admin", 1.0, None)
    await store.put_token(record)
    assert await store.get_token("abc") == record
    await store.delete_token("abc")
    assert await store.get_token("abc") is None
