"""Sparkplug B payloads, decoded without protobuf: the names and values of a payload's
metrics, which is all that MQTT discovery reads of a birth or a death.

A Sparkplug B payload is a protobuf ``Payload`` (Eclipse Tahu's ``sparkplug_b.proto``):
``timestamp = 1``, ``metrics = 2`` (repeated ``Metric``), ``seq = 3``. Of a ``Metric``
this reads ``name = 1``, ``datatype = 4``, ``is_null = 7`` and the value (``int_value
= 10`` .. ``bytes_value = 16``); a ``template_value = 18`` is descended into, its
metrics named ``<metric>/<member>``. Every other field (aliases, metadata, properties,
data sets, extensions) is skipped by its wire type. Signed types travel as unsigned
two's complement (Tahu writes an Int8 of -1 as 255, Java as 4294967295): both read as
-1 here, by the metric's datatype.

What comes off the broker is untrusted, so the decoder is bounded: at most
``MAX_PAYLOAD_BYTES``, templates nested at most ``MAX_DEPTH`` deep, and at most
``MAX_METRICS`` metrics kept (the rest are counted in ``Payload.skipped``, so a large
birth still yields its first ones). Anything it cannot read raises ``MalformedPayload``
(a ValueError), never IndexError or struct.error. Pure: bytes in, values out.
Neighbours: ``discovery.mqtt``, its only user.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

MAX_PAYLOAD_BYTES = 256 * 1024
"""A birth of a thousand metrics is some 50 KiB; past this a payload is refused."""
MAX_METRICS = 1024
MAX_DEPTH = 8
"""Templates within templates: Tahu's own examples go two deep."""

Value = bool | int | float | str | bytes | None
"""A metric's value; None for a null or for a value this does not decode (a data set,
an extension)."""
Keep = Callable[[str], bool]

VARINT, FIXED64, LENGTH, FIXED32 = 0, 1, 2, 5
INT8, INT16, INT32, INT64 = 1, 2, 3, 4
_SIGNED_BITS = {INT8: 8, INT16: 16, INT32: 32, INT64: 64}
_PAYLOAD_WIRES = {1: VARINT, 2: LENGTH, 3: VARINT, 4: LENGTH, 5: LENGTH}
_METRIC_WIRES = {
    1: LENGTH, 2: VARINT, 3: VARINT, 4: VARINT, 5: VARINT, 6: VARINT, 7: VARINT,
    8: LENGTH, 9: LENGTH, 10: VARINT, 11: VARINT, 12: FIXED32, 13: FIXED64, 14: VARINT,
    15: LENGTH, 16: LENGTH, 17: LENGTH, 18: LENGTH, 19: LENGTH,
}  # fmt: skip
_TEMPLATE_WIRES = {1: LENGTH, 2: LENGTH, 3: LENGTH, 4: LENGTH, 5: VARINT}
_UNDECODED = (17, 19)
"""A data set, an extension: the metric is there, its value is not read."""


class MalformedPayload(ValueError):
    """The bytes are no Sparkplug B payload this takes: truncated, too large, nested too
    deep, or a field that is not what the schema says."""


@dataclass(frozen=True)
class Payload:
    timestamp: int | None = None
    seq: int | None = None
    metrics: Mapping[str, Value] = field(default_factory=dict)
    """By name, in payload order; nameless metrics (aliases only, as in DATA) left out."""
    skipped: int = 0
    """Metrics not kept: past ``MAX_METRICS``, or refused by ``keep``."""


def decode(data: bytes, keep: Keep | None = None) -> Payload:
    """The payload in ``data``; only metrics whose name ``keep`` takes (all by default)
    are kept, so a caller after a few names holds no more than those."""
    if len(data) > MAX_PAYLOAD_BYTES:
        raise MalformedPayload(f"{len(data)} bytes: more than {MAX_PAYLOAD_BYTES}")
    into = _Metrics(keep)
    timestamp = seq = None
    for number, raw in _fields(memoryview(data), _PAYLOAD_WIRES, "Payload"):
        if number == 1:
            timestamp = _int(raw)
        elif number == 2:
            _metric(_bytes(raw), into, prefix="", depth=1)
        elif number == 3:
            seq = _int(raw)
    return Payload(timestamp, seq, into.kept, into.skipped)


class _Metrics:
    def __init__(self, keep: Keep | None) -> None:
        self.keep = keep
        self.kept: dict[str, Value] = {}
        self.skipped = 0

    def add(self, name: str, value: Value) -> None:
        wanted = self.keep is None or self.keep(name)
        if wanted and (name in self.kept or len(self.kept) < MAX_METRICS):
            self.kept[name] = value
        else:
            self.skipped += 1


