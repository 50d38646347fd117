"""``decide``: from a recommendation to a replica count, rule by rule as HPA's
behaviour (``horizontal.go``, and the cases of ``horizontal_test.go``): the
stabilization windows, Percent and Pods policies over their periods, selectPolicy
Max, Min and Disabled, the bounds, scale to zero and waking from it; and what is
remembered for the next decision."""

from __future__ import annotations

from typing import Any

import pytest

from edgeplane.scaling import HISTORY_MAX, Reason, Recommendation, decide, recommend, story
from tests.unit.scaling.specs import T0, cpu, external, reading, side, spec


def wants(replicas: int, current: int) -> Recommendation:
    """What the metrics call for, as ``recommend`` would say it."""
    if replicas > current:
        reason = Reason.ABOVE_TARGET
    else:
        reason = Reason.BELOW_TARGET if replicas < current else Reason.AT_TARGET
    return Recommendation(replicas, (), reason, f"cpu: {current} -> {replicas}", "cpu")


MISSING = Recommendation(4, (), Reason.METRICS_MISSING, "no value for cpu: staying at 4")
ZERO: dict[str, Any] = {"minReplicas": 0}
UP_PCT = side(None, None, "Percent 100/60")
DOWN_NOW = side(0)

# (id, spec fields, current, wanted, history (age, replicas), events (age, after, change),
#  desired, reason)
CASES: list[tuple[Any, ...]] = [
    ("stable", {}, 3, 3, [], [], 3, Reason.STABLE),
    ("up-at-once", {}, 3, 5, [], [], 5, Reason.SCALED_UP),
    ("up-percent-beats-pods", {}, 8, 30, [], [], 16, Reason.LIMITED_BY_POLICY),
    ("up-pods-beat-percent", {}, 2, 30, [], [], 6, Reason.LIMITED_BY_POLICY),
    ("up-select-min", {"up": side(None, "Min")}, 10, 30, [], [], 14, Reason.LIMITED_BY_POLICY),
    (
        "up-pods-only",
        {"up": side(None, None, "Pods 2/60")},
        10,
        30,
        [],
        [],
        12,
        Reason.LIMITED_BY_POLICY,
    ),
    (
        "up-percent-rounds-up",
        {"up": side(None, None, "Percent 50/60")},
        3,
        30,
        [],
        [],
        5,
        Reason.LIMITED_BY_POLICY,
    ),
    ("up-budget-spent", {"up": UP_PCT}, 10, 30, [], [(30, 10, 5)], 10, Reason.LIMITED_BY_POLICY),
    ("up-budget-half-spent", {"up": UP_PCT}, 8, 30, [], [(30, 8, 2)], 12, Reason.LIMITED_BY_POLICY),
    (
        "up-old-events-ignored",
        {"up": UP_PCT},
        10,
        30,
        [],
        [(61, 10, 5)],
        20,
        Reason.AT_MAX_REPLICAS,
    ),
    (
        "up-after-a-scale-down",
        {"up": side(None, None, "Pods 4/60")},
        6,
        20,
        [],
        [(10, 6, -4)],
        14,
        Reason.LIMITED_BY_POLICY,
    ),
    ("up-disabled", {"up": side(None, "Disabled")}, 3, 10, [], [], 3, Reason.LIMITED_BY_POLICY),
    ("down-window-zero", {"down": DOWN_NOW}, 10, 2, [], [], 2, Reason.SCALED_DOWN),
    ("down-disabled", {"down": side(0, "Disabled")}, 10, 2, [], [], 10, Reason.LIMITED_BY_POLICY),
    (
        "down-percent",
        {"down": side(0, None, "Percent 50/60")},
        10,
        2,
        [],
        [],
        5,
        Reason.LIMITED_BY_POLICY,
    ),
    (
        "down-percent-rounds-down",
        {"down": side(0, None, "Percent 50/60")},
        5,
        1,
        [],
        [],
        2,
        Reason.LIMITED_BY_POLICY,
    ),
    ("down-pods", {"down": side(0, None, "Pods 1/60")}, 10, 2, [], [], 9, Reason.LIMITED_BY_POLICY),
    (
        "down-select-max",
        {"down": side(0, "Max", "Percent 50/60", "Pods 1/60")},
        10,
        2,
        [],
        [],
        5,
        Reason.LIMITED_BY_POLICY,
    ),
    (
        "down-select-min",
        {"down": side(0, "Min", "Percent 50/60", "Pods 1/60")},
        10,
        2,
        [],
        [],
        9,
        Reason.LIMITED_BY_POLICY,
    ),
    (
        "down-budget-spent",
        {"down": side(0, None, "Pods 2/60")},
        8,
        2,
        [],
        [(20, 8, -2)],
        8,
        Reason.LIMITED_BY_POLICY,
    ),
    ("window-down-holds", {}, 8, 4, [(100, 8)], [], 8, Reason.STABILIZING),
    ("window-down-partly", {}, 8, 4, [(100, 6), (400, 10)], [], 6, Reason.SCALED_DOWN),
    ("window-down-over", {}, 8, 4, [(301, 8)], [], 4, Reason.SCALED_DOWN),
    ("window-up-holds", {"up": side(60)}, 3, 10, [(30, 3)], [], 3, Reason.STABILIZING),
    ("window-up-partly", {"up": side(60)}, 3, 10, [(30, 5), (90, 3)], [], 5, Reason.SCALED_UP),
    ("first-decision-waits-to-scale-down", {}, 5, 2, [], [], 5, Reason.STABILIZING),
    ("first-decision-scales-up", {}, 5, 8, [], [], 8, Reason.SCALED_UP),
    ("max-clamps", {}, 18, 30, [], [], 20, Reason.AT_MAX_REPLICAS),
    ("at-max-stays", {}, 20, 30, [], [], 20, Reason.AT_MAX_REPLICAS),
    ("min-clamps", {"minReplicas": 2, "down": DOWN_NOW}, 3, 1, [], [], 2, Reason.AT_MIN_REPLICAS),
    ("above-max-goes-to-max", {}, 25, 25, [], [], 20, Reason.AT_MAX_REPLICAS),
    ("below-min-goes-to-min", {"minReplicas": 3}, 1, 1, [], [], 3, Reason.AT_MIN_REPLICAS),
    ("zero-below-min-goes-to-min", {}, 0, 0, [], [], 1, Reason.AT_MIN_REPLICAS),
    ("scale-to-zero", {**ZERO, "down": DOWN_NOW}, 2, 0, [], [], 0, Reason.SCALED_DOWN),
    ("wake-from-zero", ZERO, 0, 1, [], [], 1, Reason.SCALED_UP),
    ("wake-from-zero-by-pods-policy", ZERO, 0, 9, [], [], 4, Reason.LIMITED_BY_POLICY),
    (
        "wake-from-zero-percent-only",
        {**ZERO, "up": side(None, None, "Percent 100/15")},
        0,
        3,
        [],
        [],
        1,
        Reason.LIMITED_BY_POLICY,
    ),
    (
        "wake-disabled",
        {**ZERO, "up": side(None, "Disabled")},
        0,
        3,
        [],
        [],
        0,
        Reason.LIMITED_BY_POLICY,
    ),
    ("zero-stays", ZERO, 0, 0, [], [], 0, Reason.STABLE),
]


