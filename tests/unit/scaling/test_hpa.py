"""``recommend``: the replica count the metrics call for, case by case as the
upstream HPA tests (``replica_calculator_test.go``) check it: the tolerance, scaling
up and down, instances that did not report, External values and averages, scale to
zero and waking from it, the largest of several metrics, and missing metrics."""

from __future__ import annotations

from typing import Any

import pytest

from edgeplane.scaling import Reading, Reason, recommend
from tests.unit.scaling.specs import cpu, external, pods, reading, spec

# (id, metrics, current, readings, external values, replicas, reason)
CASES: list[
    tuple[str, list[dict[str, Any]], int, dict[str, Reading], dict[str, float], int, Reason]
] = [
    # cpu utilisation, every instance reporting: ceil(ratio * samples)
    ("cpu-up", [cpu(30)], 3, reading(50, 3), {}, 5, Reason.ABOVE_TARGET),
    ("cpu-down", [cpu(50)], 5, reading(28, 5), {}, 3, Reason.BELOW_TARGET),
    ("cpu-tolerance-keeps", [cpu(100)], 3, reading(102, 3), {}, 3, Reason.AT_TARGET),
    ("cpu-tolerance-edge-keeps", [cpu(70)], 3, reading(77, 3), {}, 3, Reason.AT_TARGET),
    ("cpu-just-past-tolerance", [cpu(70)], 3, reading(78, 3), {}, 4, Reason.ABOVE_TARGET),
    ("cpu-exact-fit", [cpu(70)], 3, reading(140, 3), {}, 6, Reason.ABOVE_TARGET),
    ("cpu-down-rounds-up", [cpu(70)], 4, reading(20, 4), {}, 2, Reason.BELOW_TARGET),
    ("cpu-more-reporting-than-running", [cpu(70)], 2, reading(140, 4), {}, 8, Reason.ABOVE_TARGET),
    # a Pods metric: the same arithmetic on its average value
    ("pods-up", [pods("rps", 100)], 3, reading(150, 3, "rps"), {}, 5, Reason.ABOVE_TARGET),
    ("pods-down", [pods("rps", 100)], 5, reading(40, 5, "rps"), {}, 2, Reason.BELOW_TARGET),
    ("pods-tolerance", [pods("rps", 100)], 5, reading(91, 5, "rps"), {}, 5, Reason.AT_TARGET),
    # fewer instances reported than run: idle on the way up, at the target on the way down
    ("silent-up", [cpu(50)], 4, reading(100, 3), {}, 6, Reason.ABOVE_TARGET),
    ("silent-down", [cpu(50)], 4, reading(20, 3), {}, 3, Reason.BELOW_TARGET),
    ("silent-up-into-tolerance", [cpu(100)], 4, reading(120, 3), {}, 4, Reason.AT_TARGET),
    ("silent-up-turns-around", [cpu(100)], 4, reading(130, 2), {}, 4, Reason.AT_TARGET),
    ("silent-down-into-tolerance", [cpu(100)], 4, reading(95, 3), {}, 4, Reason.AT_TARGET),
    ("silent-at-target-keeps", [cpu(70)], 4, reading(70, 3), {}, 4, Reason.AT_TARGET),
    ("silent-most", [cpu(50)], 10, reading(200, 2), {}, 10, Reason.AT_TARGET),
    # External Value: ratio * current; from zero, ceil(ratio)
    ("external-up", [external("q", 4400)], 1, {}, {"q": 8600}, 2, Reason.ABOVE_TARGET),
    ("external-down", [external("q", 14334)], 5, {}, {"q": 8600}, 3, Reason.BELOW_TARGET),
    ("external-tolerance", [external("q", 500)], 3, {}, {"q": 510}, 3, Reason.AT_TARGET),
    ("external-to-zero", [external("q", 500)], 2, {}, {"q": 0}, 0, Reason.BELOW_TARGET),
    ("external-wakes-from-zero", [external("q", 500)], 0, {}, {"q": 1}, 1, Reason.ABOVE_TARGET),
    ("external-wakes-many", [external("q", 500)], 0, {}, {"q": 1600}, 4, Reason.ABOVE_TARGET),
    ("external-stays-at-zero", [external("q", 500)], 0, {}, {"q": 0}, 0, Reason.AT_TARGET),
    # External AverageValue: ceil(value / target), the target being per replica
    ("average-up", [external("q", 2150, True)], 3, {}, {"q": 8600}, 4, Reason.ABOVE_TARGET),
    ("average-tolerance", [external("q", 2900, True)], 3, {}, {"q": 8600}, 3, Reason.AT_TARGET),
    ("average-down", [external("q", 30, True)], 10, {}, {"q": 95}, 4, Reason.BELOW_TARGET),
    ("average-from-zero", [external("q", 30, True)], 0, {}, {"q": 95}, 4, Reason.ABOVE_TARGET),
    (
        "runaway-value-capped",
        [external("q", 1)],
        3,
        {},
        {"q": 1e308},
        2**31 - 1,
        Reason.ABOVE_TARGET,
    ),
    # several metrics: the largest proposal; a missing one never lets the rest scale down
    (
        "largest-wins",
        [cpu(70), pods("rps", 100)],
        3,
        {**reading(210, 3), **reading(50, 3, "rps")},
        {},
        9,
        Reason.ABOVE_TARGET,
    ),
    (
        "missing-one-up-proceeds",
        [cpu(70), pods("rps")],
        3,
        reading(140, 3),
        {},
        6,
        Reason.ABOVE_TARGET,
    ),
    (
        "missing-one-down-holds",
        [cpu(70), pods("rps")],
        4,
        reading(20, 4),
        {},
        4,
        Reason.METRICS_MISSING,
    ),
    ("missing-one-at-target", [cpu(70), external()], 4, reading(70, 4), {}, 4, Reason.AT_TARGET),
    ("missing-all", [cpu(70), external()], 4, {}, {}, 4, Reason.METRICS_MISSING),
    ("no-samples-is-missing", [cpu(70)], 4, reading(300, 0), {}, 4, Reason.METRICS_MISSING),
    (
        "not-a-number-is-missing",
        [external()],
        4,
        {},
        {"queue": float("nan")},
        4,
        Reason.METRICS_MISSING,
    ),
    ("no-instance-no-reading", [cpu(70), external("q")], 0, {}, {"q": 0}, 0, Reason.AT_TARGET),
]


