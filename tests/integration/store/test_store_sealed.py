"""Secrets' sealed values in the store (memory, SQLite, PostgreSQL): a row is written
once under its id, replaced in place by a rotation, removed all but one or only one,
and listed in pages by id."""

from __future__ import annotations

import pytest

from edgeplane.store.errors import AlreadyExists
from edgeplane.store.protocol import SealedValues
from tests.integration.store.helpers import AnyStore


def row(sealed_id: str, name: str, key_id: str = "k1") -> SealedValues:
    return SealedValues(sealed_id, name, key_id, b"\x00" * 12, b"cipher-" + sealed_id.encode(), 1.0)


async def test_a_row_is_written_once_and_read_back(store: AnyStore) -> None:
    await store.put_sealed(row("a1", "db"))
    assert await store.get_sealed("a1") == row("a1", "db")
    assert await store.get_sealed("zz") is None
    with pytest.raises(AlreadyExists):
        await store.put_sealed(row("a1", "other"))
    assert (await store.get_sealed("a1")) == row("a1", "db")


async def test_rows_are_removed_all_but_one_or_only_one(store: AnyStore) -> None:
    for sealed_id, name in (("a1", "db"), ("a2", "db"), ("a3", "db"), ("b1", "api")):
        await store.put_sealed(row(sealed_id, name))
    assert await store.delete_sealed("db", only="a2") == 1
    assert await store.delete_sealed("db", keep="a3") == 1
    assert [r.id for r in await store.list_sealed("", 10)] == ["a3", "b1"]
    assert await store.delete_sealed("db") == 1
    assert await store.delete_sealed("db") == 0
    assert [r.id for r in await store.list_sealed("", 10)] == ["b1"]


async def test_rotation_replaces_in_place_and_lists_in_pages(store: AnyStore) -> None:
    for n in range(5):
        await store.put_sealed(row(f"r{n}", f"s{n}"))
    first = await store.list_sealed("", 2)
    rest = await store.list_sealed(first[-1].id, 10)
    assert [r.id for r in first] == ["r0", "r1"] and [r.id for r in rest] == ["r2", "r3", "r4"]
    await store.replace_sealed(row("r1", "s1", key_id="k2"))
    await store.replace_sealed(row("gone", "s9", key_id="k2"))  # absent: nothing
    assert (await store.get_sealed("r1")) == row("r1", "s1", key_id="k2")
    assert await store.get_sealed("gone") is None
