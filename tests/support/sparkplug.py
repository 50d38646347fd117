"""Sparkplug B payloads for tests, encoded by hand as protobuf (as Tahu's
``sparkplug_b.proto`` numbers the fields), so the tests need no protobuf either.

``payload(metric("Properties/Hardware Make", "Acme"), ...)`` is the bytes of an NBIRTH
or DBIRTH; ``metric`` picks the datatype and value field from the Python value (str:
String, bool: Boolean, int: Int64, float: Double, bytes: Bytes, None: null) unless
``datatype`` names another. ``field`` and ``varint`` build the malformed ones.
Neighbours: ``edgeplane.agent.discovery.sparkplug`` (the decoder under test),
``brokers`` (the mosquitto the integration tests publish to).
"""

from __future__ import annotations

import struct

VARINT, FIXED64, LENGTH, FIXED32 = 0, 1, 2, 5
INT8, INT16, INT32, INT64 = 1, 2, 3, 4
UINT8, UINT16, UINT32, UINT64 = 5, 6, 7, 8
FLOAT, DOUBLE, BOOLEAN, STRING, DATETIME, TEXT, UUID = 9, 10, 11, 12, 13, 14, 15
DATASET, BYTES, FILE, TEMPLATE = 16, 17, 18, 19

NAMESPACE = "spBv1.0"


def varint(value: int) -> bytes:
    """``value`` as a protobuf varint; a negative one as its 64-bit two's complement
    (ten bytes), as protobuf writes a negative int64."""
    value &= (1 << 64) - 1
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def field(number: int, wire: int, value: int | bytes) -> bytes:
    """One field: its key, then the value as ``wire`` carries it."""
    key = varint(number << 3 | wire)
    if wire == VARINT:
        assert isinstance(value, int)
        return key + varint(value)
    assert isinstance(value, bytes)
    if wire == LENGTH:
        return key + varint(len(value)) + value
    return key + value  # fixed32/fixed64: already packed


def metric(
    name: str | None,
    value: object,
    datatype: int | None = None,
    *,
    alias: int | None = None,
) -> bytes:
    """One ``Metric`` message (not yet wrapped as a payload's field 2)."""
    kind = datatype if datatype is not None else _datatype(value)
    out = b"" if name is None else field(1, LENGTH, name.encode())
    if alias is not None:
        out += field(2, VARINT, alias)
    out += field(4, VARINT, kind)
    if value is None:
        return out + field(7, VARINT, 1)
    return out + _value(kind, value)


def template(name: str, *members: bytes) -> bytes:
    """A metric whose value is a template instance of ``members`` (metrics)."""
    body = field(4, LENGTH, b"Motor") + b"".join(field(2, LENGTH, m) for m in members)
    return field(1, LENGTH, name.encode()) + field(4, VARINT, TEMPLATE) + field(18, LENGTH, body)


def payload(
    *metrics: bytes, seq: int | None = 0, timestamp: int | None = 1_700_000_000_000
) -> bytes:
    """A ``Payload`` of ``metrics`` (each from ``metric`` or ``template``)."""
    out = b"" if timestamp is None else field(1, VARINT, timestamp)
    out += b"".join(field(2, LENGTH, m) for m in metrics)
    return out if seq is None else out + field(3, VARINT, seq)


def topic(kind: str, group: str, node: str, device: str | None = None) -> str:
    levels = [NAMESPACE, group, kind, node] + ([device] if device is not None else [])
    return "/".join(levels)


def _datatype(value: object) -> int:
    if isinstance(value, bool):
        return BOOLEAN
    if isinstance(value, int):
        return INT64
    if isinstance(value, float):
        return DOUBLE
    if isinstance(value, bytes):
        return BYTES
    return STRING


def _value(kind: int, value: object) -> bytes:
    if kind in (INT8, INT16, INT32, UINT8, UINT16, UINT32):
        assert isinstance(value, int)
        return field(10, VARINT, value & 0xFFFF_FFFF)
    if kind in (INT64, UINT64, DATETIME):
        assert isinstance(value, int)
        return field(11, VARINT, value)
    if kind == FLOAT:
        assert isinstance(value, float)
        return field(12, FIXED32, struct.pack("<f", value))
    if kind == DOUBLE:
        assert isinstance(value, float)
        return field(13, FIXED64, struct.pack("<d", value))
    if kind == BOOLEAN:
        return field(14, VARINT, int(bool(value)))
    if kind in (BYTES, FILE):
        assert isinstance(value, bytes)
        return field(16, LENGTH, value)
    return field(15, LENGTH, str(value).encode())
