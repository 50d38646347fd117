"""Metadata bookkeeping shared by every backend: owned fields, versions, generation."""

from __future__ import annotations

import re
from typing import Any

import pytest

from edgeplane.api.wire import Object
from edgeplane.store import Conflict
from edgeplane.store import objects as bookkeeping

STORED: Object = {
    "kind": "Site",
    "metadata": {
        "name": "a",
        "labels": {"region": "eu"},
        "uid": "u-1",
        "resourceVersion": "5",
        "generation": 2,
        "creationTimestamp": "2026-01-02T03:04:05Z",
    },
    "spec": {"runtime": "process"},
    "status": {"phase": "Online"},
}


def incoming(**changes: Any) -> Object:
    obj: Object = {"kind": "Site", "metadata": {"name": "a", "labels": {"region": "eu"}}}
    obj["spec"] = {"runtime": "process"}
    obj.update(changes)  # type: ignore[typeddict-item]  # each test names a field of Object
    return obj


def test_created_owns_uid_version_generation_and_timestamp() -> None:
    sent = incoming(metadata={"name": "a", "uid": "forged", "generation": 9})
    new = bookkeeping.created(sent, 7)
    assert new["metadata"]["uid"] != "forged"
    assert new["metadata"]["resourceVersion"] == "7"
    assert new["metadata"]["generation"] == 1
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", new["metadata"]["creationTimestamp"])
    assert sent["metadata"]["uid"] == "forged"


@pytest.mark.parametrize(
    ("sent", "generation", "unchanged"),
    [
        (incoming(), 2, True),
        (incoming(spec={"runtime": "kubernetes"}), 3, False),
        (incoming(metadata={"name": "a", "labels": {"region": "us"}}), 2, False),
        (incoming(status={"phase": "Forged"}), 2, True),
        (incoming(metadata={"name": "a", "labels": {"region": "eu"}, "uid": "x"}), 2, True),
    ],
    ids=["same", "spec-change", "label-change", "status-ignored", "owned-ignored"],
)
def test_replaced_keeps_status_and_counts_spec_changes(
    sent: Object, generation: int, unchanged: bool
) -> None:
    new = bookkeeping.replaced(STORED, sent)
    assert new["status"] == STORED["status"]
    assert new["metadata"]["generation"] == generation
    assert new["metadata"]["uid"] == "u-1"
    assert (new == STORED) is unchanged


@pytest.mark.parametrize(
    ("sent", "status"),
    [
        (incoming(status={"phase": "Offline"}), {"phase": "Offline"}),
        (incoming(spec={"forged": True}, status={"phase": "Online"}), {"phase": "Online"}),
        (incoming(), None),
    ],
    ids=["new-status", "spec-ignored", "status-removed"],
)
def test_status_replaced_changes_only_status(sent: Object, status: Any) -> None:
    new = bookkeeping.status_replaced(STORED, sent)
    assert new.get("status") == status
    assert new["spec"] == STORED["spec"] and new["metadata"] == STORED["metadata"]


@pytest.mark.parametrize(
    ("given", "conflicts"),
    [(None, False), ("", False), ("5", False), ("4", True), (incoming(), False)],
    ids=["absent", "empty", "current", "stale", "object-without-version"],
)
def test_check_version(given: Any, conflicts: bool) -> None:
    if conflicts:
        with pytest.raises(Conflict, match=r'Site "a" was modified: .* 4 is stale, .* is 5'):
            bookkeeping.check_version(STORED, given)
    else:
        bookkeeping.check_version(STORED, given)
