"""The Sparkplug B decoder: values round trip by datatype, and whatever is truncated,
too large, nested too deep or mistyped raises MalformedPayload (never IndexError)."""

from __future__ import annotations

import contextlib
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgeplane.agent.discovery.sparkplug import (
    MAX_DEPTH,
    MAX_METRICS,
    MAX_PAYLOAD_BYTES,
    MalformedPayload,
    Value,
    decode,
)
from tests.support import sparkplug as sp

ROUND_TRIPS: list[tuple[str, bytes, Value]] = [
    ("string", sp.metric("m", "Acme Corp"), "Acme Corp"),
    ("unicode string", sp.metric("m", "Würth ☃"), "Würth ☃"),
    ("empty string", sp.metric("m", ""), ""),
    ("text", sp.metric("m", "long text", sp.TEXT), "long text"),
    ("int8 negative (32-bit two's complement)", sp.metric("m", -5, sp.INT8), -5),
    ("int8 negative (8-bit, as Tahu's Python writes)", sp.metric("m", 251, sp.INT8), -5),
    ("int16 negative", sp.metric("m", -300, sp.INT16), -300),
    ("int32 negative", sp.metric("m", -(2**31), sp.INT32), -(2**31)),
    ("int32 positive", sp.metric("m", 2**31 - 1, sp.INT32), 2**31 - 1),
    ("uint32 max", sp.metric("m", 2**32 - 1, sp.UINT32), 2**32 - 1),
    ("int64 negative", sp.metric("m", -42), -42),
    ("uint64 max", sp.metric("m", 2**64 - 1, sp.UINT64), 2**64 - 1),
    ("datetime", sp.metric("m", 1_700_000_000_123, sp.DATETIME), 1_700_000_000_123),
    ("float", sp.metric("m", 1.5, sp.FLOAT), 1.5),
    ("double", sp.metric("m", -0.1), -0.1),
    ("bool true", sp.metric("m", True), True),
    ("bool false", sp.metric("m", False), False),
    ("bytes", sp.metric("m", b"\x00\xff"), b"\x00\xff"),
    ("null", sp.metric("m", None, sp.STRING), None),
    ("alias kept aside", sp.metric("m", "x", alias=7), "x"),
    ("unknown field skipped", sp.metric("m", "x") + sp.field(99, sp.LENGTH, b"??"), "x"),
    ("data set not decoded", sp.metric("m", 0) + sp.field(17, sp.LENGTH, b"\x08\x01"), None),
]


@pytest.mark.parametrize(
    ("encoded", "expected"), [r[1:] for r in ROUND_TRIPS], ids=[r[0] for r in ROUND_TRIPS]
)
def test_a_value_round_trips(encoded: bytes, expected: Value) -> None:
    decoded = decode(sp.payload(encoded)).metrics["m"]
    assert decoded == expected
    assert type(decoded) is type(expected)


def test_timestamp_seq_and_order_are_kept() -> None:
    data = sp.payload(sp.metric("b", 1), sp.metric("a", "2"), seq=7, timestamp=123)
    payload = decode(data)
    assert (payload.timestamp, payload.seq) == (123, 7)
    assert list(payload.metrics.items()) == [("b", 1), ("a", "2")]


def test_an_empty_payload_has_no_metrics() -> None:
    assert decode(b"").metrics == {}


def test_nameless_metrics_are_left_out() -> None:
    assert decode(sp.payload(sp.metric(None, 5, alias=3))).metrics == {}


def test_template_members_are_named_under_their_metric() -> None:
    inner = sp.template("Gearbox", sp.metric("Ratio", 3.5))
    data = sp.payload(sp.template("Motor 1", sp.metric("Speed", 1200), inner))
    assert decode(data).metrics == {"Motor 1/Speed": 1200, "Motor 1/Gearbox/Ratio": 3.5}


def test_keep_holds_only_the_names_asked_for() -> None:
    data = sp.payload(sp.metric("Properties/Model", "X1"), sp.metric("Temperature", 21.5))
    payload = decode(data, keep=lambda name: name.startswith("Properties/"))
    assert payload.metrics == {"Properties/Model": "X1"}
    assert payload.skipped == 1


def test_metrics_past_the_limit_are_skipped_not_refused() -> None:
    data = sp.payload(*(sp.metric(f"m{i}", i) for i in range(MAX_METRICS + 5)))
    payload = decode(data)
    assert len(payload.metrics) == MAX_METRICS
    assert payload.skipped == 5


def _nested(depth: int) -> bytes:
    member = sp.metric("leaf", 1)
    for level in range(depth):
        member = sp.template(f"t{level}", member)
    return sp.payload(member)


def test_templates_up_to_the_depth_limit_decode() -> None:
    assert len(decode(_nested(MAX_DEPTH - 1)).metrics) == 1


GOOD = sp.payload(sp.metric("Properties/Serial Number", "SN-1"), sp.metric("v", 1.25))

MALFORMED: list[tuple[str, bytes]] = [
    ("truncated in a key", b"\x80"),
    ("truncated in the metric", GOOD[:12]),
    ("truncated in a double", GOOD[:-3]),
    ("length past the end", sp.field(2, sp.LENGTH, b"")[:-1] + b"\x10"),
    ("oversized", b"\x00" * (MAX_PAYLOAD_BYTES + 1)),
    ("deeply nested templates", _nested(MAX_DEPTH + 1)),
    ("absurdly nested templates", _nested(200)),
    ("varint of 11 bytes", sp.varint(1 << 3) + b"\xff" * 10 + b"\x01"),
    ("varint past 64 bits", sp.varint(1 << 3) + b"\xff" * 9 + b"\x7f"),
    ("field number 0", b"\x00\x01"),
    ("group wire type", sp.varint(9 << 3 | 3)),
    ("wire type 7", sp.varint(9 << 3 | 7)),
    ("metrics as a number", sp.field(2, sp.VARINT, 5)),
    ("timestamp as bytes", sp.field(1, sp.LENGTH, b"x")),
    ("name as a number", sp.payload(sp.field(1, sp.VARINT, 3))),
    (
        "double of 4 bytes",
        sp.payload(sp.field(1, sp.LENGTH, b"v") + sp.field(13, sp.FIXED32, b"1234")),
    ),
    ("string not UTF-8", sp.payload(sp.field(1, sp.LENGTH, b"\xff\xfe"))),
    ("template as a number", sp.payload(sp.field(1, sp.LENGTH, b"t") + sp.field(18, sp.VARINT, 1))),
]


@pytest.mark.parametrize("data", [m[1] for m in MALFORMED], ids=[m[0] for m in MALFORMED])
def test_malformed_payloads_raise_malformed_payload(data: bytes) -> None:
    with pytest.raises(MalformedPayload):
        decode(data)


def test_malformed_payload_is_a_value_error() -> None:
    assert issubclass(MalformedPayload, ValueError)


def test_every_truncation_of_a_good_payload_decodes_or_raises_malformed() -> None:
    for end in range(len(GOOD)):
        with contextlib.suppress(MalformedPayload):
            decode(GOOD[:end])


def test_a_float_is_read_as_ieee_single() -> None:
    data = sp.payload(
        sp.field(1, sp.LENGTH, b"f") + sp.field(12, sp.FIXED32, struct.pack("<f", 0.1))
    )
    assert decode(data).metrics["f"] == pytest.approx(0.1)


@given(st.binary(max_size=512))
def test_arbitrary_bytes_decode_or_raise_malformed(data: bytes) -> None:
    with contextlib.suppress(MalformedPayload):
        decode(data)
