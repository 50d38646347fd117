"""The pure figures of ``benchmarks/uplink.py``: the bulk bodies it publishes, the batches
and their bytes on the wire, losses, latencies, and aggregation's bytes saved on a
telemetry stream. Tested in ``tests/unit/benchmarks/test_uplinkfigures.py``; the runs
against a hub are ``uplinkrun``.
"""

from __future__ import annotations

import json
import random
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from edgeplane.dataplane import wire
from edgeplane.dataplane.aggregation import Aggregator, parse_aggregation

BODY_BYTES = 1000
TELEMETRY_START = 1_800_000_000.0
"""A whole minute: the simulated readings fill whole windows."""
AGGREGATION = {
    "windowSeconds": 60,
    "field": "celsius",
    "keyBy": "sensor",
    "functions": ["count", "mean", "min", "max", "p95"],
}


def json_bytes(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def bulk_body(rng: random.Random, n: int, size: int = BODY_BYTES) -> bytes:
    """A bulk record of at most ``size`` bytes and within 10 of it: JSON readings around
    a level, noisy in their last digits as a sensor's are (zlib gets about 2.6x, not
    the 50x of repeated text)."""
    level = rng.uniform(1.0, 9.0)
    head = f'{{"device":"press-{n % 40:02d}","n":{n},"unit":"bar","readings":['.encode()
    parts: list[bytes] = []
    length = len(head) + 2
    while True:
        reading = f"{level + rng.gauss(0.0, 0.05):.4f}".encode()
        if length + len(reading) + (1 if parts else 0) > size:
            return head + b",".join(parts) + b"]}"
        length += len(reading) + (1 if parts else 0)
        parts.append(reading)


def batched(
    records: Sequence[tuple[float, bytes]], max_bytes: int
) -> list[list[tuple[float, bytes]]]:
    """``records`` (time, body) cut as the spool hands them out: in order, at most
    ``max_bytes`` of bodies a batch, and at least one record."""
    batches: list[list[tuple[float, bytes]]] = []
    size = 0
    for record in records:
        if not batches or size + len(record[1]) > max_bytes:
            batches.append([])
            size = 0
        batches[-1].append(record)
        size += len(record[1])
    return batches


def wire_bytes(
    stream: str, priority: int, records: Sequence[tuple[float, bytes]], chunk: int
) -> int:
    """Compressed bytes of ``records`` as the uplink sends them: batches of ``chunk``
    bytes of bodies, each one ``wire.encode`` with its header, sequence numbers from 1."""
    total, seq = 0, 1
    for batch in batched(records, chunk):
        items = [
            wire.Record(seq + i, stream, at, priority, body) for i, (at, body) in enumerate(batch)
        ]
        total += len(wire.encode("0123456789abcdef", items))
        seq += len(batch)
    return total


def losses(
    appended: Collection[int], stored: Collection[int], spooled: Collection[int]
) -> tuple[int, int]:
    """(lost, backlog): records the spool took that are neither stored at the hub nor
    still spooled, and records still spooled that the hub has not stored."""
    at_hub, left = set(stored), set(spooled)
    lost = sum(1 for seq in set(appended) if seq not in at_hub and seq not in left)
    return lost, len(left - at_hub)


def latencies_ms(items: Sequence[Mapping[str, Any]]) -> list[float]:
    """From publish (``at``, the site's clock) to stored (``received``, the hub's)."""
    return [(float(i["received"]) - float(i["at"])) * 1000 for i in items]


def telemetry(sensors: int, seconds: int, seed: int = 7) -> list[tuple[float, dict[str, Any]]]:
    """``sensors`` readings a second for ``seconds``, drifting slowly, in time order."""
    rng = random.Random(seed)
    levels = [rng.uniform(2.0, 6.0) for _ in range(sensors)]
    out = []
    for t in range(seconds):
        for i in range(sensors):
            levels[i] += rng.gauss(0.0, 0.02)
            at = TELEMETRY_START + t + i / sensors
            out.append((at, {"sensor": f"s{i}", "celsius": round(levels[i], 2), "at": at}))
    return out


@dataclass(frozen=True)
class Aggregated:
    raw_records: int
    raw_bytes: int
    summaries: int
    summary_bytes: int
    skipped: int

    @property
    def ratio(self) -> float:
        return self.raw_bytes / self.summary_bytes if self.summary_bytes else float("nan")


def aggregation_bytes(
    readings: Sequence[tuple[float, Mapping[str, Any]]],
    spec: Mapping[str, Any],
    chunk: int,
    priority: int = 500,
) -> Aggregated:
    """The readings' bytes on the wire as they are, and as ``spec``'s summaries, both
    as the uplink batches them. The ``Aggregator`` is flushed each simulated second, as
    a timer would: it keeps at most ``MAX_WINDOWS`` open and skips records past that."""
    aggregator = Aggregator(parse_aggregation(spec))
    raw = [(at, json_bytes(r)) for at, r in readings]
    outputs, second = [], None
    for at, record in readings:
        if second != int(at):
            second = int(at)
            outputs += aggregator.flush(at)
        outputs += aggregator.add(record, at)
    outputs += aggregator.flush_all()
    sent = [(o.at, json_bytes(o.body)) for o in outputs]
    return Aggregated(
        raw_records=len(raw),
        raw_bytes=wire_bytes("telemetry", priority, raw, chunk),
        summaries=sum(1 for o in outputs if o.kind == "summary"),
        summary_bytes=wire_bytes("telemetry", priority, sent, chunk),
        skipped=sum(aggregator.skipped.values()),
    )
