"""How many replicas the metrics call for: Kubernetes' HPA replica calculation
(``pkg/controller/podautoscaler/replica_calculator.go``), one metric at a time, the
largest proposal winning.

* cpu Utilization and Pods AverageValue: ``ratio = average / target``; within the
  tolerance the count stays, else ``ceil(ratio * samples)``. When fewer instances
  reported than run, the silent ones count as idle on a scale-up and as at the target
  on a scale-down, and a change that this turns around is not made (HPA's missing pods).
* External Value: ``ceil(value / target * current)``, from zero ``ceil(value / target)``.
* External AverageValue: ``ceil(value / target)`` (the target is per replica).

No windows or rate policies here: ``behavior`` applies them to the result.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

from edgeplane.scaling.readings import Reading
from edgeplane.scaling.view import MetricKind, MetricSpec, Reason, ScalingSpec, TargetType

REPLICAS_CAP = 2**31 - 1
"""A proposal past int32 is noise (a runaway metric); ``maxReplicas`` clamps it anyway."""


class MetricRecommendation(NamedTuple):
    """One metric's proposal; ``value`` and ``replicas`` are None when it had no value."""

    name: str
    value: float | None
    target: float
    replicas: int | None


@dataclass(frozen=True, slots=True)
class Recommendation:
    """What the metrics call for, before windows and policies. ``per_metric`` follows
    the order of ``spec.metrics``; ``summary`` describes the metric that decided (the
    message without its ``3 -> 4``)."""

    replicas: int
    per_metric: tuple[MetricRecommendation, ...]
    reason: Reason
    message: str
    summary: str = ""

    @property
    def missing(self) -> tuple[str, ...]:
        """The metrics that had no value."""
        return tuple(m.name for m in self.per_metric if m.replicas is None)


def recommend(
    spec: ScalingSpec,
    current: int,
    readings: Mapping[str, Reading],
    external: Mapping[str, float],
) -> Recommendation:
    """The replica count ``spec``'s metrics call for at ``current`` replicas, from the
    combined instance ``readings`` and the ``external`` metric values."""
    proposals = tuple(
        _propose(m, spec.tolerance, current, readings, external) for m in spec.metrics
    )
    found = [(p, m) for p, m in zip(proposals, spec.metrics, strict=True) if p.replicas is not None]
    if not found:
        return _missing_all(current, proposals)
    # The first of equal proposals decides, so the message names the first listed.
    best, metric = max(found, key=lambda pm: pm[0].replicas or 0)
    replicas = best.replicas or 0
    summary = describe(metric, best.value or 0.0)
    missing = tuple(p.name for p in proposals if p.replicas is None)
    if missing and replicas < current:
        # HPA does not scale down on part of the metrics: the silent one may want more.
        note = f"{_names(missing)} not reported: not scaling down on the others alone"
        message = f"{summary}; {note}: staying at {current}"
        return Recommendation(current, proposals, Reason.METRICS_MISSING, message, summary)
    message = f"{summary}: {_arrow(current, replicas)}"
    if missing:
        message += f" ({_names(missing)} not reported)"
    return Recommendation(replicas, proposals, _direction(current, replicas), message, summary)


def _missing_all(current: int, proposals: tuple[MetricRecommendation, ...]) -> Recommendation:
    names = _names([p.name for p in proposals])
    message = f"no value for {names or 'any metric'}: staying at {current}"
    return Recommendation(current, proposals, Reason.METRICS_MISSING, message)


def _direction(current: int, replicas: int) -> Reason:
    if replicas > current:
        return Reason.ABOVE_TARGET
    return Reason.BELOW_TARGET if replicas < current else Reason.AT_TARGET


