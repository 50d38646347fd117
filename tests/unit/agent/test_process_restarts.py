"""Restart policy and backoff of the process runtime (pure)."""

from __future__ import annotations

import pytest

from edgeplane.agent.runtimes import Phase
from edgeplane.agent.runtimes.process.restarts import (
    Ending,
    RestartBackoff,
    crash_loop_message,
    exit_ending,
    final_phase,
    should_restart,
)


def test_backoff_doubles_to_the_cap_and_resets_after_a_healthy_run() -> None:
    backoff = RestartBackoff(initial=1.0, cap=60.0, reset_after=60.0)
    assert [backoff.delay(ran_for=0.5) for _ in range(8)] == [1, 2, 4, 8, 16, 32, 60, 60]
    assert backoff.delay(ran_for=61.0) == 1.0
    assert backoff.delay(ran_for=1.0) == 2.0


def test_backoff_survives_a_long_crash_loop() -> None:
    backoff = RestartBackoff(initial=1.0, cap=60.0)
    assert [backoff.delay(0.0) for _ in range(2000)][-1] == 60.0


UNHEALTHY = Ending(None, "Unhealthy", "probe failed", unhealthy=True)


@pytest.mark.parametrize(
    ("policy", "ending", "restart", "phase"),
    [
        ("Always", exit_ending(0), True, Phase.SUCCEEDED),
        ("Always", exit_ending(3), True, Phase.FAILED),
        ("OnFailure", exit_ending(0), False, Phase.SUCCEEDED),
        ("OnFailure", exit_ending(3), True, Phase.FAILED),
        ("OnFailure", exit_ending(-9), True, Phase.FAILED),
        ("OnFailure", exit_ending(None), True, Phase.FAILED),
        ("Never", exit_ending(0), False, Phase.SUCCEEDED),
        ("Never", exit_ending(3), False, Phase.FAILED),
        ("OnFailure", UNHEALTHY, True, Phase.FAILED),
        ("Never", UNHEALTHY, False, Phase.FAILED),
    ],
    ids=[
        "always-0",
        "always-3",
        "onfailure-0",
        "onfailure-3",
        "onfailure-signal",
        "onfailure-unknown",
        "never-0",
        "never-3",
        "onfailure-unhealthy",
        "never-unhealthy",
    ],
)
def test_policy(policy: str, ending: Ending, restart: bool, phase: Phase) -> None:
    assert should_restart(policy, ending) is restart
    assert final_phase(ending) is phase


@pytest.mark.parametrize(
    ("code", "message"),
    [(3, "exit code 3"), (-15, "killed by signal 15"), (None, "exit code unknown")],
    ids=["code", "signal", "unknown"],
)
def test_exit_messages(code: int | None, message: str) -> None:
    assert message in exit_ending(code).message


def test_crash_loop_message() -> None:
    assert (
        crash_loop_message(exit_ending(3), 8.0, 5) == "exit code 3, restarting in 8 s (5 restarts)"
    )
    assert (
        crash_loop_message(exit_ending(3), 0.5, 1) == "exit code 3, restarting in 0.5 s (1 restart)"
    )
