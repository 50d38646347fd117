"""An Application's ``spec.autoscaling`` (how many replicas its metrics call for, shaped
like Kubernetes' HorizontalPodAutoscaler v2) and ``status.autoscaling`` (what the
autoscaler last saw and decided, with the history its stabilisation windows and rate
policies need), as they are on the wire.

Only the shape is checked here. The replica arithmetic (HPA's calculation, the windows,
the policies) and the defaults it applies are ``edgeplane.scaling``'s, which reads the
wire form; ``applications`` holds these models in the Application's spec and status.
Unset fields stay unset, so an object goes back on the wire as it was written.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from typing import Annotated

from pydantic import (
    AfterValidator,
    Field,
    Strict,
    ValidationInfo,
    field_validator,
    model_validator,
)

from edgeplane.api.meta import Count, Int32, Message, Model, Number, PositiveCount, ShortText

REPLICAS_MAX = 100_000
METRICS_MAX = 10
POLICIES_MAX = 10
UTILIZATION_MAX = 1000
"""Percent of the requested cpu: a workload may use ten times what it requested."""
PERIOD_MAX_SECONDS = 1800
WINDOW_MAX_SECONDS = 3600
HISTORY_MAX = 512
"""Recommendations and scale events kept in the status: an hour of 15 s ticks is 240."""
METRIC_NAME_MAX_CHARS = 63

_METRIC_NAME = re.compile(r"[a-z0-9]([a-z0-9_.-]{0,61}[a-z0-9])?")


def _metric_name(name: str) -> str:
    if not _METRIC_NAME.fullmatch(name):
        raise ValueError(
            f"metric name {name[:80]!r} is not a metric name: use lowercase letters, digits, "
            f"'_', '.' and '-', starting and ending with a letter or digit, at most "
            f"{METRIC_NAME_MAX_CHARS} characters (e.g. 'requests_per_second')"
        )
    return name


def _resource_name(name: str) -> str:
    if name == "memory":
        raise ValueError(
            "resource memory is not supported (agents report cpu only): use name 'cpu', or "
            "a Pods metric that the workload reports"
        )
    if name != "cpu":
        raise ValueError(
            f"resource {name[:80]!r} is not supported: use name 'cpu' (the one resource "
            "metric), or a Pods metric that the workload reports"
        )
    return name


MetricName = Annotated[str, AfterValidator(_metric_name)]
"""A metric's name: ``[a-z0-9]([a-z0-9_.-]{0,61}[a-z0-9])?``."""
ResourceName = Annotated[str, AfterValidator(_resource_name)]
Replicas = Annotated[int, Strict(), Field(ge=0, le=REPLICAS_MAX)]
MaxReplicas = Annotated[int, Strict(), Field(ge=1, le=REPLICAS_MAX)]
Utilization = Annotated[int, Strict(), Field(ge=1, le=UTILIZATION_MAX)]
PositiveNumber = Annotated[Number, Field(gt=0)]
PeriodSeconds = Annotated[int, Strict(), Field(ge=1, le=PERIOD_MAX_SECONDS)]
WindowSeconds = Annotated[int, Strict(), Field(ge=0, le=WINDOW_MAX_SECONDS)]
UnixTime = Annotated[Number, Field(ge=0)]
"""Seconds since the epoch, by the hub's clock."""


class MetricType(enum.StrEnum):
    RESOURCE = "Resource"
    """cpu use as a percentage of the requested cpu, averaged over the instances."""
    PODS = "Pods"
    """A metric each instance reports to its site's agent, averaged over the instances."""
    EXTERNAL = "External"
    """A metric about the whole application, reported to the hub's API."""


class TargetType(enum.StrEnum):
    UTILIZATION = "Utilization"
    AVERAGE_VALUE = "AverageValue"
    VALUE = "Value"


_TARGET_FIELDS = {
    TargetType.UTILIZATION: "averageUtilization",
    TargetType.AVERAGE_VALUE: "averageValue",
    TargetType.VALUE: "value",
}


def _exactly(wanted: str, given: Sequence[str], what: str) -> None:
    """Refuse unless ``given`` (the wire names set) is ``wanted`` alone."""
    if wanted not in given:
        others = f" (and remove {' and '.join(given)})" if given else ""
        raise ValueError(f"{what} needs {wanted}: set {wanted}{others}")
    if extra := [g for g in given if g != wanted]:
        raise ValueError(f"{what} takes {wanted} only: remove {' and '.join(extra)}")


