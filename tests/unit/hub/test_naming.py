"""Assignment names: unambiguous, valid, readable; a held name is never taken over."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgeplane.api.labels import check_dns1123_subdomain
from edgeplane.api.wellknown import assignment_name, reserved_label
from edgeplane.api.wire import Object
from edgeplane.hub.controllers.naming import name_collision

LABEL = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True)
NAME = st.lists(LABEL, min_size=1, max_size=4).map(".".join)


@given(NAME, NAME, NAME, NAME)
def test_different_pairs_get_different_names(a1: str, s1: str, a2: str, s2: str) -> None:
    if (a1, s1) != (a2, s2):
        assert assignment_name(a1, s1) != assignment_name(a2, s2)


@pytest.mark.parametrize(
    ("application", "site"),
    [("web", "a.b"), ("web.a", "b"), ("a" * 253, "s" * 63), ("x" * 180 + ".y", "z.w" * 20)],
    ids=["dotted-site", "dotted-app", "longest", "cut-at-a-dot"],
)
def test_names_are_valid_and_readable(application: str, site: str) -> None:
    name = assignment_name(application, site)
    assert check_dns1123_subdomain(name) is None, name
    assert name.startswith(f"{application}.{site}"[:100].rstrip(".-"))


def test_the_example_of_the_issue_no_longer_collides() -> None:
    assert assignment_name("web", "a.b") != assignment_name("web.a", "b")


@pytest.mark.parametrize(
    ("key", "reserved"),
    [
        ("edgeplane.io/site", True),
        ("sub.edgeplane.io/x", True),
        ("edgeplane.io", False),
        ("notedgeplane.io/x", False),
        ("region", False),
        ("example.com/edgeplane.io", False),
    ],
)
def test_the_reserved_prefix(key: str, reserved: bool) -> None:
    assert reserved_label(key) is reserved


def _assignment(app: str, site: str) -> Object:
    return {"metadata": {"name": "n"}, "spec": {"application": app, "site": site}}


@pytest.mark.parametrize(
    ("stored", "desired", "collides"),
    [
        ({}, {}, False),
        ({"n": _assignment("web", "s1")}, {}, False),
        ({"n": _assignment("other", "s9")}, {}, True),
        ({}, {"n": _assignment("other", "s9")}, True),
        ({}, {"n": _assignment("web", "s1")}, False),
    ],
    ids=["free", "ours-stored", "held-stored", "held-this-pass", "ours-this-pass"],
)
def test_a_held_name_is_a_collision(
    stored: dict[str, Any], desired: dict[str, Any], collides: bool
) -> None:
    problem = name_collision({"n": _assignment("web", "s1")}, desired, stored)
    if not collides:
        assert problem is None
        return
    assert problem is not None
    reason, message = problem
    assert reason == "NameCollision"
    assert "other at site s9" in message and "nothing was overwritten" in message
