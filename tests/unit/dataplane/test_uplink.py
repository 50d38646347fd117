"""The uplink (``dataplane.uplink``) over a real spool, with ``send`` in place of the
hub: everything acknowledged leaves the spool and nothing else does, a failed send
keeps its records for the next try, and a critical record overtakes a bulk backlog."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from edgeplane.dataplane import wire
from edgeplane.dataplane.bucket import TokenBucket
from edgeplane.dataplane.spool import Entry, Spool
from edgeplane.dataplane.uplink import CHUNK_MAX, CHUNK_MIN, Uplink, chunk_bytes
from tests.support.waiting import wait_until_async


class Refused(Exception):
    status = 413


class Hub:
    """Decodes what the uplink sends, keeps it, and fails when told to; refuses (413)
    every batch holding a body ``b"poison"``."""

    def __init__(self) -> None:
        self.got: list[wire.Record] = []
        self.failing = 0
        self.drop_acks = False

    async def send(self, payload: bytes) -> Sequence[int]:
        batch = wire.decode(payload)
        if any(r.body == b"poison" for r in batch.records):
            raise Refused("too large")
        if self.failing:
            self.failing -= 1
            raise ConnectionError("the link is cut")
        self.got += batch.records
        return [] if self.drop_acks else [r.seq for r in batch.records]


@pytest.fixture
async def parts(
    tmp_path: Path,
) -> AsyncIterator[tuple[Spool, Hub, Callable[..., Uplink], Callable[..., Any]]]:
    spool, hub = Spool(tmp_path / "spool.db", 1 << 30, 0), Hub()
    pool = concurrent.futures.ThreadPoolExecutor(1)
    stop = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []

    async def blocking(f: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(pool, f, *args)

    def start(**kw: Any) -> Uplink:
        uplink = Uplink(spool, hub.send, blocking, **kw)
        tasks.append(asyncio.create_task(uplink.run(stop)))
        return uplink

    yield spool, hub, start, blocking
    stop.set()
    await asyncio.gather(*tasks)
    pool.shutdown()
    spool.close()


def put(spool: Spool, stream: str, priority: int, n: int, size: int = 100) -> list[int]:
    return spool.append([Entry(stream, priority, 1.0, b"b" * size) for _ in range(n)])


async def test_every_record_arrives_and_leaves_the_spool(parts: Any) -> None:
    spool, hub, start, _ = parts
    seqs = put(spool, "a", 500, 300) + put(spool, "b", 250, 300)
    uplink = start()
    await wait_until_async(lambda: len(hub.got) == 600, "600 records at the hub")
    assert sorted(r.seq for r in hub.got) == seqs
    await wait_until_async(lambda: spool.backlog() == {}, "an empty spool")
    await wait_until_async(lambda: uplink.sent == {"a": 300, "b": 300}, "sent counted by stream")


async def test_a_failed_send_keeps_its_records_for_the_next_try(parts: Any) -> None:
    spool, hub, start, _ = parts
    hub.failing = 2
    seqs = put(spool, "a", 500, 5)
    uplink = start()
    await wait_until_async(lambda: len(hub.got) == 5, "the records after two failures")
    assert sorted(r.seq for r in hub.got) == seqs
    await wait_until_async(lambda: spool.backlog() == {}, "an empty spool")
    await wait_until_async(lambda: uplink.failures == 0, "the failures forgotten")


async def test_what_the_hub_does_not_acknowledge_stays_spooled(parts: Any) -> None:
    spool, hub, start, _ = parts
    hub.drop_acks = True
    put(spool, "a", 500, 3)
    start()
    await wait_until_async(lambda: len(hub.got) >= 6, "the records sent twice")
    assert spool.backlog()["a"].records == 3  # at least once on the wire, never lost


async def test_a_critical_record_overtakes_a_bulk_backlog(parts: Any) -> None:
    spool, hub, start, blocking = parts
    put(spool, "bulk", 250, 2000, size=1000)
    uplink = start()
    uplink.budget(100_000.0)  # 2 MB of bulk: 20 s at this rate
    await wait_until_async(lambda: len(hub.got) > 10, "bulk under way")
    # Through the spool's one thread, as the agent publishes: the uplink is using it.
    (alarm,) = await blocking(put, spool, "alarm", 1000, 1)
    uplink.published()
    await wait_until_async(lambda: alarm in {r.seq for r in hub.got}, "the alarm at the hub")
    bulk_before = sum(1 for r in hub.got if r.stream == "bulk")
    assert bulk_before < 2000 // 2, "the alarm waited for the backlog"


async def test_fifo_sends_in_publishing_order(parts: Any) -> None:
    spool, hub, start, _ = parts
    put(spool, "bulk", 250, 50)
    put(spool, "alarm", 1000, 1)
    start(fifo=True, in_flight=1)
    await wait_until_async(lambda: len(hub.got) == 51, "every record")
    assert [r.stream for r in hub.got][-1] == "alarm"


@pytest.mark.parametrize(
    ("bucket", "chunk"),
    [
        (None, CHUNK_MAX),
        (TokenBucket(125_000.0, 125_000.0), 6250),
        (TokenBucket(100.0, 100.0), CHUNK_MIN),
        (TokenBucket(1e12, 1e12), CHUNK_MAX),
    ],
    ids=["no-budget", "1-mbit", "tiny", "huge"],
)
def test_a_chunk_is_a_twentieth_of_a_second_within_bounds(
    bucket: TokenBucket | None, chunk: int
) -> None:
    assert chunk_bytes(bucket) == chunk


async def test_a_record_the_hub_refuses_alone_is_dropped_and_counted_not_retried(
    parts: Any,
) -> None:
    spool, hub, start, _ = parts
    first = put(spool, "a", 500, 5)
    spool.append([Entry("a", 500, 1.0, b"poison")])
    last = put(spool, "a", 500, 5)
    start()
    await wait_until_async(lambda: len(hub.got) == 10, "the ten good records")
    assert sorted(r.seq for r in hub.got) == first + last
    await wait_until_async(lambda: spool.backlog() == {}, "an empty spool")
    assert spool.drops() == {("a", "refused"): 1}