def _metric(data: memoryview, into: _Metrics, prefix: str, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise MalformedPayload(f"templates nested more than {MAX_DEPTH} deep")
    name, datatype, is_null = "", 0, False
    value: Value = None
    members: list[memoryview] = []
    for number, raw in _fields(data, _METRIC_WIRES, "Metric"):
        if number == 1:
            name = _text(raw)
        elif number == 4:
            datatype = _int(raw)
        elif number == 7:
            is_null = _int(raw) != 0
        elif number == 18:
            members = _template_metrics(_bytes(raw))
        elif 10 <= number <= 16:
            value = _value(number, raw)
        elif number in _UNDECODED:
            value = None
    for member in members:
        _metric(member, into, prefix=f"{prefix}{name}/", depth=depth + 1)
    if name and not members:
        into.add(prefix + name, None if is_null else _typed(value, datatype))


def _template_metrics(data: memoryview) -> list[memoryview]:
    return [
        _bytes(raw) for number, raw in _fields(data, _TEMPLATE_WIRES, "Template") if number == 2
    ]


def _value(number: int, raw: int | memoryview) -> Value:
    if number == 10:
        return _int(raw) & 0xFFFF_FFFF  # uint32: a longer varint keeps its low bits
    if number == 11:
        return _int(raw) & 0xFFFF_FFFF_FFFF_FFFF
    if number == 12:
        return float(struct.unpack("<f", _bytes(raw))[0])
    if number == 13:
        return float(struct.unpack("<d", _bytes(raw))[0])
    if number == 14:
        return _int(raw) != 0
    if number == 15:
        return _text(raw)
    return bytes(_bytes(raw))


def _typed(value: Value, datatype: int) -> Value:
    bits = _SIGNED_BITS.get(datatype)
    if bits is None or isinstance(value, bool) or not isinstance(value, int):
        return value
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def _fields(
    data: memoryview, wires: Mapping[int, int], message: str
) -> Iterator[tuple[int, int | memoryview]]:
    """Each field of one message as (number, raw value), checking the wire type of the
    fields named in ``wires`` and skipping the others."""
    reader = _Reader(data)
    while not reader.done():
        key = reader.varint()
        number, wire = key >> 3, key & 7
        if number == 0:
            raise MalformedPayload(f"{message}: field number 0 at byte {reader.pos}")
        expected = wires.get(number)
        if expected is not None and wire != expected:
            raise MalformedPayload(f"{message}: field {number} has wire type {wire}")
        yield number, reader.raw(wire)


class _Reader:
    def __init__(self, data: memoryview) -> None:
        self.data, self.pos = data, 0

    def done(self) -> bool:
        return self.pos >= len(self.data)

    def varint(self) -> int:
        result = 0
        for shift in range(0, 70, 7):
            if self.done():
                raise MalformedPayload("truncated varint")
            byte = self.data[self.pos]
            self.pos += 1
            result |= (byte & 0x7F) << shift
            if byte < 0x80:
                if result >> 64:
                    raise MalformedPayload("varint past 64 bits")
                return result
        raise MalformedPayload("varint longer than 10 bytes")

    def take(self, size: int) -> memoryview:
        if size > len(self.data) - self.pos:
            raise MalformedPayload(f"truncated: {size} bytes wanted at byte {self.pos}")
        chunk = self.data[self.pos : self.pos + size]
        self.pos += size
        return chunk

    def raw(self, wire: int) -> int | memoryview:
        if wire == VARINT:
            return self.varint()
        if wire == FIXED64:
            return self.take(8)
        if wire == LENGTH:
            return self.take(self.varint())
        if wire == FIXED32:
            return self.take(4)
        # 3 and 4 are protobuf's deprecated groups, which Sparkplug never uses.
        raise MalformedPayload(f"wire type {wire} at byte {self.pos}")


def _int(raw: int | memoryview) -> int:
    # The wire types were checked by _fields: these guard the typing.
    if not isinstance(raw, int):
        raise MalformedPayload("a length-delimited field where a number belongs")
    return raw


def _bytes(raw: int | memoryview) -> memoryview:
    if isinstance(raw, int):
        raise MalformedPayload("a number where bytes belong")
    return raw


def _text(raw: int | memoryview) -> str:
    try:
        return bytes(_bytes(raw)).decode("utf-8")
    except UnicodeDecodeError as e:
        raise MalformedPayload(f"a string that is not UTF-8: {e.reason}") from None
