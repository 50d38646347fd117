"""How the hub's rollout side sees sites (``hub.controllers.rollouts``): Ready and
failing as of the Assignment's own spec, wave membership and maintenance windows from
the Site and its SiteGroups, events from the machine's ``Reason: message``."""

from __future__ import annotations

from typing import Any

import pytest

from edgeplane.api.wire import Object
from edgeplane.hub.controllers.rollouts import Places, _event, failure_of, is_ready, site_view
from tests.support import builders

NOW = 1_800_000_000.0
"""2027-01-15T08:00:00Z."""
CLOSED = {"schedule": "0 2 * * *", "durationMinutes": 60}
"""Open 02:00-03:00 UTC: closed at NOW, opens the next night."""


def assignment(generation: int = 2, replicas: int = 1, **status: Any) -> Object:
    obj = builders.assignment("web", "s1")
    obj["metadata"]["generation"] = generation
    obj["spec"].update(revision=3, replicas=replicas)
    obj["status"] = status
    return obj


@pytest.mark.parametrize(
    ("obj", "ready"),
    [
        (assignment(phase="Running", ready=1, observedGeneration=2), True),
        (assignment(phase="Running", ready=1, observedGeneration=1), False),
        (assignment(replicas=2, phase="Running", ready=1, observedGeneration=2), False),
        (assignment(phase="Starting", ready=0, observedGeneration=2), False),
    ],
    ids=["running-and-seen", "an-older-spec-seen", "one-of-two-ready", "starting"],
)
def test_ready(obj: Object, ready: bool) -> None:
    assert is_ready(obj) is ready


GATE_DOWN = {"type": "Gate", "status": "False", "reason": "GateFailed", "message": "503"}


@pytest.mark.parametrize(
    ("obj", "failure"),
    [
        (assignment(phase="Running", observedGeneration=2), None),
        (assignment(phase="Failed", message="exit 1", observedGeneration=2), "Failed: exit 1"),
        (assignment(phase="CrashLoopBackOff", observedGeneration=2), "CrashLoopBackOff"),
        (assignment(phase="Failed", message="exit 1", observedGeneration=1), None),
        (
            assignment(phase="Running", observedGeneration=2, conditions=[GATE_DOWN]),
            "Gate gate: 503",
        ),
    ],
    ids=["healthy", "failed", "crash-loop", "failed-at-an-older-spec", "gate-false"],
)
def test_failure(obj: Object, failure: str | None) -> None:
    assert failure_of(obj) == failure


def test_a_new_site_has_no_revision() -> None:
    view = site_view("s9", None, None)
    assert view.revision is None and not view.ready and view.failure is None


def site(
    name: str, phase: str = "Online", windows: list[Any] | None = None, **labels: str
) -> Object:
    spec = {"maintenanceWindows": windows} if windows else {}
    return builders.site(name, spec=spec, status={"phase": phase}, labels=labels)


def group(name: str, windows: list[Any] | None = None, **match: str) -> Object:
    spec: dict[str, Any] = {"selector": {"matchLabels": match}}
    if windows:
        spec["maintenanceWindows"] = windows
    return builders.wire("SiteGroup", name, spec)


def test_places_see_groups_reachability_and_windows() -> None:
    sites = {
        "a": site("a", ring="canary"),
        "b": site("b", phase="Offline", ring="main"),
        "c": site("c", windows=[CLOSED], ring="main"),
        "d": site("d", ring="late"),
    }
    groups = [group("canaries", ring="canary"), group("late", windows=[CLOSED], ring="late")]
    found = Places().of(sites, groups, NOW)
    assert found["a"].groups == {"canaries"} and found["a"].window_open
    assert not found["b"].reachable and found["b"].window_open
    assert not found["c"].window_open and found["c"].opens_at == NOW + 18 * 3600
    assert found["d"].groups == {"late"} and not found["d"].window_open


@pytest.mark.parametrize(
    ("message", "reason", "text"),
    [
        ("WaveStarted: wave canary started", "WaveStarted", "wave canary started"),
        ("no reason here", "Rollout", "no reason here"),
    ],
    ids=["named", "unnamed"],
)
def test_events(message: str, reason: str, text: str) -> None:
    event = _event(message, 0.0)
    assert (event["reason"], event["message"], event["time"]) == (
        reason,
        text,
        "1970-01-01T00:00:00Z",
    )
