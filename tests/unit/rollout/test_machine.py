"""The rollout machine (``rollout.machine``), rule by rule as the design states them:
begin, new sites, the budget (offline and out-of-window sites skipped), soak, promote,
approval, pause and resume, abort, the failure threshold, the progress deadline,
maxRestarts, rollback with and without autoRollback, catch-up after success, and that
no site runs a rolled-back revision."""

from __future__ import annotations

from typing import Any

import pytest

from edgeplane.rollout import TRANSITIONS, Controls, Phase, RolloutState, Strategy, begin, story
from tests.unit.rollout.fleets import T0, at, progressing, reasons, run, site, sites, strategy

CANARY = {"groups": [{"name": "canary", "siteGroup": "canary-sites"}]}


def canary_fleet(rest: int = 4, **more: Any) -> list[Any]:
    return [site("c0", groups=["canary-sites"]), *sites(rest, **more)]


# --- begin -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("previous", "revision", "phase", "stable"),
    [
        (None, 1, Phase.SUCCEEDED, 1),
        (RolloutState(1, 1, Phase.SUCCEEDED), 2, Phase.PROGRESSING, 1),
        (RolloutState(3, 2, Phase.ROLLED_BACK), 4, Phase.PROGRESSING, 2),
        (RolloutState(3, 2, Phase.PROGRESSING), 4, Phase.PROGRESSING, 2),
        (RolloutState(3, 2, Phase.ABORTED), 2, Phase.SUCCEEDED, 2),
    ],
    ids=[
        "first-revision-is-not-rolled-out",
        "after-success-the-last-revision-is-stable",
        "after-rollback-the-stable-stays",
        "superseded-mid-rollout-keeps-the-stable",
        "undo-to-the-stable-settles-at-once",
    ],
)
def test_begin(previous: RolloutState | None, revision: int, phase: Phase, stable: int) -> None:
    state = begin(revision, previous, T0)
    assert (state.revision, state.phase, state.stable) == (revision, phase, stable)


def test_begin_same_revision_changes_nothing() -> None:
    state = progressing(wave=1)
    assert begin(2, state, T0 + 5) is state


def test_first_step_tells_the_start() -> None:
    result = run(begin(2, RolloutState(1, 1, Phase.SUCCEEDED), T0), strategy(), sites(2))
    assert reasons(result)[:2] == ["RolloutStarted", "RolloutWaveStarted"]
    assert result.state.wave_started_at == T0


# --- which revision a site runs -----------------------------------------------------


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        (progressing(), 1),
        (RolloutState(2, 2, Phase.SUCCEEDED), 2),
        (progressing(stable=None), 2),
        (RolloutState(2, 1, Phase.ROLLED_BACK), 1),
        (RolloutState(2, 1, Phase.FAILED), 1),
    ],
    ids=["progressing-stable", "succeeded-target", "no-stable-target", "rolled-back", "halted"],
)
def test_new_site_revision(state: RolloutState, expected: int) -> None:
    result = run(state, strategy(CANARY), [site("new", None, ready=False)])
    assert result.revisions == {"new": expected}


def test_every_site_gets_a_revision() -> None:
    views = [*sites(3), site("new", None), site("away", 1, reachable=False)]
    result = run(progressing(), strategy(CANARY), views)
    assert set(result.revisions) == {view.name for view in views}


