"""The ``Revision`` kind and ``revision_name``: a good revision round-trips, a bad one
is refused with the field named, and names stay readable, valid and distinct."""

from __future__ import annotations

from typing import Any

import pytest

from edgeplane.api.kinds import kind_info
from edgeplane.api.labels import check_dns1123_subdomain
from edgeplane.api.revisions import Revision
from edgeplane.api.validation import InvalidObject, to_wire, validate_object
from edgeplane.api.wellknown import APPLICATION_LABEL, revision_name
from tests.support.builders import changed

GOOD: dict[str, Any] = {
    "apiVersion": "edgeplane.io/v1alpha1",
    "kind": "Revision",
    "metadata": {"name": "web.r2", "labels": {APPLICATION_LABEL: "web"}, "annotations": {}},
    "spec": {
        "application": "web",
        "applicationUid": "0f6c0b8e-5b1d-4a39-9a57-3f7f2a1d9e10",
        "revision": 2,
        "hash": "ab" * 32,
        "template": {
            "workload": {"process": {"command": "web", "args": ["--v2"]}},
            "resources": {"cpu": "500m"},
            "overrides": [{"site": "dublin-1", "values": {"process": {"args": ["--eu"]}}}],
        },
        "createdAt": "2026-12-01T12:00:00Z",
    },
}


def test_a_revision_round_trips_and_is_registered() -> None:
    assert isinstance(validate_object(GOOD, expected_kind="Revision"), Revision)
    assert to_wire(validate_object(GOOD)) == GOOD
    info = kind_info("rev")
    assert (info.kind, info.plural, info.singular, info.model) == (
        "Revision",
        "revisions",
        "revision",
        Revision,
    )


# (id, path, value, the field named, words of the message)
BAD = [
    ("revision-zero", "spec.revision", 0, "spec.revision", "greater than"),
    ("hash-short", "spec.hash", "abc", "spec.hash", "64 lower case hex digits"),
    ("hash-upper", "spec.hash", "AB" * 32, "spec.hash", "64 lower case hex digits"),
    ("no-template", "spec.template", None, "spec.template", "valid dictionary"),
    ("no-workload", "spec.template.workload", None, "spec.template.workload", "valid"),
    (
        "template-placement",
        "spec.template.placement",
        {"mode": "EverySite"},
        "spec.template.placement",
        "unknown field",
    ),
    ("bad-application", "spec.application", "Web", "spec.application", "invalid name 'Web'"),
    ("no-uid", "spec.applicationUid", None, "spec.applicationUid", "valid string"),
    ("no-created", "spec.createdAt", None, "spec.createdAt", "valid string"),
    ("status", "status", {"phase": "x"}, "status", "None"),
]


@pytest.mark.parametrize(
    ("path", "value", "field", "words"), [c[1:] for c in BAD], ids=[c[0] for c in BAD]
)
def test_a_bad_revision_names_the_field(path: str, value: Any, field: str, words: str) -> None:
    with pytest.raises(InvalidObject) as raised:
        validate_object(changed(GOOD, path, value))
    assert raised.value.field == field, raised.value.errors
    assert words in str(raised.value)


LONG = "a" * 251
DOTTED = ".".join(["b" * 62] * 4)  # 251 characters, a valid subdomain


@pytest.mark.parametrize(
    ("app", "revision", "name"),
    [
        ("web", 1, "web.r1"),
        ("web.r1", 2, "web.r1.r2"),
        ("shelf-vision", 123456, "shelf-vision.r123456"),
        ("a" * 249, 9, "a" * 249 + ".r9"),
    ],
    ids=["plain", "dotted", "big-number", "just-fits"],
)
def test_a_short_revision_name_is_readable_as_it_is(app: str, revision: int, name: str) -> None:
    assert revision_name(app, revision) == name


@pytest.mark.parametrize(
    ("app", "revision"),
    [(LONG, 1), (LONG, 10**9), (DOTTED, 100000), ("a" * 250, 10), ("a" * 253, 1)],
    ids=["long", "long-big-number", "dotted-cut", "one-over", "longest"],
)
def test_a_long_revision_name_is_cut_hashed_and_valid(app: str, revision: int) -> None:
    name = revision_name(app, revision)
    assert len(name) <= 253
    assert check_dns1123_subdomain(name) is None
    assert f".r{revision}." in name
    assert revision_name(app, revision) == name


def test_revision_names_are_distinct() -> None:
    pairs = [(app, n) for app in ("web", "web.r1", LONG, LONG + "b", "a" * 249) for n in (1, 2, 10)]
    names = {revision_name(app, n) for app, n in pairs}
    assert len(names) == len(pairs)
