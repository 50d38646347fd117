"""``spec.autoscaling`` as the autoscaler reads it, and the words it speaks.

``scaling_spec`` turns the wire form (``app["spec"]["autoscaling"]``, already validated
by ``edgeplane.api.autoscaling``) into frozen values with Kubernetes' HPA defaults
filled in, so ``hpa`` and ``behavior`` never meet an unset field. The kinds, target
types, policies and reasons are ``str`` enums: they compare equal to their wire
spelling and go back on the wire as it.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from edgeplane.api.autoscaling import MetricType, PolicyType
from edgeplane.api.autoscaling import SelectPolicy as SelectPolicy
from edgeplane.api.autoscaling import TargetType as TargetType

# The wire's closed sets, as the API model has them (one spelling for both).
MetricKind = MetricType
PolicyKind = PolicyType


class Reason(enum.StrEnum):
    """Why the replica count is what it is (``status.autoscaling.reason``)."""

    ABOVE_TARGET = "AboveTarget"
    """A recommendation: the metrics call for more replicas."""
    BELOW_TARGET = "BelowTarget"
    """A recommendation: the metrics call for fewer replicas."""
    AT_TARGET = "AtTarget"
    """A recommendation: the metrics are within the tolerance of their targets."""
    METRICS_MISSING = "MetricsMissing"
    """No metric to act on (or a scale-down while one is missing): the count stays."""
    SCALED_UP = "ScaledUp"
    SCALED_DOWN = "ScaledDown"
    STABLE = "Stable"
    """The metrics want the current count."""
    STABILIZING = "Stabilizing"
    """The metrics want a change that the stabilization window holds back."""
    LIMITED_BY_POLICY = "LimitedByPolicy"
    """A scaling policy (or selectPolicy Disabled) allows less change than wanted."""
    AT_MAX_REPLICAS = "AtMaxReplicas"
    AT_MIN_REPLICAS = "AtMinReplicas"


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """One metric: ``target`` is a percentage (Utilization), a value per instance
    (AverageValue) or a value for the whole application (Value)."""

    kind: MetricKind
    name: str
    target_type: TargetType
    target: float


@dataclass(frozen=True, slots=True)
class Policy:
    """At most ``value`` replicas (Pods) or percent (Percent) per ``period_seconds``."""

    kind: PolicyKind
    value: int
    period_seconds: int


@dataclass(frozen=True, slots=True)
class Rules:
    """One direction's stabilization window and rate policies."""

    window_seconds: int
    select: SelectPolicy
    policies: tuple[Policy, ...]

    @property
    def longest_period(self) -> int:
        return max((p.period_seconds for p in self.policies), default=0)


@dataclass(frozen=True, slots=True)
class ScalingSpec:
    min_replicas: int
    max_replicas: int
    tolerance: float
    metrics: tuple[MetricSpec, ...]
    up: Rules
    down: Rules

    @property
    def longest_window(self) -> int:
        """How far back a recommendation still counts."""
        return max(self.up.window_seconds, self.down.window_seconds)

    @property
    def longest_period(self) -> int:
        """How far back a scale event still counts."""
        return max(self.up.longest_period, self.down.longest_period)


DEFAULT_MIN_REPLICAS = 1
DEFAULT_TOLERANCE = 0.1
DEFAULT_UP = Rules(
    0, SelectPolicy.MAX, (Policy(PolicyKind.PERCENT, 100, 15), Policy(PolicyKind.PODS, 4, 15))
)
"""HPA's: no window; double, or add 4, every 15 s, whichever is more."""
DEFAULT_DOWN = Rules(300, SelectPolicy.MAX, (Policy(PolicyKind.PERCENT, 100, 15),))
"""HPA's: the highest recommendation of the last 5 minutes; then any amount at once."""

_SOURCES = {
    MetricKind.RESOURCE: "resource",
    MetricKind.PODS: "pods",
    MetricKind.EXTERNAL: "external",
}
_TARGET_KEYS = {
    TargetType.UTILIZATION: "averageUtilization",
    TargetType.AVERAGE_VALUE: "averageValue",
    TargetType.VALUE: "value",
}


def scaling_spec(raw: Mapping[str, Any]) -> ScalingSpec:
    """``spec.autoscaling`` (validated wire form) with HPA's defaults applied."""
    behavior = raw.get("behavior") or {}
    return ScalingSpec(
        min_replicas=int(_or(raw.get("minReplicas"), DEFAULT_MIN_REPLICAS)),
        max_replicas=int(raw["maxReplicas"]),
        tolerance=float(_or(raw.get("tolerance"), DEFAULT_TOLERANCE)),
        metrics=tuple(_metric(m) for m in raw.get("metrics") or ()),
        up=_rules(behavior.get("scaleUp"), DEFAULT_UP),
        down=_rules(behavior.get("scaleDown"), DEFAULT_DOWN),
    )


def _or(value: Any, default: Any) -> Any:
    # Not ``value or default``: minReplicas 0 and a window of 0 s are values.
    return default if value is None else value


def _metric(raw: Mapping[str, Any]) -> MetricSpec:
    kind = MetricKind(raw["type"])
    source = raw[_SOURCES[kind]]
    name = source["name"] if kind is MetricKind.RESOURCE else source["metric"]["name"]
    target_type = TargetType(source["target"]["type"])
    target = float(source["target"][_TARGET_KEYS[target_type]])
    return MetricSpec(kind, str(name), target_type, target)


def _rules(raw: Mapping[str, Any] | None, default: Rules) -> Rules:
    # As HPA defaults each field of a side on its own: a side that sets only its
    # window keeps the default policies.
    if raw is None:
        return default
    policies = raw.get("policies")
    return Rules(
        window_seconds=int(_or(raw.get("stabilizationWindowSeconds"), default.window_seconds)),
        select=SelectPolicy(_or(raw.get("selectPolicy"), default.select)),
        policies=tuple(_policy(p) for p in policies) if policies else default.policies,
    )


def _policy(raw: Mapping[str, Any]) -> Policy:
    return Policy(PolicyKind(raw["type"]), int(raw["value"]), int(raw["periodSeconds"]))
