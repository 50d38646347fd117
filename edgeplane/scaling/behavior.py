"""From a recommendation to the replica count: Kubernetes' HPA behaviour
(``pkg/controller/podautoscaler/horizontal.go``).

1. A count outside ``[minReplicas, maxReplicas]`` goes to the nearest bound at once.
2. Without metrics to act on, the count stays and nothing is recorded.
3. Stabilization (``stabilizeRecommendationWithBehaviors``): a scale-up goes no higher
   than the lowest recommendation of the scale-up window, a scale-down no lower than
   the highest of the scale-down window. The first decision counts the current
   count as a recommendation made now, as HPA does, so a fresh autoscaler waits out
   the scale-down window before removing anything.
4. Rate (``calculateScaleUpLimitWithScalingRules``, ``...ScaleDownLimitWithBehaviors``):
   each policy allows a change from the count at the start of its period (the current
   count with the changes made within the period undone); ``selectPolicy`` takes the
   policy allowing the most (Max) or the least (Min) change, or none (Disabled).
   Then ``maxReplicas`` and ``minReplicas``.

The caller keeps ``Decision.history`` and ``Decision.events`` (``status.autoscaling``)
and passes them back next time; ``events`` holds this decision's change, to be kept
once the change is made. Every time is passed in (``now``, seconds since the epoch).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from edgeplane.scaling.hpa import Recommendation, number
from edgeplane.scaling.view import PolicyKind, Reason, Rules, ScalingSpec, SelectPolicy

HISTORY_MAX = 512
"""Recommendations and scale events kept (``status.autoscaling`` holds no more)."""

History = tuple[tuple[float, int], ...]
"""Recommendations: (time, replicas), oldest first."""
Events = tuple[tuple[float, int, int], ...]
"""Scale events: (time, replicas after, signed change), oldest first."""


@dataclass(frozen=True, slots=True)
class Decision:
    """The replica count to run, why, and what to remember for the next decision.
    ``steps`` records how the count was reached, for ``story``."""

    desired: int
    reason: Reason
    message: str
    history: History
    events: Events
    steps: tuple[str, ...] = ()


def decide(
    spec: ScalingSpec,
    current: int,
    recommendation: Recommendation,
    history: Sequence[tuple[float, int]],
    events: Sequence[tuple[float, int, int]],
    now: float,
) -> Decision:
    """The replica count for ``current`` replicas given the metrics' ``recommendation``,
    the past recommendations (``history``) and changes (``events``)."""
    if not spec.min_replicas <= current <= spec.max_replicas:
        # As HPA: the bounds win before any metric is read, and nothing is recommended.
        outcome = _into_range(spec, current, _metric_steps(recommendation))
        remembered = tuple(history)
    elif recommendation.reason is Reason.METRICS_MISSING:
        steps = _metric_steps(recommendation)
        outcome = _Outcome(current, Reason.METRICS_MISSING, recommendation.message, steps)
        remembered = tuple(history)
    else:
        seeded = tuple(history) or ((now, current),)
        outcome = _follow(spec, current, recommendation, seeded, events, now)
        remembered = (*seeded, (now, recommendation.replicas))
    return _finish(spec, current, outcome, remembered, events, now)


@dataclass(frozen=True, slots=True)
class _Outcome:
    desired: int
    reason: Reason
    message: str
    steps: tuple[str, ...]


def _into_range(spec: ScalingSpec, current: int, seen: tuple[str, ...]) -> _Outcome:
    over = current > spec.max_replicas
    bound = spec.max_replicas if over else spec.min_replicas
    name = "maxReplicas" if over else "minReplicas"
    reason = Reason.AT_MAX_REPLICAS if over else Reason.AT_MIN_REPLICAS
    where = "above" if over else "below"
    message = f"{current} replicas is {where} {name} {bound}: {current} -> {bound}"
    return _Outcome(bound, reason, message, (*seen, f"{name} {bound} applies before the metrics"))


def _follow(
    spec: ScalingSpec,
    current: int,
    recommendation: Recommendation,
    history: History,
    events: Sequence[tuple[float, int, int]],
    now: float,
) -> _Outcome:
    """The recommendation through the windows, then the policies and the bounds."""
    wanted = recommendation.replicas
    stabilized, window_step = _stabilize(spec, current, wanted, history, now)
    desired, limited, limit_step = _limit(spec, current, stabilized, events, now)
    reason = limited or _settled(current, desired, wanted)
    message = _message(spec, current, desired, reason, recommendation, stabilized)
    steps = (*_metric_steps(recommendation), window_step, limit_step)
    return _Outcome(desired, reason, message, tuple(step for step in steps if step))


def _finish(
    spec: ScalingSpec,
    current: int,
    outcome: _Outcome,
    history: Sequence[tuple[float, int]],
    events: Sequence[tuple[float, int, int]],
    now: float,
) -> Decision:
    change = outcome.desired - current
    happened = ((now, outcome.desired, change),) if change else ()
    return Decision(
        outcome.desired,
        outcome.reason,
        outcome.message,
        _prune_history(spec, history, now),
        _prune_events(spec, (*events, *happened), now),
        outcome.steps,
    )


# --- stabilization -------------------------------------------------------------------


def _stabilize(
    spec: ScalingSpec, current: int, wanted: int, history: History, now: float
) -> tuple[int, str]:
    """HPA's stabilizeRecommendationWithBehaviors: ``wanted`` held between the lowest
    recent recommendation (the scale-up window) and the highest (the scale-down one)."""
    up_cutoff, down_cutoff = now - spec.up.window_seconds, now - spec.down.window_seconds
    lowest = min((r for t, r in history if t > up_cutoff), default=wanted)
    highest = max((r for t, r in history if t > down_cutoff), default=wanted)
    lowest, highest = min(lowest, wanted), max(highest, wanted)
    stabilized = min(max(current, lowest), highest)
    step = (
        f"stabilized to {stabilized} (lowest recommendation of the last "
        f"{spec.up.window_seconds} s: {lowest}; highest of the last "
        f"{spec.down.window_seconds} s: {highest})"
    )
    return stabilized, step


def _prune_history(spec: ScalingSpec, history: Sequence[tuple[float, int]], now: float) -> History:
    # A recommendation at or before the longest window's start never counts again.
    cutoff = now - spec.longest_window
    return tuple((t, r) for t, r in history if t >= cutoff)[-HISTORY_MAX:]


def _prune_events(
    spec: ScalingSpec, events: Sequence[tuple[float, int, int]], now: float
) -> Events:
    cutoff = now - spec.longest_period
    return tuple((t, r, c) for t, r, c in events if t >= cutoff)[-HISTORY_MAX:]


# --- rate policies and bounds --------------------------------------------------------


def _limit(
    spec: ScalingSpec,
    current: int,
    wanted: int,
    events: Sequence[tuple[float, int, int]],
    now: float,
) -> tuple[int, Reason | None, str]:
    """HPA's convertDesiredReplicasWithBehaviorRate: ``wanted`` within the rate the
    policies allow now, then within the bounds; the reason when either cut it."""
    if wanted > current:
        allowed = max(scale_up_limit(spec.up, current, events, now), current)
        if current == 0 and spec.up.select is not SelectPolicy.DISABLED:
            # A Percent policy from zero allows zero: waking needs at least one.
            allowed = max(allowed, 1)
        step = f"the scale-up policies ({spec.up.select}) allow up to {allowed} now"
        if spec.max_replicas > allowed:
            return _cut(min(wanted, allowed), wanted, Reason.LIMITED_BY_POLICY, step)
        return _cut(min(wanted, spec.max_replicas), wanted, Reason.AT_MAX_REPLICAS, step)
    if wanted < current:
        allowed = min(scale_down_limit(spec.down, current, events, now), current)
        step = f"the scale-down policies ({spec.down.select}) allow down to {allowed} now"
        if spec.min_replicas < allowed:
            return _cut(max(wanted, allowed), wanted, Reason.LIMITED_BY_POLICY, step)
        return _cut(max(wanted, spec.min_replicas), wanted, Reason.AT_MIN_REPLICAS, step)
    return wanted, None, ""


def _cut(desired: int, wanted: int, reason: Reason, step: str) -> tuple[int, Reason | None, str]:
    return desired, (reason if desired != wanted else None), step


def scale_up_limit(
    rules: Rules, current: int, events: Sequence[tuple[float, int, int]], now: float
) -> int:
    """The most replicas the scale-up policies allow now (HPA's
    calculateScaleUpLimitWithScalingRules)."""
    if rules.select is SelectPolicy.DISABLED or not rules.policies:
        return current
    proposals = []
    for policy in rules.policies:
        start = _period_start(current, events, policy.period_seconds, now)
        if policy.kind is PolicyKind.PODS:
            proposals.append(start + policy.value)
        else:
            # ceil(start * (100 + value) / 100) in integers: float rounding must not
            # decide whether one more replica is allowed.
            proposals.append(-(-start * (100 + policy.value) // 100))
    return max(proposals) if rules.select is SelectPolicy.MAX else min(proposals)


def scale_down_limit(
    rules: Rules, current: int, events: Sequence[tuple[float, int, int]], now: float
) -> int:
    """The fewest replicas the scale-down policies allow now (HPA's
    calculateScaleDownLimitWithBehaviors)."""
    if rules.select is SelectPolicy.DISABLED or not rules.policies:
        return current
    proposals = []
    for policy in rules.policies:
        start = _period_start(current, events, policy.period_seconds, now)
        if policy.kind is PolicyKind.PODS:
            proposals.append(start - policy.value)
        else:
            proposals.append(_truncate(start * (100 - policy.value), 100))
    # The most change when scaling down is the lowest count.
    return min(proposals) if rules.select is SelectPolicy.MAX else max(proposals)


def _truncate(numerator: int, denominator: int) -> int:
    # Go's int32(float) truncates towards zero; a Percent over 100 goes below zero.
    quotient = abs(numerator) // denominator
    return quotient if numerator >= 0 else -quotient


def _period_start(
    current: int, events: Sequence[tuple[float, int, int]], period: int, now: float
) -> int:
    """The replica count when the period began: the changes made since undone."""
    cutoff = now - period
    return current - sum(change for time, _, change in events if time > cutoff)


# --- words ---------------------------------------------------------------------------


def _settled(current: int, desired: int, wanted: int) -> Reason:
    if desired > current:
        return Reason.SCALED_UP
    if desired < current:
        return Reason.SCALED_DOWN
    return Reason.STABILIZING if wanted != current else Reason.STABLE


def _message(
    spec: ScalingSpec,
    current: int,
    desired: int,
    reason: Reason,
    recommendation: Recommendation,
    stabilized: int,
) -> str:
    outcome = f"{current} -> {desired}" if desired != current else f"staying at {current}"
    wanted = recommendation.replicas
    why = {
        Reason.LIMITED_BY_POLICY: _policy_note(spec, current, desired, wanted),
        Reason.AT_MAX_REPLICAS: f"maxReplicas is {spec.max_replicas}",
        Reason.AT_MIN_REPLICAS: f"minReplicas is {spec.min_replicas}",
    }.get(reason) or _window_note(spec, current, wanted, stabilized)
    summary = recommendation.summary or recommendation.message
    if why:
        return f"{summary}: wants {wanted}, {why}: {outcome}"
    return f"{summary}: {outcome}"


def _window_note(spec: ScalingSpec, current: int, wanted: int, stabilized: int) -> str:
    if stabilized == wanted:
        return ""
    if wanted > current:
        return f"the lowest recommendation of the last {spec.up.window_seconds} s is {stabilized}"
    return f"the highest recommendation of the last {spec.down.window_seconds} s is {stabilized}"


def _policy_note(spec: ScalingSpec, current: int, desired: int, wanted: int) -> str:
    side, rules = ("scale-up", spec.up) if wanted > current else ("scale-down", spec.down)
    if rules.select is SelectPolicy.DISABLED:
        return f"{side} is disabled (selectPolicy Disabled)"
    return f"the {side} policies allow {desired} now"


def _metric_steps(recommendation: Recommendation) -> tuple[str, ...]:
    lines = [
        f"{m.name}: no value reported"
        if m.replicas is None
        else f"{m.name}: {number(m.value or 0.0)} against a target of {number(m.target)} "
        f"calls for {m.replicas}"
        for m in recommendation.per_metric
    ]
    return (*lines, f"recommended {recommendation.replicas} ({recommendation.reason})")


def story(decision: Decision) -> list[str]:
    """How the decision was reached, step by step, then the outcome (for ``explain``)."""
    return [*decision.steps, f"{decision.reason}: {decision.message}"]