# --- the budget -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("rollout", "views", "moved"),
    [
        ({"maxUnavailable": 2}, sites(10), 2),
        ({"maxUnavailable": "20%"}, sites(10), 2),
        ({"maxUnavailable": "10%"}, sites(5), 1),
        ({"maxUnavailable": 2}, [*sites(9), site("x", ready=False)], 2),
        ({"maxUnavailable": 2}, [*sites(9), site("x", 1, ready=False, groups=["o"])], 2),
        ({"maxUnavailable": 3}, [*sites(8), *sites(2, prefix="u", ready=False)], 3),
        ({"maxUnavailable": 2}, [*sites(8), *sites(4, prefix="o", reachable=False)], 2),
        ({"maxUnavailable": 2}, [*sites(3), *sites(4, prefix="w", window_open=False)], 2),
        ({}, sites(8), 2),
        (None, sites(8), 8),
    ],
    ids=[
        "count",
        "percent",
        "percent-rounds-down-but-at-least-one",
        "an-unavailable-site-moves-free-and-spends-nothing",
        "unavailable-in-scope-counts",
        "two-unavailable-move-free-one-more-ready",
        "offline-neither-counted-nor-moved",
        "out-of-window-not-moved",
        "default-25-percent",
        "no-rollout-everything-at-once",
    ],
)
def test_budget(rollout: dict[str, Any] | None, views: list[Any], moved: int) -> None:
    how = strategy(rollout) if rollout is not None else Strategy.from_spec(None, "shop")
    result = run(progressing(), how, views)
    assert len(at(result, 2)) == moved


def test_wave_max_unavailable_caps_the_fleet_budget() -> None:
    how = strategy(
        {"groups": [{"name": "g", "siteGroup": "g", "maxUnavailable": 1}], "maxUnavailable": 5}
    )
    result = run(progressing(), how, sites(6, groups=["g"]))
    assert len(at(result, 2)) == 1


def test_held_sites_are_said() -> None:
    result = run(progressing(), strategy(maxUnavailable=1), sites(4))
    assert "3 site(s) held back by maxUnavailable" in result.summary.waiting


def test_offline_and_out_of_window_are_said_with_the_next_opening() -> None:
    views = [
        *sites(2, prefix="o", reachable=False),
        site("w", window_open=False, window_opens_at=T0 + 3600),
    ]
    result = run(progressing(), strategy(), views)
    assert result.summary.waiting == (
        "2 site(s) offline: skipped, they catch up when back",
        "1 site(s) outside their maintenance window (next opens 2027-01-15T09:00:00Z)",
    )
    assert result.wake_at == T0 + 3600


# --- waves, soak, promote ------------------------------------------------------------


def test_canary_first_then_the_rest() -> None:
    result = run(progressing(), strategy(CANARY, maxUnavailable="100%"), canary_fleet())
    assert at(result, 2) == {"c0"}


@pytest.mark.parametrize(
    ("soak_started_at", "controls", "wave", "soak"),
    [
        (None, Controls(), 0, T0),
        (T0 - 10, Controls(), 0, T0 - 10),
        (T0 - 30, Controls(), 1, None),
        (None, Controls(promote=0), 1, None),
        (T0 - 10, Controls(promote=0), 1, None),
        (T0 - 10, Controls(promote=1), 0, T0 - 10),
    ],
    ids=[
        "all-ready-starts-the-soak",
        "soaking",
        "soaked-passes",
        "promote-skips-the-soak",
        "promote-mid-soak",
        "promote-of-another-wave-does-not",
    ],
)
def test_soak(
    soak_started_at: float | None, controls: Controls, wave: int, soak: float | None
) -> None:
    views = [site("c0", 2, groups=["canary-sites"]), *sites(2)]
    state = progressing(soak_started_at=soak_started_at)
    result = run(state, strategy(CANARY, minSuccessSeconds=30), views, controls)
    assert (result.state.wave, result.state.soak_started_at) == (wave, soak if wave == 0 else None)


def test_soak_wakes_the_hub_when_it_ends() -> None:
    views = [site("c0", 2, groups=["canary-sites"]), *sites(2)]
    result = run(
        progressing(soak_started_at=T0 - 10), strategy(CANARY, minSuccessSeconds=30), views
    )
    assert result.wake_at == T0 + 20
    assert "soaking until" in result.summary.message


def test_a_site_not_ready_restarts_the_soak() -> None:
    views = [site("c0", 2, ready=False, groups=["canary-sites"]), *sites(2)]
    result = run(
        progressing(soak_started_at=T0 - 10), strategy(CANARY, minSuccessSeconds=30), views
    )
    assert (result.state.wave, result.state.soak_started_at) == (0, None)


