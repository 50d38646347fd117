"""The store contract for objects, lists and tokens, on memory, SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from edgeplane.api.selectors import parse_selector
from edgeplane.api.wire import Object
from edgeplane.store import AlreadyExists, Conflict, NotFound, TokenRecord
from tests.integration.store.helpers import AnyStore, group, rv_of, site


async def test_create_assigns_owned_metadata(store: AnyStore) -> None:
    sent = site("a", region="eu")
    sent["metadata"].update({"uid": "forged", "resourceVersion": "99", "generation": 7})
    created = await store.create(sent)
    meta = created["metadata"]
    assert meta["uid"] != "forged" and len(meta["uid"]) == 36
    assert meta["generation"] == 1
    assert meta["resourceVersion"] == "1"
    assert meta["creationTimestamp"].endswith("Z") and len(meta["creationTimestamp"]) == 20
    assert await store.get("Site", "a") == created
    assert sent["metadata"]["uid"] == "forged", "the caller's object is not modified"


async def test_duplicate_create_is_refused_and_changes_nothing(store: AnyStore) -> None:
    await store.create(site("a"))
    before = await store.current_resource_version()
    with pytest.raises(AlreadyExists, match='Site "a" already exists'):
        await store.create(site("a", other="x"))
    assert await store.current_resource_version() == before
    assert (await store.get("Site", "a"))["metadata"]["labels"] == {}


async def test_same_name_in_another_kind_is_another_object(store: AnyStore) -> None:
    await store.create(site("a"))
    await store.create(group("a"))
    assert await store.counts() == {"Site": 1, "SiteGroup": 1}


@pytest.mark.parametrize(
    "write",
    ["get", "replace", "replace_status", "delete"],
    ids=["get", "replace", "replace-status", "delete"],
)
async def test_absent_objects_are_not_found(store: AnyStore, write: str) -> None:
    calls: dict[str, Any] = {
        "get": lambda: store.get("Site", "ghost"),
        "replace": lambda: store.replace(site("ghost")),
        "replace_status": lambda: store.replace_status(site("ghost")),
        "delete": lambda: store.delete("Site", "ghost"),
    }
    with pytest.raises(NotFound, match='Site "ghost" not found'):
        await calls[write]()


async def test_resource_versions_increase_across_kinds(store: AnyStore) -> None:
    versions = []
    for i in range(6):
        versions.append(rv_of(await store.create(site(f"s{i}") if i % 2 else group(f"g{i}"))))
    assert versions == list(range(1, 7))
    assert await store.current_resource_version() == 6


@pytest.mark.parametrize("write", ["replace", "replace_status"], ids=["spec", "status"])
async def test_stale_update_conflicts_and_changes_nothing(store: AnyStore, write: str) -> None:
    created = await store.create(site("a"))
    current = await store.replace(site("a", v="2"))
    stale: Object = {**site("a", v="3"), "status": {"phase": "Online"}}
    stale["metadata"]["resourceVersion"] = created["metadata"]["resourceVersion"]
    with pytest.raises(Conflict, match="stale") as raised:
        await getattr(store, write)(stale)
    assert raised.value.current == current["metadata"]["resourceVersion"]
    assert await store.get("Site", "a") == current
    assert await store.current_resource_version() == rv_of(current)


async def test_current_resource_version_allows_the_update(store: AnyStore) -> None:
    created = await store.create(site("a"))
    sent = site("a", v="2")
    sent["metadata"]["resourceVersion"] = created["metadata"]["resourceVersion"]
    assert (await store.replace(sent))["metadata"]["labels"] == {"v": "2"}


@pytest.mark.parametrize(
    ("change", "generation"),
    [
        ({"spec": {"runtime": "kubernetes"}}, 2),
        ({"metadata": {"name": "a", "labels": {"x": "y"}}}, 1),
        ({"metadata": {"name": "a", "annotations": {"note": "n"}}}, 1),
    ],
    ids=["spec-bumps-generation", "labels-do-not", "annotations-do-not"],
)
async def test_generation_counts_spec_changes_only(
    store: AnyStore, change: Object, generation: int
) -> None:
    await store.create(site("a"))
    replaced = await store.replace({**site("a"), **change})
    assert replaced["metadata"]["generation"] == generation
    status = await store.replace_status({**site("a"), "status": {"phase": "Online"}})
    assert status["metadata"]["generation"] == generation


async def test_replace_keeps_status_and_replace_status_keeps_the_rest(store: AnyStore) -> None:
    created = await store.create(site("a", tier="edge"))
    with_status = await store.replace_status(
        {**site("a", tier="forged"), "spec": {"forged": True}, "status": {"phase": "Online"}}
    )
    assert with_status["status"] == {"phase": "Online"}
    assert with_status["spec"] == created["spec"]
    assert with_status["metadata"]["labels"] == {"tier": "edge"}
    replaced = await store.replace({**site("a", k="v"), "status": {"phase": "Forged"}})
    assert replaced["status"] == {"phase": "Online"}
    assert replaced["metadata"]["uid"] == created["metadata"]["uid"]
    assert replaced["metadata"]["creationTimestamp"] == created["metadata"]["creationTimestamp"]


@pytest.mark.parametrize("write", ["replace", "replace_status"], ids=["spec", "status"])
async def test_noop_write_stores_nothing(store: AnyStore, write: str) -> None:
    await store.create(site("a"))
    current = await store.replace_status({**site("a"), "status": {"phase": "Online"}})
    before = await store.current_resource_version()
    again = await getattr(store, write)({**site("a"), "status": {"phase": "Online"}})
    assert again == current
    assert await store.current_resource_version() == before
    after_noop = await store.create(site("b"))
    assert rv_of(after_noop) == before + 1, "the no-op gave its resourceVersion back"


async def test_delete_returns_last_state_with_a_new_version(store: AnyStore) -> None:
    created = await store.create(site("a"))
    current = await store.replace(site("a", x="1"))
    with pytest.raises(Conflict):
        await store.delete("Site", "a", created["metadata"]["resourceVersion"])
    last = await store.delete("Site", "a", current["metadata"]["resourceVersion"])
    assert last["metadata"]["labels"] == {"x": "1"}
    assert rv_of(last) == rv_of(current) + 1 == await store.current_resource_version()
    with pytest.raises(NotFound):
        await store.get("Site", "a")
    assert await store.counts() == {}
    assert (await store.create(site("a")))["metadata"]["uid"] != created["metadata"]["uid"]


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("region=eu", ["a", "b"]),
        ("region==eu", ["a", "b"]),
        ("region!=eu", ["c", "d"]),
        ("region in (eu,us)", ["a", "b", "c"]),
        ("region notin (eu)", ["c", "d"]),
        ("region notin (eu,us)", ["d"]),
        ("tier", ["a", "c"]),
        ("!tier", ["b", "d"]),
        ("region=eu,tier=edge", ["a"]),
        ("region=eu,!tier", ["b"]),
        ("region=mars", []),
        ("", ["a", "b", "c", "d"]),
    ],
    ids=[
        "eq",
        "double-eq",
        "neq",
        "in",
        "notin",
        "notin-many",
        "exists",
        "not-exists",
        "and",
        "and-not-exists",
        "nothing",
        "everything",
    ],
)
async def test_list_filters_by_label_selector(
    store: AnyStore, selector: str, expected: list[str]
) -> None:
    await store.create(site("a", region="eu", tier="edge"))
    await store.create(site("b", region="eu"))
    await store.create(site("c", region="us", tier="cloud"))
    await store.create(site("d"))
    await store.create({**group("e"), "metadata": {"name": "e", "labels": {"region": "eu"}}})
    result = await store.list("Site", parse_selector(selector))
    assert [o["metadata"]["name"] for o in result.items] == expected
    assert result.resource_version == await store.current_resource_version()
    assert result.continue_token is None


async def test_labels_follow_updates_and_deletes(store: AnyStore) -> None:
    await store.create(site("a", region="eu"))
    await store.replace(site("a", region="us"))
    assert (await store.list("Site", parse_selector("region=eu"))).items == []
    assert len((await store.list("Site", parse_selector("region=us"))).items) == 1
    await store.delete("Site", "a")
    await store.create(site("a"))
    assert (await store.list("Site", parse_selector("region"))).items == []


async def test_pagination_returns_every_item_once(store: AnyStore) -> None:
    for i in range(23):
        await store.create(site(f"s{i:02d}", even=str(i % 2 == 0).lower()))
    first_rv = await store.current_resource_version()
    names, token, versions = [], None, set()
    while True:
        page = await store.list("Site", parse_selector("even=true"), limit=5, continue_token=token)
        names += [o["metadata"]["name"] for o in page.items]
        versions.add(page.resource_version)
        await store.create(site(f"late-{len(names)}"))  # writes between pages change no page
        if not (token := page.continue_token):
            break
    assert names == [f"s{i:02d}" for i in range(0, 23, 2)]
    assert versions == {first_rv}


async def test_list_orders_by_name_bytewise_enough_for_dns_names(store: AnyStore) -> None:
    names = ["b", "a-2", "a", "a.1", "a-10", "c1"]
    for name in names:
        await store.create(site(name))
    listed = [o["metadata"]["name"] for o in (await store.list("Site")).items]
    assert sorted(listed) == sorted(names)
    pages, token = [], None
    while True:
        page = await store.list("Site", limit=2, continue_token=token)
        pages += [o["metadata"]["name"] for o in page.items]
        if not (token := page.continue_token):
            break
    assert pages == listed, "pages follow the same order as one list"


@pytest.mark.parametrize(
    "token",
    ["garbage!", "e30", "bm90IGpzb24", "eyJhZnRlciI6IDEsICJydiI6ICJ4In0"],
    ids=["not-base64", "empty-object", "not-json", "wrong-types"],
)
async def test_bad_continue_token_is_refused(store: AnyStore, token: str) -> None:
    with pytest.raises(ValueError, match=r"continue token .* is not one this hub issued"):
        await store.list("Site", continue_token=token)


async def test_concurrent_writers_get_distinct_increasing_versions(store: AnyStore) -> None:
    created = await asyncio.gather(*(store.create(site(f"c{i}")) for i in range(50)))
    versions = sorted(rv_of(o) for o in created)
    assert versions == list(range(1, 51))
    assert await store.counts() == {"Site": 50}


async def test_tokens_round_trip(store: AnyStore) -> None:
    record = TokenRecord("abc", "hash", "admin", "admin", 1.5, None)
    await store.put_token(record)
    assert await store.get_token("abc") == record
    replacement = TokenRecord("abc", "hash2", "ops", "viewer", 2.5, 99.5)
    await store.put_token(replacement)
    assert await store.get_token("abc") == replacement
    await store.delete_token("abc")
    await store.delete_token("abc")  # absent: not an error
    assert await store.get_token("abc") is None


async def test_a_single_use_token_is_used_once_even_by_racing_callers(store: AnyStore) -> None:
    record = TokenRecord("join1", "hash", "", "join", 1.0, 99.0, attributes='{"region": "eu"}')
    await store.put_token(record)
    wins = await asyncio.gather(*(store.use_token("join1", f"site-{i}", 5.0) for i in range(10)))
    assert sum(wins) == 1
    used = await store.get_token("join1")
    assert used is not None and used.used_at == 5.0
    assert used.used_by == f"site-{wins.index(True)}"
    assert used.attributes == '{"region": "eu"}'
    assert not await store.use_token("absent", "x", 5.0)
    await store.release_token("join1")
    released = await store.get_token("join1")
    assert released is not None and (released.used_at, released.used_by) == (None, None)
    assert await store.use_token("join1", "again", 6.0)


async def test_credentials_of_a_subject_are_deleted_together(store: AnyStore) -> None:
    for token_id, subject, role in (
        ("t1", "a", "site"),
        ("t2", "a", "site"),
        ("t3", "b", "site"),
        ("t4", "a", "admin"),
    ):
        await store.put_token(TokenRecord(token_id, "h", subject, role, 1.0))
    assert await store.delete_tokens_of("a", "site") == 2
    assert [await store.get_token(t) is None for t in ("t1", "t2", "t3", "t4")] == [
        True,
        True,
        False,
        False,
    ]
    assert await store.delete_tokens_of("a", "site") == 0


async def test_a_list_shows_the_store_at_its_resource_version_while_writes_land(
    store: AnyStore,
) -> None:
    """A list read the counter, then the rows, each alone: a create between the two put
    an object in the list newer than the list's resourceVersion (a watch from that
    version then sent a DELETED for an object it never ADDED). Every list now holds
    exactly the objects created at or before its resourceVersion."""
    created: dict[str, int] = {}
    lists: list[tuple[int, set[str]]] = []
    done = asyncio.Event()

    async def create() -> None:
        for i in range(120):
            obj = await store.create(site(f"s{i:03d}"))
            created[obj["metadata"]["name"]] = rv_of(obj)
            await asyncio.sleep(0)  # the memory store never waits: let the lists in
        done.set()

    async def read() -> None:
        while not done.is_set():
            page = await store.list("Site")
            lists.append((page.resource_version, {o["metadata"]["name"] for o in page.items}))
            await asyncio.sleep(0)

    await asyncio.gather(create(), read(), read())
    assert len(lists) > 2, "the lists ran alongside the creates"
    for rv, names in lists:
        assert names == {name for name, at in created.items() if at <= rv}, f"list at {rv}"
