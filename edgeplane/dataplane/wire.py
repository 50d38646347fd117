"""A batch of records on the wire, from a site's uplink to the hub's ingest.

One zlib stream (compressed once for the whole batch: records of one stream look
alike, so a batch compresses far better than each record alone) of a JSON header line,
then the bodies back to back::

    {"v":1,"epoch":"…","records":[{"seq":7,"stream":"temps","at":1.5,"priority":500,"size":12},…]}\\n
    <body 7><body 8>…

Bodies are bytes, as published (JSON lines or anything else): no base64. ``decode``
takes no one's word for anything: the decompressed size is bounded before it is
inflated (a zip bomb stops at ``max_bytes``), every field is type-checked, the sizes
must add up to exactly what follows the header, and sequence numbers are unique. A bad
batch raises ``BadBatch`` saying what is wrong; nothing of it counts.

Neighbours: ``dataplane.uplink`` encodes, ``hub.data`` decodes.
"""

from __future__ import annotations

import json
import math
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

VERSION = 1
CONTENT_TYPE = "application/x-edgeplane-records"
MAX_RECORDS = 10_000
MAX_BATCH_BYTES = 8 * 1024 * 1024
"""The most a batch may inflate to (header and bodies)."""
MAX_HEADER_BYTES = 2 * 1024 * 1024
_EPOCH = re.compile(r"[0-9a-f]{16}")
_STREAM = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")
_SEQ_MAX = 2**63 - 1


class BadBatch(ValueError):
    """A batch that cannot be read: what is wrong with it."""


@dataclass(frozen=True, slots=True)
class Record:
    seq: int
    stream: str
    at: float
    priority: int
    body: bytes


@dataclass(frozen=True, slots=True)
class Batch:
    epoch: str
    records: tuple[Record, ...]


def encode(epoch: str, records: Sequence[Record], level: int = 6) -> bytes:
    header = {
        "v": VERSION,
        "epoch": epoch,
        "records": [
            {
                "seq": r.seq,
                "stream": r.stream,
                "at": r.at,
                "priority": r.priority,
                "size": len(r.body),
            }
            for r in records
        ],
    }
    line = json.dumps(header, separators=(",", ":")).encode() + b"\n"
    return zlib.compress(line + b"".join(r.body for r in records), level)


def decode(payload: bytes, max_bytes: int = MAX_BATCH_BYTES) -> Batch:
    raw = _inflate(payload, max_bytes)
    end = raw.find(b"\n", 0, MAX_HEADER_BYTES)
    if end < 0:
        raise BadBatch("no header line within the first 2 MiB")
    try:
        header = json.loads(raw[:end])
    except (ValueError, UnicodeDecodeError, RecursionError) as e:
        raise BadBatch(f"the header is not JSON: {str(e)[:200]}") from None
    if not isinstance(header, dict) or header.get("v") != VERSION:
        raise BadBatch(f"the header must be an object with v: {VERSION}")
    epoch = header.get("epoch")
    if not isinstance(epoch, str) or not _EPOCH.fullmatch(epoch):
        raise BadBatch("epoch must be 16 lowercase hex digits")
    return Batch(epoch, _records(header.get("records"), memoryview(raw)[end + 1 :]))


def _inflate(payload: bytes, max_bytes: int) -> bytes:
    inflater = zlib.decompressobj()
    try:
        raw = inflater.decompress(payload, max_bytes)
    except zlib.error as e:
        raise BadBatch(f"the batch is not zlib data: {e}") from None
    if inflater.unconsumed_tail:
        raise BadBatch(f"the batch inflates past {max_bytes} bytes: send smaller batches")
    if not inflater.eof or inflater.unused_data:
        raise BadBatch("the batch is truncated or has data after its end")
    return raw


def _records(items: object, bodies: memoryview) -> tuple[Record, ...]:
    if not isinstance(items, list) or len(items) > MAX_RECORDS:
        raise BadBatch(f"records must be a list of at most {MAX_RECORDS}")
    records, offset, seen = [], 0, set()
    for i, item in enumerate(items):
        seq, stream, at, priority, size = _fields(item, i)
        if seq in seen:
            raise BadBatch(f"records[{i}].seq {seq} is in the batch twice")
        seen.add(seq)
        if offset + size > len(bodies):
            raise BadBatch(f"records[{i}].size runs past the end of the batch")
        records.append(Record(seq, stream, at, priority, bytes(bodies[offset : offset + size])))
        offset += size
    if offset != len(bodies):
        raise BadBatch(f"{len(bodies) - offset} bytes after the last record's body")
    return tuple(records)


def _fields(item: Any, i: int) -> tuple[int, str, float, int, int]:
    if not isinstance(item, dict):
        raise BadBatch(f"records[{i}] must be an object")
    seq, stream, at = item.get("seq"), item.get("stream"), item.get("at")
    priority, size = item.get("priority"), item.get("size")
    if not _int(seq, 1, _SEQ_MAX):
        raise BadBatch(f"records[{i}].seq must be a whole number from 1")
    if not isinstance(stream, str) or not _STREAM.fullmatch(stream):
        raise BadBatch(f"records[{i}].stream must be a DataStream name")
    if isinstance(at, bool) or not isinstance(at, int | float) or not math.isfinite(at):
        raise BadBatch(f"records[{i}].at must be a time in unix seconds")
    if not _int(priority, 0, 1000) or not _int(size, 0, MAX_BATCH_BYTES):
        raise BadBatch(f"records[{i}]: priority must be 0 to 1000 and size a byte count")
    return cast(int, seq), stream, float(at), cast(int, priority), cast(int, size)


def _int(value: object, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