@pytest.mark.parametrize(
    "canary",
    [
        site("c0", 1, reachable=False, groups=["canary-sites"]),
        site("c0", 1, window_open=False, groups=["canary-sites"]),
    ],
    ids=["offline", "out-of-window"],
)
def test_a_skipped_site_does_not_block_the_wave(canary: Any) -> None:
    result = run(progressing(), strategy(CANARY, maxUnavailable="100%"), [canary, *sites(2)])
    assert result.state.wave == 1
    assert at(result, 2) == {"s00", "s01"}
    assert result.revisions["c0"] == 1


def test_steps_progress_in_waves() -> None:
    how = strategy({"steps": ["10%", "50%"], "maxUnavailable": "100%"})
    views = sites(10)
    first = run(progressing(), how, views)
    assert len(at(first, 2)) == 1
    moved = [site(n, 2) if first.revisions[n] == 2 else site(n) for n in first.revisions]
    second = run(first.state, how, moved, now=T0 + 1)
    assert (second.state.wave, len(at(second, 2))) == (1, 5)


def test_all_waves_passed_succeeds() -> None:
    result = run(
        progressing(wave=1),
        strategy(CANARY),
        [site("c0", 2, groups=["canary-sites"]), *sites(2, 2)],
    )
    assert result.state.phase is Phase.SUCCEEDED
    assert (result.state.stable, result.state.finished_at) == (2, T0)
    assert "RolloutSucceeded" in reasons(result)


def test_an_empty_wave_passes_at_once() -> None:
    result = run(progressing(), strategy(CANARY, maxUnavailable="100%"), sites(2))
    assert (result.state.wave, at(result, 2)) == (1, {"s00", "s01"})
    assert [w.name for w in result.summary.waves] == ["canary", "rest"]


# --- approval, pause, abort -------------------------------------------------------------

APPROVAL = {"groups": [{"name": "canary", "siteGroup": "canary-sites", "requireApproval": True}]}


@pytest.mark.parametrize(
    ("controls", "phase", "moved"),
    [
        (Controls(), Phase.AWAITING_APPROVAL, set()),
        (Controls(approved=frozenset({1})), Phase.AWAITING_APPROVAL, set()),
        (Controls(approved=frozenset({0})), Phase.PROGRESSING, {"c0"}),
    ],
    ids=["waits", "approval-of-another-wave", "approved"],
)
def test_approval(controls: Controls, phase: Phase, moved: set[str]) -> None:
    result = run(progressing(), strategy(APPROVAL), canary_fleet(), controls)
    assert (result.state.phase, at(result, 2)) == (phase, moved)


def test_awaiting_approval_says_the_command() -> None:
    result = run(progressing(), strategy(APPROVAL), canary_fleet())
    assert "`edgeplane rollout approve shop --wave canary`" in result.summary.message
    assert "RolloutAwaitingApproval" in reasons(result)


@pytest.mark.parametrize(
    ("phase", "controls", "next_phase", "moved"),
    [
        (Phase.PROGRESSING, Controls(paused=True), Phase.PAUSED, set()),
        (Phase.PAUSED, Controls(paused=True), Phase.PAUSED, set()),
        (Phase.PAUSED, Controls(), Phase.PROGRESSING, {"c0"}),
        (Phase.AWAITING_APPROVAL, Controls(paused=True), Phase.PAUSED, set()),
    ],
    ids=["pause", "stays-paused", "resume", "pause-while-awaiting"],
)
def test_pause(phase: Phase, controls: Controls, next_phase: Phase, moved: set[str]) -> None:
    result = run(progressing(phase=phase), strategy(CANARY), canary_fleet(), controls)
    assert (result.state.phase, at(result, 2)) == (next_phase, moved)


def test_the_soak_clock_runs_while_paused() -> None:
    views = [site("c0", 2, groups=["canary-sites"]), *sites(2)]
    how = strategy(CANARY, minSuccessSeconds=30)
    paused = run(progressing(), how, views, Controls(paused=True))
    assert (paused.state.phase, paused.state.soak_started_at) == (Phase.PAUSED, T0)
    resumed = run(paused.state, how, views, now=T0 + 30)
    assert (resumed.state.phase, resumed.state.wave) == (Phase.PROGRESSING, 1)


