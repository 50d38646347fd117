"""DataStream records in the store (memory, SQLite, PostgreSQL): a batch sent again
stores nothing twice, queries filter by stream, site and time and page by id, and
records survive a reopen."""

from __future__ import annotations

from edgeplane.store.protocol import DataRecord, RecordQuery
from tests.integration.store.helpers import AnyStore

EPOCH = "00000000000000aa"


def records(site: str, stream: str, seqs: range, epoch: str = EPOCH) -> list[DataRecord]:
    return [DataRecord(site, epoch, s, stream, float(s), 500, b"r%d" % s) for s in seqs]


async def test_a_retried_batch_stores_nothing_twice(store: AnyStore) -> None:
    assert await store.put_records(records("a", "temps", range(1, 101))) == 100
    assert await store.put_records(records("a", "temps", range(51, 151))) == 50
    assert await store.put_records([]) == 0
    found = await store.query_records(RecordQuery("temps", limit=10_000))
    assert [r.seq for r in found] == list(range(1, 151))
    assert len({r.id for r in found}) == 150 and all(r.received > 0 for r in found)


async def test_the_same_seq_of_another_site_or_epoch_is_another_record(store: AnyStore) -> None:
    await store.put_records(records("a", "temps", range(1, 3)))
    await store.put_records(records("b", "temps", range(1, 3)))
    await store.put_records(records("a", "temps", range(1, 3), epoch="00000000000000bb"))
    assert len(await store.query_records(RecordQuery("temps"))) == 6


async def test_queries_filter_by_stream_site_and_time_and_page_by_id(store: AnyStore) -> None:
    await store.put_records(records("a", "temps", range(1, 11)))
    await store.put_records(records("b", "temps", range(1, 11)))
    await store.put_records(records("a", "doors", range(11, 21)))
    by_site = await store.query_records(RecordQuery("temps", site="b"))
    assert [(r.site, r.seq) for r in by_site] == [("b", s) for s in range(1, 11)]
    window = await store.query_records(RecordQuery("temps", since=3.0, until=5.0))
    assert sorted((r.site, r.seq) for r in window) == [("a", 3), ("a", 4), ("b", 3), ("b", 4)]
    first = await store.query_records(RecordQuery("temps", limit=4))
    rest = await store.query_records(RecordQuery("temps", after_id=first[-1].id, limit=100))
    assert len(first) == 4 and len(rest) == 16
    assert {r.id for r in first}.isdisjoint(r.id for r in rest)
    assert [r.body for r in await store.query_records(RecordQuery("doors", limit=2))] == [
        b"r11",
        b"r12",
    ]