@pytest.mark.parametrize(
    ("fields", "current", "wanted", "history", "events", "desired", "reason"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_decide(
    fields: dict[str, Any],
    current: int,
    wanted: int,
    history: list[tuple[float, int]],
    events: list[tuple[float, int, int]],
    desired: int,
    reason: Reason,
) -> None:
    metric = external() if fields.get("minReplicas") == 0 else cpu()
    past = [(T0 - age, replicas) for age, replicas in history]
    changes = [(T0 - age, after, change) for age, after, change in events]
    result = decide(spec(metric, **fields), current, wants(wanted, current), past, changes, T0)
    assert (result.desired, result.reason) == (desired, reason), result.message


def test_missing_metrics_keep_the_count_and_record_nothing() -> None:
    result = decide(spec(), 4, MISSING, [(T0 - 10, 6)], [], T0)
    assert (result.desired, result.reason) == (4, Reason.METRICS_MISSING)
    assert result.history == ((T0 - 10, 6),)
    assert result.message == MISSING.message


def test_the_recommendation_is_remembered_after_the_first_seed() -> None:
    result = decide(spec(), 5, wants(2, 5), [], [], T0)
    assert result.history == ((T0, 5), (T0, 2))
    again = decide(spec(), 5, wants(2, 5), result.history, result.events, T0 + 15)
    assert again.history == ((T0, 5), (T0, 2), (T0 + 15, 2))


def test_a_change_is_an_event_and_no_change_is_none() -> None:
    up = decide(spec(), 3, wants(5, 3), [], [(T0 - 5, 3, 1)], T0)
    assert up.events == ((T0 - 5, 3, 1), (T0, 5, 2))
    still = decide(spec(), 3, wants(3, 3), [], [], T0)
    assert still.events == ()
    bounded = decide(spec(), 25, wants(25, 25), [], [], T0)
    assert bounded.events == ((T0, 20, -5),)


def test_history_is_pruned_to_the_longest_window_and_capped() -> None:
    old = [(T0 - 301, 9), (T0 - 300, 8)]
    recent = [(T0 - 299 + i * 0.1, 3) for i in range(HISTORY_MAX)]
    result = decide(spec(), 3, wants(3, 3), [*old, *recent], [], T0)
    assert len(result.history) == HISTORY_MAX
    assert result.history[-1] == (T0, 3)
    assert (T0 - 301, 9) not in result.history


def test_events_are_pruned_to_the_longest_period_and_capped() -> None:
    fields = {"up": side(None, None, "Pods 4/60"), "down": side(0, None, "Pods 1/120")}
    old = [(T0 - 121, 5, 1)]
    recent = [(T0 - 100 + i * 0.1, 5, 0) for i in range(HISTORY_MAX)]
    result = decide(spec(**fields), 5, wants(6, 5), [], [*old, *recent], T0)
    assert len(result.events) == HISTORY_MAX
    assert result.events[-1] == (T0, 6, 1)
    assert old[0] not in result.events


# (id, spec fields, current, wanted, history (age, replicas), the message)
MESSAGES: list[tuple[Any, ...]] = [
    ("scaled-up", {}, 3, 5, [], "cpu: 3 -> 5"),
    ("stable", {}, 3, 3, [], "cpu: staying at 3"),
    ("limited", {}, 8, 30, [], "cpu: wants 30, the scale-up policies allow 16 now: 8 -> 16"),
    (
        "limited-down",
        {"down": side(0, None, "Pods 1/60")},
        10,
        2,
        [],
        "cpu: wants 2, the scale-down policies allow 9 now: 10 -> 9",
    ),
    ("at-max", {}, 20, 30, [], "cpu: wants 30, maxReplicas is 20: staying at 20"),
    ("at-min", {"down": DOWN_NOW}, 3, 0, [], "cpu: wants 0, minReplicas is 1: 3 -> 1"),
    (
        "holding-down",
        {},
        8,
        4,
        [(100, 8)],
        "cpu: wants 4, the highest recommendation of the last 300 s is 8: staying at 8",
    ),
    (
        "holding-up",
        {"up": side(60)},
        3,
        10,
        [(30, 5)],
        "cpu: wants 10, the lowest recommendation of the last 60 s is 5: 3 -> 5",
    ),
    ("above-max", {}, 25, 25, [], "25 replicas is above maxReplicas 20: 25 -> 20"),
    (
        "disabled",
        {"up": side(None, "Disabled")},
        3,
        5,
        [],
        "cpu: wants 5, scale-up is disabled (selectPolicy Disabled): staying at 3",
    ),
]


@pytest.mark.parametrize(
    ("fields", "current", "wanted", "history", "message"),
    [c[1:] for c in MESSAGES],
    ids=[c[0] for c in MESSAGES],
)
def test_messages(
    fields: dict[str, Any],
    current: int,
    wanted: int,
    history: list[tuple[float, int]],
    message: str,
) -> None:
    past = [(T0 - age, replicas) for age, replicas in history]
    assert decide(spec(**fields), current, wants(wanted, current), past, [], T0).message == message


def test_the_story_walks_from_the_metrics_to_the_count() -> None:
    recommendation = recommend(spec(cpu(70)), 3, reading(92, 3), {})
    decision = decide(spec(cpu(70)), 3, recommendation, [], [], T0)
    assert decision.message == "cpu 92% of the requested cpu, target 70%: 3 -> 4"
    assert story(decision) == [
        "cpu: 92 against a target of 70 calls for 4",
        "recommended 4 (AboveTarget)",
        "stabilized to 4 (lowest recommendation of the last 0 s: 4; highest of the last 300 s: 4)",
        "the scale-up policies (Max) allow up to 7 now",
        "ScaledUp: cpu 92% of the requested cpu, target 70%: 3 -> 4",
    ]


def test_the_story_of_missing_metrics() -> None:
    recommendation = recommend(spec(cpu(70)), 3, {}, {})
    assert story(decide(spec(cpu(70)), 3, recommendation, [], [], T0)) == [
        "cpu: no value reported",
        "recommended 3 (MetricsMissing)",
        "MetricsMissing: no value for cpu: staying at 3",
    ]