@pytest.mark.parametrize(
    "phase",
    [Phase.PROGRESSING, Phase.PAUSED, Phase.AWAITING_APPROVAL, Phase.FAILED],
    ids=["progressing", "paused", "awaiting-approval", "halted"],
)
def test_abort_rolls_back_everything_at_once(phase: Phase) -> None:
    views = [
        site("c0", 2, ready=False, groups=["canary-sites"]),
        *sites(3, 2, window_open=False),
        site("away", 2, reachable=False),
    ]
    result = run(progressing(phase=phase), strategy(CANARY), views, Controls(abort=True))
    assert result.state.phase is Phase.ABORTED
    assert at(result, 1) == set(result.revisions)
    assert "RolloutAborted" in reasons(result)


def test_abort_after_success_changes_nothing() -> None:
    state = RolloutState(2, 2, Phase.SUCCEEDED, finished_at=T0)
    result = run(state, strategy(), sites(2, 2), Controls(abort=True))
    assert (result.state.phase, at(result, 2)) == (Phase.SUCCEEDED, {"s00", "s01"})


# --- gates and failures ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("canary", "rollout", "inflight", "failed"),
    [
        (site("c0", 2, ready=False, failure="CrashLoopBackOff"), {}, {}, "CrashLoopBackOff"),
        (site("c0", 2, restarts=4), {"gates": {"maxRestarts": 3}}, {}, "restarted 4 times"),
        (site("c0", 2, restarts=3), {"gates": {"maxRestarts": 3}}, {}, None),
        (
            site("c0", 2, ready=False),
            {"progressDeadlineSeconds": 60},
            {"c0": T0 - 60},
            "not Ready 60 s",
        ),
        (site("c0", 2, ready=False), {"progressDeadlineSeconds": 60}, {"c0": T0 - 59}, None),
        (site("c0", 2, ready=False, failure="x", reachable=False), {}, {}, None),
        (site("c0", 1, ready=False, failure="at the old one"), {}, {}, None),
    ],
    ids=[
        "failure-reported",
        "too-many-restarts",
        "restarts-at-the-limit",
        "past-the-progress-deadline",
        "within-the-progress-deadline",
        "offline-is-not-judged",
        "failing-at-another-revision-is-not-the-target's-fault",
    ],
)
def test_site_failure(
    canary: Any, rollout: dict[str, Any], inflight: dict[str, float], failed: str | None
) -> None:
    result = run(progressing(inflight=inflight), strategy(rollout), [canary, *sites(2)])
    why = result.state.failed.get("c0")
    assert (why is None) if failed is None else (why is not None and failed in why)


@pytest.mark.parametrize(
    ("rollout", "phase", "c0"),
    [
        ({}, Phase.ROLLED_BACK, 1),
        ({"autoRollback": False}, Phase.FAILED, 2),
        ({"failureThreshold": 1}, Phase.PROGRESSING, 2),
        ({"failureThreshold": "50%"}, Phase.PROGRESSING, 2),
        ({"failureThreshold": "40%"}, Phase.ROLLED_BACK, 1),
    ],
    ids=[
        "auto-rollback",
        "halted-without-auto-rollback",
        "within-a-count",
        "within-a-percent",
        "percent-rounds-down",
    ],
)
def test_failure_threshold(rollout: dict[str, Any], phase: Phase, c0: int) -> None:
    groups = {"groups": [{"name": "canary", "siteGroup": "canary-sites"}]}
    views = [
        site("c0", 2, ready=False, failure="Gate False", groups=["canary-sites"]),
        site("c1", 2, groups=["canary-sites"]),
        *sites(2),
    ]
    result = run(progressing(), strategy({**groups, **rollout}), views)
    wave = 1 if phase is Phase.PROGRESSING else 0  # never past a failed gate
    assert (result.state.phase, result.revisions["c0"], result.state.wave) == (phase, c0, wave)


