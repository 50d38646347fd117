"""``status.rollout`` on the wire (``rollout.wire``) and a site's window state
(``rollout.windows``): round trips, bounds, the operator's controls, windows."""

from __future__ import annotations

from typing import Any

import pytest

from edgeplane.rollout import (
    Controls,
    Phase,
    RolloutState,
    StoryEntry,
    Summary,
    WavePhase,
    WaveSummary,
    controls_from_wire,
    window_state,
)
from edgeplane.rollout.wire import rfc3339
from tests.unit.rollout.fleets import T0, progressing, run, site, strategy

PASSED = WaveSummary("g", 1, 1, 1, 0, 0, 0, WavePhase.PASSED, T0 - 60, T0 - 5)
CURRENT = WaveSummary("rest", 2, 1, 0, 1, 0, 0, WavePhase.SOAKING, T0 - 5)


def test_round_trip() -> None:
    state = progressing(
        wave=1,
        soak_started_at=T0 + 0.25,
        inflight={"a": T0},
        failed={"b": "CrashLoopBackOff"},
        story=(StoryEntry(T0, "started"),),
        passed_at=(T0 - 5,),
    )
    wire = state.to_wire(Summary(waves=(PASSED, CURRENT)))
    assert RolloutState.from_wire(wire) == state
    assert wire["soakStartedAt"] == rfc3339(T0 + 0.25) == "2027-01-15T08:00:00.25Z"
    assert wire["failed"] == [{"site": "b", "reason": "CrashLoopBackOff"}]
    assert "finishedAt" not in wire and "control" not in wire


def test_shown_lists_are_bounded() -> None:
    state = progressing(failed={f"s{i:03d}": "x" for i in range(80)})
    wire = state.to_wire(run(state, strategy(), []).summary)
    assert len(wire["failed"]) == 50


@pytest.mark.parametrize(
    "data",
    [None, {}, {"revision": "2", "phase": "Progressing"}, {"revision": 2, "phase": "Dancing"}],
    ids=["none", "empty", "revision-not-a-number", "unknown-phase"],
)
def test_from_wire_none(data: dict[str, Any] | None) -> None:
    assert RolloutState.from_wire(data) is None


def test_from_wire_skips_bad_times() -> None:
    state = RolloutState.from_wire(
        {
            "revision": 2,
            "phase": "Paused",
            "inflight": {"a": "yesterday", "b": "2027-01-15T08:00:00Z"},
        }
    )
    assert state is not None and state.phase is Phase.PAUSED and state.inflight == {"b": T0}


@pytest.mark.parametrize(
    ("control", "expected"),
    [
        (None, Controls()),
        ({"revision": 1, "paused": True}, Controls()),
        (
            {"revision": 2, "paused": True, "promote": 1, "approved": [0, 2], "abort": False},
            Controls(paused=True, promote=1, approved=frozenset({0, 2})),
        ),
        ({"revision": 2, "abort": True, "promote": True}, Controls(abort=True)),
    ],
    ids=["none", "for-another-revision", "all", "bool-is-no-wave"],
)
def test_controls_from_wire(control: dict[str, Any] | None, expected: Controls) -> None:
    assert controls_from_wire({"control": control}, 2) == expected


NIGHTLY = {"schedule": "0 2 * * *", "durationMinutes": 120, "timeZone": "UTC"}


@pytest.mark.parametrize(
    ("windows", "now", "expected"),
    [
        ([], T0, (True, None)),
        ([NIGHTLY], T0, (False, T0 + 18 * 3600)),
        ([NIGHTLY, {**NIGHTLY, "schedule": "0 8 * * *"}], T0, (True, None)),
        ([{**NIGHTLY, "schedule": "nonsense"}], T0, (True, None)),
        ([NIGHTLY, {**NIGHTLY, "schedule": "0 20 * * *"}], T0, (False, T0 + 12 * 3600)),
    ],
    ids=[
        "none-always-open",
        "closed-until-2am",
        "one-open-is-enough",
        "a-bad-window-is-ignored",
        "the-earliest-opening",
    ],
)
def test_window_state(
    windows: list[dict[str, Any]], now: float, expected: tuple[bool, float | None]
) -> None:
    assert window_state(windows, now) == expected


def test_window_state_of_a_site_in_the_machine() -> None:
    open_now, opens_at = window_state([NIGHTLY], T0)
    view = site("w", window_open=open_now, window_opens_at=opens_at)
    result = run(progressing(), strategy(), [view])
    assert result.revisions == {"w": 1} and result.wake_at == opens_at