class MetricTarget(Model):
    """The value the autoscaler keeps a metric at: ``averageUtilization`` for type
    Utilization, ``averageValue`` for AverageValue, ``value`` for Value."""

    type: TargetType
    average_utilization: Utilization | None = Field(default=None, alias="averageUtilization")
    average_value: PositiveNumber | None = Field(default=None, alias="averageValue")
    value: PositiveNumber | None = None

    @model_validator(mode="after")
    def _one_value(self) -> MetricTarget:
        values = (self.average_utilization, self.average_value, self.value)
        names = _TARGET_FIELDS.values()
        given = [name for name, v in zip(names, values, strict=True) if v is not None]
        _exactly(_TARGET_FIELDS[self.type], given, f"target type {self.type}")
        return self


def _target_of(target: MetricTarget, allowed: Sequence[TargetType], source: str) -> MetricTarget:
    if target.type not in allowed:
        types = " or ".join(allowed)
        fixes = ", or ".join(f"type {t} with {_TARGET_FIELDS[t]}" for t in allowed)
        raise ValueError(
            f"{source} metrics take target type {types}, not {target.type}: set {fixes}"
        )
    return target


class ResourceMetric(Model):
    """cpu, as a percentage of what the instances requested (``spec.resources.cpu``)."""

    name: ResourceName
    target: MetricTarget

    @field_validator("target")
    @classmethod
    def _utilization(cls, target: MetricTarget) -> MetricTarget:
        return _target_of(target, [TargetType.UTILIZATION], "Resource")


class MetricIdentifier(Model):
    name: MetricName


class PodsMetric(Model):
    """A metric every instance reports to its agent; the target is the average."""

    metric: MetricIdentifier
    target: MetricTarget

    @field_validator("target")
    @classmethod
    def _average(cls, target: MetricTarget) -> MetricTarget:
        return _target_of(target, [TargetType.AVERAGE_VALUE], "Pods")


class ExternalMetric(Model):
    """A metric of the whole application (a queue's depth), reported to the hub's API:
    ``Value`` targets the metric itself, ``AverageValue`` the metric per replica."""

    metric: MetricIdentifier
    target: MetricTarget

    @field_validator("target")
    @classmethod
    def _value(cls, target: MetricTarget) -> MetricTarget:
        return _target_of(target, [TargetType.VALUE, TargetType.AVERAGE_VALUE], "External")


_SOURCES = {
    MetricType.RESOURCE: "resource",
    MetricType.PODS: "pods",
    MetricType.EXTERNAL: "external",
}


class Metric(Model):
    """One metric to scale on: the field named after ``type`` says which and its target."""

    type: MetricType
    resource: ResourceMetric | None = None
    pods: PodsMetric | None = None
    external: ExternalMetric | None = None

    @model_validator(mode="after")
    def _one_source(self) -> Metric:
        given = [name for name in _SOURCES.values() if getattr(self, name) is not None]
        _exactly(_SOURCES[self.type], given, f"type {self.type}")
        return self

    @property
    def name(self) -> str:
        """The metric's name (a resource metric's is the resource's)."""
        if self.resource is not None:
            return self.resource.name
        if self.pods is not None:
            return self.pods.metric.name
        return self.external.metric.name if self.external is not None else ""


class SelectPolicy(enum.StrEnum):
    MAX = "Max"
    """The policy that allows the largest change."""
    MIN = "Min"
    """The policy that allows the smallest change."""
    DISABLED = "Disabled"
    """No change in this direction at all."""


class PolicyType(enum.StrEnum):
    PODS = "Pods"
    PERCENT = "Percent"


class ScalingPolicy(Model):
    """At most ``value`` replicas (Pods) or ``value`` percent of them (Percent) added or
    removed within any ``periodSeconds``."""

    type: PolicyType
    value: PositiveCount
    period_seconds: PeriodSeconds = Field(alias="periodSeconds")


