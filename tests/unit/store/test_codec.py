"""The store's JSON: orjson's speed, the standard library's answers where they differ."""

from __future__ import annotations

import json
from typing import Any

import pytest

from edgeplane.store import codec

VALUES: list[tuple[str, Any]] = [
    ("plain", {"kind": "Site", "metadata": {"name": "a", "labels": {"x": "1"}}}),
    ("beyond-64-bits", {"x": 2**70, "y": -(2**63) - 1, "z": [2**64]}),
    ("int64-edges", {"max": 2**63 - 1, "min": -(2**63), "u64": 2**64 - 1}),
    ("floats", {"a": 0.1, "b": 1e30, "c": -2.5e-8, "d": 1.0}),
    ("unicode", {"name": "caf\u00e9 \u2603 \U0001f600"}),
    ("digits-in-a-string", {"token": "1234567890123456789012345", "n": 3}),
    ("key-order", {"b": 1, "a": 2, "c": {"z": 1, "y": 2}}),
]


@pytest.mark.parametrize("value", [v for _, v in VALUES], ids=[i for i, _ in VALUES])
def test_every_value_round_trips_exactly(value: Any) -> None:
    for text in (codec.dumps(value), codec.dumps_text(value)):
        back = codec.loads(text)
        assert back == value and json.dumps(back) == json.dumps(value)
        assert list(back) == list(value), "keys keep their order"


def test_an_integer_beyond_64_bits_stays_an_integer() -> None:
    """orjson alone reads 2**70 as a float (1.1805916207174113e+21), silently."""
    back = codec.loads(codec.dumps_text({"x": 2**70}))
    assert back["x"] == 2**70 and isinstance(back["x"], int)


@pytest.mark.parametrize(
    "value",
    [{1: "int key"}, {"x": 2**70}],
    ids=["int-key", "big-int"],
)
def test_what_orjson_refuses_is_written_as_json_writes_it(value: Any) -> None:
    assert codec.dumps(value) == json.dumps(value, separators=(",", ":")).encode()


def test_a_lone_surrogate_is_stored_as_its_escape_as_before() -> None:
    text = codec.dumps_text({"x": "\ud800"})
    assert text == '{"x":"\\ud800"}' and codec.loads(text) == {"x": "\ud800"}


def test_what_neither_encodes_is_refused_as_json_refuses_it() -> None:
    with pytest.raises(TypeError):
        codec.dumps({"x": {1, 2}})
