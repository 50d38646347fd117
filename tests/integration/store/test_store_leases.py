"""Site leases in the store (memory, SQLite, PostgreSQL) and ``hub.leases`` over them:
batches keep the newest renewal, write no object or event, and survive a reopen."""

from __future__ import annotations

from edgeplane.hub.leases import Leases
from edgeplane.store.factory import open_store
from edgeplane.store.sql import SqlStore
from tests.integration.store.helpers import AnyStore, site


async def test_put_leases_keeps_the_newest_renewal_of_any_hub(store: AnyStore) -> None:
    await store.put_leases({"a": 100.0, "b": 200.0}, "hub-1")
    await store.put_leases({"a": 150.5, "b": 120.0}, "hub-2")
    await store.put_leases({}, "hub-3")
    assert await store.get_leases() == {"a": 150.5, "b": 200.0}


async def test_a_hub_reads_only_the_renewals_other_hubs_stored_last(store: AnyStore) -> None:
    await store.put_leases({"a": 100.0, "b": 200.0, "c": 300.0}, "hub-1")
    await store.put_leases({"b": 250.0}, "hub-2")
    assert await store.get_leases(other_than="hub-1") == {"b": 250.0}
    assert await store.get_leases(other_than="hub-2") == {"a": 100.0, "c": 300.0}
    mine = Leases("hub-1")
    await mine.load(store)
    assert mine.snapshot() == {"b": 250.0}


async def test_leases_write_no_object_and_no_event(store: AnyStore) -> None:
    await store.create(site("a"))
    before = await store.current_resource_version()
    await store.put_leases({f"s{i:05d}": 1000.0 + i for i in range(2000)}, "hub-1")
    await store.delete_lease("s00000")
    assert await store.current_resource_version() == before
    leases = await store.get_leases()
    assert len(leases) == 1999 and leases["s01999"] == 2999.0 and "s00000" not in leases


async def test_deleting_an_absent_lease_is_not_an_error(store: AnyStore) -> None:
    await store.put_leases({"a": 1.0}, "hub-1")
    await store.delete_lease("ghost")
    await store.delete_lease("a")
    assert await store.get_leases() == {}


async def test_two_hubs_see_each_others_flushed_renewals(store: AnyStore) -> None:
    one, two = Leases("hub-1"), Leases("hub-2")
    one.renew("a", now=10.0)
    one.renew("b", now=10.0)
    two.renew("b", now=20.0)
    await one.flush(store)
    await two.flush(store)
    await one.load(store)
    await two.load(store)
    assert one.snapshot() == two.snapshot() == {"a": 10.0, "b": 20.0}
    one.renew("a", now=5.0)  # older than known: ignored
    assert one.last("a") == 10.0


async def test_a_flush_writes_only_renewals_since_the_last_one(store: AnyStore) -> None:
    leases = Leases("hub-1")
    leases.renew("a", now=10.0)
    await leases.flush(store)
    await store.put_leases({"a": 30.0}, "hub-2")  # another hub renewed it later
    await leases.flush(store)  # nothing new here: must not write anything
    assert await store.get_leases() == {"a": 30.0}
    leases.forget("a")
    assert leases.last("a") is None and leases.snapshot() == {}


async def test_leases_survive_reopening_the_store(store_url: str) -> None:
    first = open_store(store_url)
    await first.open()
    try:
        await first.put_leases({"a": 1.25, "b": 2.5}, "hub-1")
    finally:
        await first.close()
    again: SqlStore = open_store(store_url)
    await again.open()
    try:
        assert await again.get_leases() == {"a": 1.25, "b": 2.5}
    finally:
        await again.close()
