"""benchmarks/support/rolling: the rings, the manifests, the overhead and the rollback clock."""

from __future__ import annotations

from typing import Any

import pytest

from benchmarks.rollout import summary
from benchmarks.support.rolling import (
    RollbackClock,
    application,
    median,
    overhead,
    ring_sizes,
    template,
)


@pytest.mark.parametrize(
    ("sites", "rings"),
    [
        (10_000, {"canary": 10, "wave1": 1000, "rest": 8990}),
        (200, {"canary": 10, "wave1": 20, "rest": 170}),
        (12, {"canary": 10, "wave1": 1, "rest": 1}),
    ],
    ids=["ten-thousand", "quick", "smallest"],
)
def test_rings_are_ten_canaries_a_tenth_and_the_rest(sites: int, rings: dict[str, int]) -> None:
    assert ring_sizes(sites) == rings
    assert sum(rings.values()) == sites


def test_too_few_sites_for_the_rings_is_refused_with_the_fix() -> None:
    with pytest.raises(ValueError, match="give at least 12"):
        ring_sizes(11)


def test_the_application_rolls_out_canary_then_wave1_then_the_rest() -> None:
    spec = application(5.0)["spec"]
    assert spec["rollout"] == {
        "groups": [
            {"name": "canary", "siteGroup": "rollout-canary"},
            {"name": "wave-1", "siteGroup": "rollout-wave1"},
        ],
        "maxUnavailable": "10%",
        "minSuccessSeconds": 5.0,
    }
    assert spec["placement"] == {"mode": "EverySite"}
    assert template("bad", failing=True)["process"]["env"] == {
        "RELEASE": "bad",
        "EDGEPLANE_SIM_FAIL": "1",
    }
    assert "EDGEPLANE_SIM_FAIL" not in template("good")["process"]["env"]


def test_overhead_is_the_wall_time_less_one_soak_per_wave() -> None:
    assert overhead(21.5, 5.0, 3) == pytest.approx(6.5)


def item(site: str, revision: int, phase: str | None = None, observed: int = 2) -> dict[str, Any]:
    status = {"phase": phase, "observedGeneration": observed} if phase else None
    return {
        "metadata": {"generation": 2},
        "spec": {"site": site, "revision": revision},
        "status": status,
    }


def test_the_clock_runs_from_the_first_failure_to_the_last_rewrite_back() -> None:
    clock = RollbackClock(stable=3)
    clock.note(item("a", 3, "Running"), 0.5)  # a stable site's status: nothing
    clock.note(item("a", 4), 1.0)
    clock.note(item("b", 4), 1.1)
    clock.note(item("a", 4, "CrashLoopBackOff", observed=1), 1.5)  # an older spec's word
    assert clock.failed_at is None
    clock.note(item("a", 4, "CrashLoopBackOff"), 2.0)
    clock.note(item("b", 4, "Failed"), 2.2)
    clock.note(item("a", 3), 2.5)
    assert not clock.done
    clock.note(item("b", 3), 3.25)
    assert clock.done and clock.bad == 4
    assert clock.figures() == {
        "rollback_issue_s": 1.25,
        "first_back_s": 0.5,
        "sites_that_ran_bad": 2,
    }


def test_a_clock_that_saw_no_failure_has_no_figure() -> None:
    clock = RollbackClock(stable=1)
    clock.note(item("a", 2), 1.0)
    clock.note(item("a", 1), 2.0)
    assert clock.figures()["rollback_issue_s"] is None


def test_the_summary_takes_medians_of_the_known_runs() -> None:
    def run(overhead_s: float, back: float | None) -> dict[str, Any]:
        good = {"overhead_s": overhead_s, "wall_s": overhead_s + 15}
        bad = {"rollback_issue_s": back, "first_back_s": back, "sites_that_ran_bad": 10}
        return {"good": good, "bad": bad}

    args: Any = type("Args", (), {"sites": 200, "runs": 3, "soak_seconds": 5.0})
    runs = [run(3.0, 0.5), run(1.0, None), run(2.0, 0.7)]
    found = summary({"runs": runs, "joined": 199}, args)  # one site gave up joining
    assert (found["overhead_s"], found["rollback_issue_s"], found["sites"]) == (2.0, 0.6, 199)
    assert median([None]) is None