class ScalingRules(Model):
    """How fast one direction may go. Unset, as HPA: scale-up has no window and may
    double or add 4 replicas every 15 s (the larger); scale-down waits for the highest
    recommendation of the last 300 s and may remove them all every 15 s."""

    stabilization_window_seconds: WindowSeconds | None = Field(
        default=None, alias="stabilizationWindowSeconds"
    )
    select_policy: SelectPolicy | None = Field(default=None, alias="selectPolicy")
    policies: list[ScalingPolicy] | None = Field(default=None, max_length=POLICIES_MAX)

    @field_validator("policies")
    @classmethod
    def _some(cls, policies: list[ScalingPolicy] | None) -> list[ScalingPolicy] | None:
        if policies == []:
            raise ValueError(
                "an empty list would let nothing change: list at least one policy, remove "
                "policies for the defaults, or set selectPolicy: Disabled"
            )
        return policies


class Behavior(Model):
    scale_up: ScalingRules | None = Field(default=None, alias="scaleUp")
    scale_down: ScalingRules | None = Field(default=None, alias="scaleDown")


class Autoscaling(Model):
    """Replicas between ``minReplicas`` (1 when unset) and ``maxReplicas``, as many as
    the metrics call for, changes within ``tolerance`` (0.1 when unset) ignored.
    ``placement.replicas`` is the count it starts from."""

    min_replicas: Replicas | None = Field(default=None, alias="minReplicas")
    max_replicas: MaxReplicas = Field(alias="maxReplicas")
    tolerance: Number | None = Field(default=None, gt=0, lt=1)
    metrics: list[Metric] = Field(min_length=1, max_length=METRICS_MAX)
    behavior: Behavior | None = None

    @field_validator("max_replicas")
    @classmethod
    def _above_min(cls, value: int, info: ValidationInfo) -> int:
        # A minReplicas that failed its own check is not in info.data: nothing to compare.
        lowest = info.data.get("min_replicas")
        if lowest is not None and value < lowest:
            raise ValueError(
                f"maxReplicas {value} is less than minReplicas {lowest}: raise maxReplicas "
                "or lower minReplicas"
            )
        return value

    @field_validator("metrics")
    @classmethod
    def _names_once(cls, metrics: list[Metric]) -> list[Metric]:
        seen: set[str] = set()
        for metric in metrics:
            if metric.name in seen:
                raise ValueError(f"metric {metric.name!r} appears twice: list each metric once")
            seen.add(metric.name)
        return metrics

    @model_validator(mode="after")
    def _zero_wakes(self) -> Autoscaling:
        external = any(m.type is MetricType.EXTERNAL for m in self.metrics)
        if self.min_replicas == 0 and not external:
            raise ValueError(
                "minReplicas 0 scales to zero, where no instance runs to report cpu or a "
                "Pods metric, so only an External metric can wake it: add an External "
                "metric, or set minReplicas to 1 or more"
            )
        return self


class MetricStatus(Model):
    """A metric as the autoscaler last saw it (no ``value`` when none was reported)."""

    name: ShortText
    type: MetricType | None = None
    value: Number | None = None
    target: Number | None = None
    sites: Count | None = None
    """How many sites reported it (External metrics: none, the hub's API has it)."""
    replicas: Count | None = None
    """The replicas this metric alone called for."""


class RecommendationRecord(Model):
    """What the metrics called for at ``time``, before windows and policies."""

    time: UnixTime
    replicas: Count


class ScaleEvent(Model):
    """A change of the replica count: ``replicas`` after it, ``change`` signed."""

    time: UnixTime
    replicas: Count
    change: Int32


class ExternalMetricValue(Model):
    """The latest value of an External metric, as reported to the hub's API."""

    name: MetricName
    value: Number
    time: UnixTime


class AutoscalingStatus(Model):
    """``status.autoscaling``: what the autoscaler saw and decided (``lastScaleTime`` is
    RFC 3339 UTC; the lists' times are seconds since the epoch, newest last)."""

    desired_replicas: Count | None = Field(default=None, alias="desiredReplicas")
    current_replicas: Count | None = Field(default=None, alias="currentReplicas")
    last_scale_time: ShortText | None = Field(default=None, alias="lastScaleTime")
    reason: ShortText | None = None
    message: Message | None = None
    current_metrics: list[MetricStatus] | None = Field(
        default=None, max_length=METRICS_MAX, alias="currentMetrics"
    )
    recommendations: list[RecommendationRecord] | None = Field(default=None, max_length=HISTORY_MAX)
    scale_events: list[ScaleEvent] | None = Field(
        default=None, max_length=HISTORY_MAX, alias="scaleEvents"
    )
    external_metrics: list[ExternalMetricValue] | None = Field(
        default=None, max_length=METRICS_MAX, alias="externalMetrics"
    )
