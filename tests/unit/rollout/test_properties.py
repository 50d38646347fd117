"""Properties of the rollout machine under random fleets, health signals, offline
flips, maintenance windows, operator actions and time: (1) the sites it takes down
never exceed the budget left, (2) it never moves past a wave whose gate failed, (3)
with every site eventually Ready or failed it ends, (4) after a rollback or an abort
every site runs the stable revision."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from edgeplane.rollout import (
    Controls,
    Phase,
    RolloutState,
    SiteView,
    Step,
    Strategy,
    begin,
    step,
    waves_of,
)
from tests.unit.rollout.fleets import T0

GROUPS = ("canary", "eu")


@st.composite
def rollouts(draw: st.DrawFn) -> Strategy:
    spec: dict[str, Any] = {
        "maxUnavailable": draw(st.sampled_from([1, 2, "10%", "25%", "100%"])),
        "minSuccessSeconds": draw(st.sampled_from([0, 10, 60])),
        "autoRollback": draw(st.booleans()),
        "failureThreshold": draw(st.sampled_from([0, 1, "50%"])),
        "progressDeadlineSeconds": draw(st.sampled_from([30, 600])),
        "gates": {"maxRestarts": draw(st.sampled_from([None, 2]))},
    }
    if draw(st.booleans()):
        spec["steps"] = draw(st.sampled_from([["10%", "50%"], ["1%"], ["30%", "100%"]]))
    else:
        spec["groups"] = [
            {
                "name": g,
                "siteGroup": g,
                "requireApproval": draw(st.booleans()),
                "maxUnavailable": draw(st.sampled_from([None, 1])),
            }
            for g in draw(st.lists(st.sampled_from(GROUPS), unique=True, max_size=2))
        ]
    return Strategy.from_spec(draw(st.sampled_from([None, spec, spec, spec])), "shop")


@st.composite
def fleets(draw: st.DrawFn) -> list[SiteView]:
    count = draw(st.integers(min_value=1, max_value=12))
    return [
        SiteView(f"s{i:02d}", frozenset(draw(st.sets(st.sampled_from(GROUPS)))), 1, True)
        for i in range(count)
    ]


@dataclass(frozen=True)
class Signal:
    """One site's news between two steps."""

    ready: bool
    failure: bool
    restarts: int
    reachable: bool
    window_open: bool


signals = st.builds(
    Signal,
    ready=st.booleans(),
    failure=st.booleans(),
    restarts=st.integers(0, 3),
    reachable=st.booleans() | st.just(True),
    window_open=st.booleans() | st.just(True),
)
controls = st.builds(
    Controls,
    paused=st.booleans(),
    promote=st.none() | st.integers(0, 3),
    approved=st.frozensets(st.integers(0, 3)),
    abort=st.sampled_from([False, False, False, True]),
)


def observe(views: list[SiteView], result: Step, news: list[Signal]) -> list[SiteView]:
    """The fleet after the step: each site runs what it was told, and reports news."""
    return [
        replace(
            view,
            revision=result.revisions[view.name] if n.reachable else view.revision,
            ready=n.ready and not n.failure,
            failure="crashed" if n.failure else None,
            restarts=n.restarts,
            reachable=n.reachable,
            window_open=n.window_open,
        )
        for view, n in zip(views, news, strict=False)
    ]


def budget_left(how: Strategy, views: list[SiteView], failed: Collection[str]) -> int:
    """The fleet's budget before the step (failed sites are the threshold's, not its)."""
    live = [v for v in views if v.reachable]
    down = sum(1 for v in live if not v.ready and v.name not in failed)
    return max(1, how.max_unavailable.of(len(live))) - down


def check_step(before: RolloutState, how: Strategy, views: list[SiteView], result: Step) -> None:
    after = result.state
    assert set(result.revisions) == {v.name for v in views}
    if after.phase.finished and after.phase is not Phase.SUCCEEDED:
        assert after.wave == before.wave  # (2) a failing step never advances
    if after.phase in (Phase.ROLLED_BACK, Phase.ABORTED):
        assert set(result.revisions.values()) <= {after.stable}  # (4)
        return
    if after.phase is not Phase.FAILED:  # (2) no wave reached holds too many failures
        for wave in waves_of(how, views)[: after.wave + 1]:
            failed = sum(1 for name in wave.sites if name in after.failed)
            assert failed <= how.failure_threshold.of(len(wave.sites))
    took_down = [
        v
        for v in views
        if v.ready and v.reachable and v.revision not in (None, result.revisions[v.name])
    ]
    assert len(took_down) <= max(0, budget_left(how, views, after.failed))  # (1)


@settings(max_examples=200, deadline=None)
@given(
    how=rollouts(),
    fleet=fleets(),
    rounds=st.lists(
        st.tuples(st.lists(signals, min_size=12, max_size=12), controls, st.integers(0, 120)),
        max_size=25,
    ),
)
def test_budget_gates_and_rollback_hold(
    how: Strategy, fleet: list[SiteView], rounds: list[tuple[list[Signal], Controls, int]]
) -> None:
    state, views, now = begin(2, begin(1, None, T0), T0), fleet, T0
    for news, control, seconds in rounds:
        result = step(state, how, views, control, now)
        check_step(state, how, views, result)
        state, views, now = result.state, observe(views, result, news), now + seconds


@settings(max_examples=200, deadline=None)
@given(
    how=rollouts(),
    fleet=fleets(),
    doomed=st.sets(st.integers(0, 11)),
    noise=st.lists(st.tuples(st.lists(signals, min_size=12, max_size=12), controls), max_size=10),
)
def test_it_ends(
    how: Strategy,
    fleet: list[SiteView],
    doomed: set[int],
    noise: list[tuple[list[Signal], Controls]],
) -> None:
    """After random noise, every site is reachable and in window, Ready, or failing at
    the target if doomed (the new version is bad there), every wave approved: the
    rollout ends (3)."""
    state, views, now = begin(2, begin(1, None, T0), T0), fleet, T0
    for news, control in noise:
        result = step(state, how, views, replace(control, abort=False), now)
        state, views, now = result.state, observe(views, result, news), now + 1
    settle = Controls(approved=frozenset(range(8)))
    for _ in range(4 * len(views) + 20):
        if state.phase.finished:
            break
        result = step(state, how, views, settle, now)
        check_step(state, how, views, result)
        bad = [i in doomed and result.revisions[v.name] == 2 for i, v in enumerate(views)]
        settled = [Signal(not b, b, 0, True, True) for b in bad]
        state, views = result.state, observe(views, result, settled)
        now += how.min_success_seconds + how.progress_deadline_seconds + 1
    assert state.phase.finished, "\n".join(line.message for line in state.story)
