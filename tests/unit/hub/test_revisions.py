"""The placement controller's revisions (``hub.controllers.revisions``): templates are
content-addressed, a template seen before takes its number back, a new one the next
number, revisions of deleted (or re-made) applications go, and pruning keeps what is
used."""

from __future__ import annotations

from typing import Any

import pytest

from edgeplane.api.wire import Object
from edgeplane.hub.controllers.revisions import (
    RevisionBook,
    prunable,
    revision_object,
    template_hash,
    template_of,
)
from tests.support import builders

V1 = {"process": {"command": "sleep", "args": ["1"]}}
V2 = {"process": {"command": "sleep", "args": ["2"]}}


def app(workload: dict[str, Any] = V1, uid: str = "u1", **status: Any) -> Object:
    obj = builders.application("web", workload=workload)
    obj["metadata"].update({"uid": uid, "generation": 1, "resourceVersion": "5"})
    if status:
        obj["status"] = {"rollout": status}
    return obj


def stored(obj: Object, number: int) -> Object:
    made = revision_object(obj, number, template_of(obj), template_hash(template_of(obj)), 0.0)
    made["metadata"]["resourceVersion"] = str(number)
    return made


def test_the_hash_is_canonical_and_an_absent_part_is_null() -> None:
    first = template_hash({"workload": {"a": 1, "b": 2}})
    assert first == template_hash({"workload": {"b": 2, "a": 1}, "resources": None})
    assert first != template_hash({"workload": {"a": 1, "b": 2}, "resources": {}})


def test_a_first_template_is_revision_one_with_its_object() -> None:
    plan = RevisionBook().plan([app()], [])
    assert plan.targets == {"web": 1}
    (made,) = plan.create
    assert made["kind"] == "Revision" and made["metadata"]["name"] == "web.r1"
    assert made["spec"]["applicationUid"] == "u1" and made["spec"]["template"] == {"workload": V1}


@pytest.mark.parametrize(
    ("workload", "status", "target", "created"),
    [
        (V1, {}, 1, False),
        (V2, {}, 2, True),
        (V2, {"revision": 7}, 8, True),
    ],
    ids=["same-template-same-number", "new-template-next-number", "past-the-rollout-target"],
)
def test_the_target_revision(
    workload: dict[str, Any], status: dict[str, Any], target: int, created: bool
) -> None:
    plan = RevisionBook().plan([app(workload, **status)], [stored(app(), 1)])
    assert plan.targets == {"web": target}
    assert bool(plan.create) is created
    assert set(plan.templates["web"]) == ({1, target})


def test_a_template_seen_before_takes_its_number_back() -> None:
    revisions = [stored(app(V1), 1), stored(app(V2), 2)]
    plan = RevisionBook().plan([app(V1, revision=2)], revisions)
    assert plan.targets == {"web": 1} and plan.create == []


def test_revisions_of_no_application_or_another_uid_are_deleted() -> None:
    old = stored(app(uid="old"), 1)
    gone = stored(builders.application("gone", workload=V1) | {"metadata": {"name": "gone"}}, 1)
    kept = stored(builders.application("bad", workload=V1) | {"metadata": {"name": "bad"}}, 1)
    plan = RevisionBook().plan([app()], [old, gone, kept], keep=["bad"])
    assert sorted(plan.delete) == ["gone.r1", "web.r1"]
    assert plan.targets == {"web": 1} and len(plan.create) == 1  # made again, for uid u1


@pytest.mark.parametrize(
    ("numbers", "limit", "used", "pruned"),
    [
        ([1, 2, 3], 3, [], []),
        ([1, 2, 3, 4], 2, [], [1, 2]),
        ([1, 2, 3, 4], 2, [1], [2, 3]),
        ([1, 2, 3, 4], 1, [1, 2, 3, 4], []),
    ],
    ids=["within-the-limit", "oldest-first", "a-used-one-is-kept", "all-used"],
)
def test_pruning(numbers: list[int], limit: int, used: list[int], pruned: list[int]) -> None:
    names = {n: f"web.r{n}" for n in numbers}
    assert prunable(names, limit, used) == [f"web.r{n}" for n in pruned]
