"""Strict request bodies: what ``parse_object`` and ``body_metadata`` refuse, and where
they say the problem is."""

from __future__ import annotations

from typing import Any

import pytest

from edgeplane.hub.bodies import MAX_DEPTH, body_metadata, parse_object
from edgeplane.hub.errors import ApiError


def _nested(depth: int) -> bytes:
    return b'{"a": ' * depth + b"1" + b"}" * depth


def test_a_plain_object_is_read() -> None:
    assert parse_object(b'{"a": [1, 2.5, "x", null, true]}') == {"a": [1, 2.5, "x", None, True]}


def test_nesting_up_to_the_limit_is_read() -> None:
    assert parse_object(_nested(MAX_DEPTH))


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 500, 1200, 100_000])
def test_deeper_nesting_is_a_400(depth: int) -> None:
    with pytest.raises(ApiError) as refused:
        parse_object(_nested(depth))
    assert refused.value.status == 400
    assert f"{MAX_DEPTH} deep" in refused.value.message


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"spec": {"x": NaN}}', "spec.x"),
        (b'{"spec": {"x": [1, Infinity]}}', "spec.x[1]"),
        (b'{"a": -Infinity}', "a"),
        (b'{"a": 1e400}', "a"),
        (b'{"a": {"b": "\\ud800"}}', "a.b"),
        (b'{"\\udfff": 1}', "body"),
    ],
)
def test_values_json_cannot_carry_are_refused_where_they_are(body: bytes, field: str) -> None:
    with pytest.raises(ApiError) as refused:
        parse_object(body)
    assert (refused.value.status, refused.value.field) == (400, field)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{",
        b"\xff{}",
        '{"a": 1}'.encode("utf-16"),
        '\ufeff{"a": 1}'.encode(),
        b"[1]",
        b'"x"',
        b"5",
        b"null",
        b'{"a": ' + b"9" * 5000 + b"}",
    ],
)
def test_what_is_not_one_utf8_json_object_is_a_400(body: bytes) -> None:
    with pytest.raises(ApiError) as refused:
        parse_object(body)
    assert (refused.value.status, refused.value.field) == (400, "body")
    assert "Traceback" not in refused.value.message and "sys." not in refused.value.message


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"metadata": "x"}, "metadata"),
        ({"metadata": [1]}, "metadata"),
        ({"metadata": {"name": 5}}, "metadata.name"),
        ({"metadata": {"resourceVersion": 5}}, "metadata.resourceVersion"),
        ({"metadata": {"resourceVersion": "٣"}}, "metadata.resourceVersion"),
        ({"metadata": {"resourceVersion": "1" * 21}}, "metadata.resourceVersion"),
    ],
)
def test_malformed_metadata_is_a_422_naming_it(body: dict[str, Any], field: str) -> None:
    with pytest.raises(ApiError) as refused:
        body_metadata(body)
    assert (refused.value.status, refused.value.field) == (422, field)


def test_good_metadata_is_given_back() -> None:
    assert body_metadata({}) == {}
    assert body_metadata({"metadata": None}) == {}
    metadata = {"name": "web", "resourceVersion": "1" * 20}
    assert body_metadata({"metadata": metadata}) == metadata
