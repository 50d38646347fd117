"""benchmarks/support/uplinkrun: bulk bodies, batching as the spool does, bytes on the
wire, loss accounting and aggregation's bytes."""

from __future__ import annotations

import json
import random
import zlib

import pytest

from benchmarks.support.uplinkfigures import (
    AGGREGATION,
    aggregation_bytes,
    batched,
    bulk_body,
    latencies_ms,
    losses,
    telemetry,
    wire_bytes,
)
from edgeplane.dataplane import wire


@pytest.mark.parametrize("size", [500, 1000, 4000], ids=["500", "1k", "4k"])
def test_a_bulk_body_is_json_of_about_its_size_and_compresses_like_telemetry(size: int) -> None:
    body = bulk_body(random.Random(3), 17, size)
    assert size - 10 <= len(body) <= size
    assert json.loads(body)["n"] == 17
    assert 1.5 < len(body) / len(zlib.compress(body)) < 5  # not random, not repeated text
    assert body == bulk_body(random.Random(3), 17, size)


def rec(*sizes: int) -> list[tuple[float, bytes]]:
    return [(float(i), b"x" * n) for i, n in enumerate(sizes)]


@pytest.mark.parametrize(
    ("sizes", "max_bytes", "expected"),
    [
        ((), 10, []),
        ((4, 4, 4), 10, [2, 1]),
        ((5, 5, 5, 5), 10, [2, 2]),
        ((30, 2, 2), 10, [1, 2]),
        ((2, 30, 2), 10, [1, 1, 1]),
    ],
    ids=["nothing", "two-fit", "exact-fill", "oversize-alone", "oversize-between"],
)
def test_batches_hold_at_most_max_bytes_of_bodies_and_at_least_one_record(
    sizes: tuple[int, ...], max_bytes: int, expected: list[int]
) -> None:
    records = rec(*sizes)
    batches = batched(records, max_bytes)
    assert [len(b) for b in batches] == expected
    assert [r for b in batches for r in b] == records


def test_wire_bytes_are_the_encoded_batches_with_sequence_numbers_from_one() -> None:
    records = [(1.0 + i, bulk_body(random.Random(i), i)) for i in range(12)]
    one = wire.encode(
        "0123456789abcdef",
        [wire.Record(i + 1, "s", at, 250, b) for i, (at, b) in enumerate(records)],
    )
    assert wire_bytes("s", 250, records, 1 << 20) == len(one)
    assert [r.seq for r in wire.decode(one).records] == list(range(1, 13))
    # smaller batches compress worse: each has its own header and dictionary
    assert wire_bytes("s", 250, records, 3000) > len(one)


@pytest.mark.parametrize(
    ("appended", "stored", "spooled", "expected"),
    [
        ([1, 2, 3], [1, 2, 3], [], (0, 0)),
        ([1, 2, 3], [1], [2, 3], (0, 2)),
        ([1, 2, 3], [1, 2, 3], [3], (0, 0)),
        ([1, 2, 3, 4], [1], [2], (2, 1)),
        ([1, 2], [1, 1, 2], [], (0, 0)),
    ],
    ids=["all-stored", "backlog", "stored-and-spooled", "lost", "stored-twice"],
)
def test_losses_count_what_is_neither_at_the_hub_nor_still_spooled(
    appended: list[int], stored: list[int], spooled: list[int], expected: tuple[int, int]
) -> None:
    assert losses(appended, stored, spooled) == expected


def test_latency_is_received_less_published() -> None:
    items = [{"at": 100.0, "received": 100.25}, {"at": 5.0, "received": 5.0}]
    assert latencies_ms(items) == pytest.approx([250.0, 0.0])


def test_telemetry_is_each_sensor_once_a_second_in_time_order() -> None:
    readings = telemetry(3, 4)
    assert len(readings) == 12
    assert [at for at, _ in readings] == sorted(at for at, _ in readings)
    assert {r["sensor"] for _, r in readings} == {"s0", "s1", "s2"}


@pytest.mark.parametrize(
    ("sensors", "seconds", "summaries"),
    [(3, 180, 9), (2, 600, 20)],
    ids=["three-windows", "ten-windows-more-than-kept-open"],
)
def test_aggregation_sends_one_summary_per_sensor_and_window_and_fewer_bytes(
    sensors: int, seconds: int, summaries: int
) -> None:
    found = aggregation_bytes(telemetry(sensors, seconds), AGGREGATION, 6250)
    assert (found.raw_records, found.summaries, found.skipped) == (sensors * seconds, summaries, 0)
    assert found.raw_bytes > found.summary_bytes > 0
    assert found.ratio == found.raw_bytes / found.summary_bytes