@pytest.mark.parametrize(
    ("metrics", "current", "readings", "values", "replicas", "reason"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_recommend(
    metrics: list[dict[str, Any]],
    current: int,
    readings: dict[str, Reading],
    values: dict[str, float],
    replicas: int,
    reason: Reason,
) -> None:
    result = recommend(spec(*metrics), current, readings, values)
    assert (result.replicas, result.reason) == (replicas, reason), result.message


def test_the_message_says_what_was_seen_and_what_follows() -> None:
    result = recommend(spec(cpu(70)), 3, reading(92, 3), {})
    assert result.message == "cpu 92% of the requested cpu, target 70%: 3 -> 4"
    assert result.summary == "cpu 92% of the requested cpu, target 70%"


@pytest.mark.parametrize(
    ("metrics", "current", "readings", "values", "message"),
    [
        (
            [pods("rps", 100)],
            5,
            reading(91.256, 5, "rps"),
            {},
            "rps 91.26 per instance, target 100: staying at 5",
        ),
        ([external("q", 500)], 2, {}, {"q": 1500}, "q 1500, target 500: 2 -> 6"),
        ([external("q", 30, True)], 1, {}, {"q": 95}, "q 95, target 30 per replica: 1 -> 4"),
        (
            [cpu(70), pods("rps")],
            4,
            reading(20, 4),
            {},
            "cpu 20% of the requested cpu, target 70%; rps not reported: not scaling down on "
            "the others alone: staying at 4",
        ),
        (
            [cpu(70), pods("rps")],
            3,
            reading(140, 3),
            {},
            "cpu 140% of the requested cpu, target 70%: 3 -> 6 (rps not reported)",
        ),
        ([cpu(70), external()], 3, {}, {}, "no value for cpu, queue: staying at 3"),
    ],
    ids=[
        "pods-stays",
        "external-value",
        "external-average",
        "missing-holds",
        "missing-noted",
        "all-missing",
    ],
)
def test_messages(
    metrics: list[dict[str, Any]],
    current: int,
    readings: dict[str, Reading],
    values: dict[str, float],
    message: str,
) -> None:
    assert recommend(spec(*metrics), current, readings, values).message == message


def test_per_metric_follows_the_spec_and_names_the_missing() -> None:
    result = recommend(spec(cpu(70), pods("rps"), external("q")), 3, reading(140, 3), {"q": 250})
    assert [tuple(m) for m in result.per_metric] == [
        ("cpu", 140, 70, 6),
        ("rps", None, 100, None),
        ("q", 250, 500, 2),
    ]
    assert result.missing == ("rps",)
    name, value, target, replicas = result.per_metric[0]
    assert (name, value, target, replicas) == ("cpu", 140, 70, 6)


def test_equal_proposals_name_the_first_metric() -> None:
    result = recommend(
        spec(pods("a"), pods("b")), 2, {**reading(200, 2, "a"), **reading(200, 2, "b")}, {}
    )
    assert result.message.startswith("a ")