def _propose(
    metric: MetricSpec,
    tolerance: float,
    current: int,
    readings: Mapping[str, Reading],
    external: Mapping[str, float],
) -> MetricRecommendation:
    if metric.kind is MetricKind.EXTERNAL:
        value = external.get(metric.name)
        if value is None or not math.isfinite(value):
            return MetricRecommendation(metric.name, None, metric.target, None)
        return MetricRecommendation(
            metric.name, value, metric.target, _external(metric, value, current, tolerance)
        )
    reading = readings.get(metric.name)
    if reading is None or reading.samples <= 0 or not math.isfinite(reading.value):
        return MetricRecommendation(metric.name, None, metric.target, None)
    ratio = reading.value / metric.target
    replicas = _averaged(ratio, reading.samples, current, tolerance)
    return MetricRecommendation(metric.name, reading.value, metric.target, replicas)


def _averaged(ratio: float, samples: int, current: int, tolerance: float) -> int:
    """HPA's calcPlainMetricReplicas, ``samples`` standing for the ready pods."""
    if samples >= current:
        if _within(ratio, tolerance):
            return current
        return _ceil(ratio * samples)
    return _with_silent(ratio, samples, current - samples, current, tolerance)


def _with_silent(ratio: float, samples: int, silent: int, current: int, tolerance: float) -> int:
    # Neither direction is overstated by instances that said nothing: a scale-up
    # assumes they idle, a scale-down that they run at the target. HPA takes a ratio of
    # exactly 1 as a scale-up, which would shrink a fleet at its target; here it is not.
    assumed = 0.0 if ratio > 1.0 else 1.0
    total = samples + silent
    adjusted = (ratio * samples + assumed * silent) / total
    turned = (ratio < 1.0 < adjusted) or (adjusted < 1.0 < ratio)
    if _within(adjusted, tolerance) or turned:
        return current
    replicas = _ceil(adjusted * total)
    if (adjusted < 1.0 and replicas > current) or (adjusted > 1.0 and replicas < current):
        return current
    return replicas


def _external(metric: MetricSpec, value: float, current: int, tolerance: float) -> int:
    """HPA's GetExternalMetricReplicas and GetExternalPerPodMetricReplicas."""
    if metric.target_type is TargetType.AVERAGE_VALUE:
        if current > 0 and _within(value / (metric.target * current), tolerance):
            return current
        return _ceil(value / metric.target)
    ratio = value / metric.target
    if current == 0:
        # From zero there is nothing to multiply: any demand wakes ceil(ratio) replicas.
        return _ceil(ratio)
    if _within(ratio, tolerance):
        return current
    return _ceil(ratio * current)


def _within(ratio: float, tolerance: float) -> bool:
    # 77 / 70 is 1.1000000000000001: a metric exactly at the tolerance's edge is within.
    return abs(1.0 - ratio) <= tolerance + 1e-9


def _ceil(value: float) -> int:
    # A product like 0.7 / 0.7 * 3 lands a hair above 3 in floating point; rounding
    # that noise off first keeps an exact fit from costing one more replica.
    bounded = min(max(value, 0.0), float(REPLICAS_CAP))
    return math.ceil(round(bounded, 9))


def describe(metric: MetricSpec, value: float) -> str:
    """A metric's value against its target, in words (``cpu 92% of the requested cpu,
    target 70%``)."""
    name, v, t = metric.name, number(value), number(metric.target)
    if metric.target_type is TargetType.UTILIZATION:
        return f"{name} {v}% of the requested {name}, target {t}%"
    if metric.kind is MetricKind.PODS:
        return f"{name} {v} per instance, target {t}"
    if metric.target_type is TargetType.AVERAGE_VALUE:
        return f"{name} {v}, target {t} per replica"
    return f"{name} {v}, target {t}"


def number(value: float) -> str:
    """A number for people: at most two decimals, no trailing zeros."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _arrow(current: int, replicas: int) -> str:
    return f"{current} -> {replicas}" if replicas != current else f"staying at {current}"


def _names(names: tuple[str, ...] | list[str]) -> str:
    return ", ".join(names)
