"""What wakes the placement controller (``controllers.triggers``), and the bounded
record of its decisions and their story (``controllers.record``)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from edgeplane.api.wire import Object
from edgeplane.hub.controllers import record as recording
from edgeplane.hub.controllers.record import PlacementRecord
from edgeplane.hub.controllers.triggers import sort_changes
from edgeplane.hub.informer import RELIST_CHANGE, Change
from edgeplane.placement.model import Decision


def obj(kind: str, name: str, rv: int = 5, **parts: Any) -> Object:
    found: Object = {
        "kind": kind,
        "metadata": {"name": name, "resourceVersion": str(rv), "labels": {"a": "1"}},
        "spec": {"application": "web", "site": "s1"},
        "status": {"phase": "Online", "lastHeartbeat": "2026-01-01T00:00:00Z"},
    }
    found.update(parts)  # type: ignore[typeddict-item]  # parts name fields of Object
    return found


def modified(kind: str, change: Any, rv: int = 6) -> Change:
    old = obj(kind, "x")
    new = copy.deepcopy(old)
    change(new)
    new["metadata"]["resourceVersion"] = str(rv)
    return Change(kind, "x", "MODIFIED", old, new)


def heartbeat(o: dict[str, Any]) -> None:
    o["status"]["lastHeartbeat"] = "2026-01-01T00:00:10Z"
    o["status"]["conditions"] = [{"type": "Ready", "lastHeartbeatTime": "2026-01-01T00:00:10Z"}]


CASES = [
    ("site-heartbeat", modified("Site", heartbeat), False, set()),
    ("site-labels", modified("Site", lambda o: o["metadata"].update(labels={})), True, set()),
    ("site-phase", modified("Site", lambda o: o["status"].update(phase="Offline")), True, set()),
    ("site-capacity", modified("Site", lambda o: o["status"].update(capacity={})), True, set()),
    (
        "site-annotation",
        modified("Site", lambda o: o["metadata"].update(annotations={})),
        False,
        set(),
    ),
    ("app-status", modified("Application", lambda o: o["status"].update(ready=1)), False, set()),
    ("app-spec", modified("Application", lambda o: o["spec"].update(x=1)), True, set()),
    (
        "app-annotation",
        modified("Application", lambda o: o["metadata"].update(annotations={"k": "v"})),
        True,
        set(),
    ),
    (
        "assignment-status",
        modified("Assignment", lambda o: o["status"].update(ready=1)),
        False,
        {"web"},
    ),
    (
        "assignment-spec",
        modified("Assignment", lambda o: o["spec"].update(replicas=2)),
        True,
        set(),
    ),
    (
        "assignment-deleted",
        Change("Assignment", "x", "DELETED", obj("Assignment", "x"), None),
        True,
        set(),
    ),
    ("group", modified("SiteGroup", lambda o: o["status"].update(x=1)), True, set()),
    ("relist", RELIST_CHANGE, True, set()),
]


@pytest.mark.parametrize(
    ("change", "full", "statuses"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_what_wakes_what(change: Change, full: bool, statuses: set[str]) -> None:
    wake = sort_changes([change], own=set())
    assert (wake.full, wake.statuses) == (full, statuses)


def test_the_controllers_own_writes_wake_nothing() -> None:
    change = modified("Assignment", lambda o: o["spec"].update(replicas=2), rv=42)
    assert not sort_changes([change], own={42})
    deleted = Change("Assignment", "x", "DELETED", obj("Assignment", "x", rv=43), None)
    assert not sort_changes([deleted], own={43})


def test_a_wake_names_what_changed_and_counts_the_rest() -> None:
    labels = modified("Site", lambda o: o["metadata"].update(labels={}))
    spec = modified("Application", lambda o: o["spec"].update(x=1))
    wake = sort_changes([labels, spec, *[labels] * 5], own=set())
    assert wake.apps == {"x": "Application x MODIFIED (spec)"}
    assert wake.trigger() == (
        "Site x MODIFIED (labels); Application x MODIFIED (spec); "
        + "; ".join(["Site x MODIFIED (labels)"] * 3)
        + "; and 2 more"
    )


def decision(*sites: str, wanted: int = 1) -> Decision:
    return Decision("web", tuple(sites), wanted)


def test_a_story_entry_only_when_where_or_how_much_changes() -> None:
    record = PlacementRecord()
    record.decided("web", 1, decision("s1"), "Application web ADDED", now=0)
    record.decided("web", 2, decision("s1"), "Application web MODIFIED (spec)", now=1)
    record.decided("web", 2, decision("s2", wanted=2), "Site s1 MODIFIED (labels)", now=2)
    story = [e.to_wire() for e in record.story("web")]
    assert story == [
        {
            "time": "1970-01-01T00:00:00Z",
            "trigger": "Application web ADDED",
            "added": ["s1"],
            "addedCount": 1,
            "removed": [],
            "removedCount": 0,
            "unplaced": 0,
        },
        {
            "time": "1970-01-01T00:00:02Z",
            "trigger": "Site s1 MODIFIED (labels)",
            "added": ["s2"],
            "addedCount": 1,
            "removed": ["s1"],
            "removedCount": 1,
            "unplaced": 1,
        },
    ]
    found = record.decision("web")
    assert found is not None and (found.generation, found.time) == (2, "1970-01-01T00:00:02Z")
    record.decided("web", 1, decision("s3"), "Application web ADDED", uid="another")
    assert len(record.story("web")) == 1  # deleted and made again: a new story
    record.keep_only([])
    assert record.decision("web") is None and record.story("web") == []


def test_the_history_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(recording, "MAX_STORY", 3)
    monkeypatch.setattr(recording, "MAX_ENTRIES", 5)
    monkeypatch.setattr(recording, "MAX_SITES_TOLD", 2)
    record = PlacementRecord()
    for i in range(10):  # each pass moves web to another site
        record.decided("web", 1, decision(f"s{i}"), f"pass {i}")
    assert [e.trigger for e in record.story("web")] == ["pass 7", "pass 8", "pass 9"]
    record.decided("big", 1, decision(*[f"s{i}" for i in range(100)]), "first")
    (entry,) = record.story("big")
    assert (entry.added, entry.added_count) == (("s0", "s1"), 100)
    for app in ("a", "b", "c"):
        record.decided(app, 1, decision("s1"), "first")
    # 3 + 1 + 3 entries are over 5: the story changed longest ago (web's) goes.
    assert record.story("web") == [] and len(record.story("c")) == 1
    assert sum(len(record.story(a)) for a in ("web", "big", "a", "b", "c")) <= 5
