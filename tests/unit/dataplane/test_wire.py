"""The batch format (``dataplane.wire``): what goes in comes out, and a bad or hostile
batch is refused with what is wrong, before it costs more than its bound."""

from __future__ import annotations

import json
import zlib
from typing import Any

import pytest

from edgeplane.dataplane.wire import MAX_RECORDS, BadBatch, Record, decode, encode

EPOCH = "0123456789abcdef"


def records(n: int = 3) -> list[Record]:
    return [Record(i + 1, "temps", 1.5 + i, 500, b'{"c":%d}\n' % i) for i in range(n)]


def raw_batch(header: Any, bodies: bytes = b"") -> bytes:
    return zlib.compress(json.dumps(header).encode() + b"\n" + bodies)


def test_a_batch_round_trips_and_compresses() -> None:
    sent = records(500)
    payload = encode(EPOCH, sent)
    batch = decode(payload)
    assert batch.epoch == EPOCH and list(batch.records) == sent
    assert len(payload) < sum(len(r.body) for r in sent)


def test_empty_and_binary_bodies_round_trip() -> None:
    sent = [Record(1, "a", 0.0, 0, b""), Record(2, "b", 1.0, 1000, bytes(range(256)) * 3)]
    assert list(decode(encode(EPOCH, sent)).records) == sent


def header(**changes: Any) -> dict[str, Any]:
    record = {"seq": 1, "stream": "temps", "at": 1.0, "priority": 500, "size": 2}
    record.update(changes)
    return {"v": 1, "epoch": EPOCH, "records": [record]}


@pytest.mark.parametrize(
    ("payload", "words"),
    [
        (b"not zlib", "not zlib data"),
        (zlib.compress(b"{}"), "no header line"),
        (raw_batch({"v": 2, "epoch": EPOCH, "records": []}), "v: 1"),
        (raw_batch({"v": 1, "epoch": "XYZ", "records": []}), "epoch"),
        (raw_batch(header(seq=0), b"{}"), "records[0].seq"),
        (raw_batch(header(seq=True), b"{}"), "records[0].seq"),
        (raw_batch(header(stream="Bad/Name"), b"{}"), "records[0].stream"),
        (raw_batch(header(at="now"), b"{}"), "records[0].at"),
        (raw_batch(header(priority=5000), b"{}"), "priority must be 0 to 1000"),
        (raw_batch(header(size=3), b"{}"), "runs past the end"),
        (raw_batch(header(), b"{}extra"), "bytes after the last record"),
        (zlib.compress(b"x")[:-2], "truncated"),
        (raw_batch({"v": 1, "epoch": EPOCH, "records": [{}] * (MAX_RECORDS + 1)}), "at most"),
    ],
    ids=[
        "not-zlib",
        "no-header",
        "version",
        "epoch",
        "seq-zero",
        "seq-bool",
        "stream-name",
        "at-text",
        "priority",
        "size-past-end",
        "trailing-bytes",
        "truncated",
        "too-many",
    ],
)
def test_bad_batches_are_refused_saying_why(payload: bytes, words: str) -> None:
    with pytest.raises(BadBatch, match=words.replace("[", r"\[").replace("]", r"\]")):
        decode(payload)


def test_a_sequence_number_twice_is_refused() -> None:
    twice = [Record(1, "a", 0.0, 1, b"x"), Record(1, "a", 0.0, 1, b"y")]
    with pytest.raises(BadBatch, match="twice"):
        decode(encode(EPOCH, twice))


def test_a_deeply_nested_header_is_refused_not_a_crash() -> None:
    with pytest.raises(BadBatch, match="not JSON"):
        decode(zlib.compress(b"[" * 200_000 + b"\n"))


def test_a_zip_bomb_stops_at_the_bound() -> None:
    bomb = zlib.compress(b"\0" * (64 * 1024 * 1024), 9)
    assert len(bomb) < 100_000
    with pytest.raises(BadBatch, match="inflates past 1048576 bytes"):
        decode(bomb, max_bytes=1024 * 1024)