def test_rollback_says_why_and_runs_stable_everywhere() -> None:
    views = [
        site("c0", 2, ready=False, failure="CrashLoopBackOff", groups=["canary-sites"]),
        site("away", 2, reachable=False),
        site("shut", 2, window_open=False),
        *sites(2),
    ]
    result = run(progressing(), strategy(CANARY), views)
    assert result.state.phase is Phase.ROLLED_BACK
    assert at(result, 1) == set(result.revisions)
    assert "c0 (CrashLoopBackOff)" in result.state.story[-1].message
    assert result.summary.waves[0].phase == "Failed"


def test_a_tolerated_failure_does_not_block_the_wave() -> None:
    views = [
        site("c0", 2, ready=False, failure="x", groups=["canary-sites"]),
        site("c1", 2, groups=["canary-sites"]),
        *sites(2),
    ]
    result = run(progressing(), strategy(CANARY, failureThreshold=1), views)
    assert result.state.wave == 1 and result.revisions["c0"] == 2


def test_inflight_is_kept_and_restarted_for_returning_sites() -> None:
    views = [
        site("c0", 2, ready=False, groups=["canary-sites"]),
        site("c1", 2, ready=False, groups=["canary-sites"]),
    ]
    result = run(progressing(inflight={"c0": T0 - 5, "gone": T0 - 5}), strategy(CANARY), views)
    assert result.state.inflight == {"c0": T0 - 5, "c1": T0}
    assert result.wake_at == T0 - 5 + 600


# --- after the rollout ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("views", "moved"),
    [
        ([site("back", 1)], {"back"}),
        ([site("back", 1, window_open=False)], set()),
        ([site("back", 1, reachable=False)], set()),
        ([*sites(4, 1)], {"s00"}),
        ([*sites(3, 1, ready=False)], {"s00", "s01", "s02"}),
    ],
    ids=[
        "returned-site-catches-up",
        "out-of-window-waits",
        "offline-waits",
        "within-the-fleet-budget",
        "unavailable-sites-catch-up-free",
    ],
)
def test_catch_up_after_success(views: list[Any], moved: set[str]) -> None:
    state = RolloutState(2, 2, Phase.SUCCEEDED, finished_at=T0)
    result = run(state, strategy(maxUnavailable=1), [*views, *sites(4, 2, prefix="d")])
    assert at(result, 2) - {f"d{i:02d}" for i in range(4)} == moved


@pytest.mark.parametrize(
    "phase", [Phase.ROLLED_BACK, Phase.ABORTED], ids=["rolled-back", "aborted"]
)
def test_no_site_runs_a_rolled_back_revision(phase: Phase) -> None:
    state = RolloutState(3, 2, phase, finished_at=T0)
    views = [site("returned", 3), site("new", None, ready=False), site("old", 1)]
    result = run(state, strategy(), views, now=T0 + 3600)
    assert result.revisions == {"returned": 2, "new": 2, "old": 2}


# --- the transitions and the story ------------------------------------------------------


def test_finished_phases_only_leave_by_abort_of_a_halt() -> None:
    leaving = {(phase, event) for (phase, event) in TRANSITIONS if phase.finished}
    assert {phase for phase, _ in leaving} == {Phase.FAILED}
    assert {TRANSITIONS[key] for key in leaving} == {Phase.ABORTED}


def test_story_lines_carry_times() -> None:
    result = run(begin(2, RolloutState(1, 1, Phase.SUCCEEDED), T0), strategy(), sites(1))
    assert (
        story(result.state)[0]
        == "2027-01-15T08:00:00Z rollout of revision 2 started (stable 1, 1 wave(s))"
    )


def test_story_is_bounded() -> None:
    state = progressing()
    how, views = strategy(CANARY), canary_fleet()
    for i in range(60):
        state = run(state, how, views, Controls(paused=i % 2 == 0), now=T0 + i).state
    assert len(state.story) == 50


def test_a_tolerated_failure_does_not_spend_the_budget_for_good() -> None:
    # one failed site must not stall a rollout with maxUnavailable 1 forever
    views = [site("bad", 2, ready=False, failure="crashed"), *sites(3)]
    result = run(progressing(), strategy(maxUnavailable=1, failureThreshold=1), views)
    assert result.state.failed.keys() == {"bad"}
    assert len(at(result, 2) - {"bad"}) == 1
