"""An Application's ``spec.autoscaling`` and ``status.autoscaling``: what is accepted and
kept as written, and what is refused with the field named and the fix said."""

from __future__ import annotations

from typing import Any

import pytest

from edgeplane.api.autoscaling import HISTORY_MAX, METRICS_MAX, Metric
from edgeplane.api.validation import InvalidObject, to_wire, validate_object
from tests.support.builders import changed, good

CPU: dict[str, Any] = {
    "type": "Resource",
    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}},
}
RPS: dict[str, Any] = {
    "type": "Pods",
    "pods": {
        "metric": {"name": "requests_per_second"},
        "target": {"type": "AverageValue", "averageValue": 100},
    },
}
QUEUE: dict[str, Any] = {
    "type": "External",
    "external": {"metric": {"name": "queue_depth"}, "target": {"type": "Value", "value": 500}},
}
QUEUE_PER_REPLICA: dict[str, Any] = {
    "type": "External",
    "external": {
        "metric": {"name": "backlog.items-1"},
        "target": {"type": "AverageValue", "averageValue": 30.5},
    },
}
FULL: dict[str, Any] = {
    "minReplicas": 1,
    "maxReplicas": 20,
    "tolerance": 0.1,
    "metrics": [CPU, RPS, QUEUE],
    "behavior": {
        "scaleUp": {
            "stabilizationWindowSeconds": 0,
            "selectPolicy": "Max",
            "policies": [
                {"type": "Percent", "value": 100, "periodSeconds": 15},
                {"type": "Pods", "value": 4, "periodSeconds": 15},
            ],
        },
        "scaleDown": {
            "stabilizationWindowSeconds": 300,
            "selectPolicy": "Max",
            "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}],
        },
    },
}


def app_with(autoscaling: Any) -> dict[str, Any]:
    return changed(good("Application"), "spec.autoscaling", autoscaling)


@pytest.mark.parametrize(
    "autoscaling",
    [
        FULL,
        {"maxReplicas": 5, "metrics": [CPU]},
        {"minReplicas": 0, "maxReplicas": 100000, "metrics": [QUEUE]},
        {"minReplicas": 0, "maxReplicas": 3, "metrics": [CPU, QUEUE_PER_REPLICA]},
        {"minReplicas": 4, "maxReplicas": 4, "tolerance": 0.5, "metrics": [RPS]},
        {"maxReplicas": 2, "metrics": [CPU], "behavior": {}},
        {"maxReplicas": 2, "metrics": [CPU], "behavior": {"scaleDown": {"selectPolicy": "Min"}}},
        {
            "maxReplicas": 2,
            "metrics": [CPU],
            "behavior": {
                "scaleUp": {"selectPolicy": "Disabled", "stabilizationWindowSeconds": 3600}
            },
        },
    ],
    ids=[
        "full",
        "least",
        "scale-to-zero",
        "zero-with-average-external",
        "fixed-size",
        "empty-behavior",
        "one-side-one-field",
        "scale-up-disabled",
    ],
)
def test_a_good_autoscaling_round_trips_unchanged(autoscaling: dict[str, Any]) -> None:
    raw = app_with(autoscaling)
    assert to_wire(validate_object(raw))["spec"]["autoscaling"] == autoscaling


def test_without_autoscaling_nothing_is_added() -> None:
    assert "autoscaling" not in to_wire(validate_object(good("Application")))["spec"]


def test_a_metric_knows_its_name() -> None:
    names = [Metric.model_validate(m).name for m in (CPU, RPS, QUEUE)]
    assert names == ["cpu", "requests_per_second", "queue_depth"]


def metrics(*more: Any) -> dict[str, Any]:
    return {"maxReplicas": 5, "metrics": list(more)}


def policy(**fields: Any) -> dict[str, Any]:
    return {"type": "Pods", "value": 1, "periodSeconds": 15, **fields}


def rules(side: str, **fields: Any) -> dict[str, Any]:
    return {"maxReplicas": 5, "metrics": [CPU], "behavior": {side: fields}}


def named(metric: dict[str, Any], name: str) -> dict[str, Any]:
    """``metric`` with another name (a resource's, or a Pods or External metric's)."""
    if "resource" in metric:
        return {**metric, "resource": {**metric["resource"], "name": name}}
    source = "pods" if "pods" in metric else "external"
    return {**metric, source: {**metric[source], "metric": {"name": name}}}


UP, DOWN, WINDOW = "behavior.scaleUp", "behavior.scaleDown", "stabilizationWindowSeconds"

# (id, autoscaling, the field named, words of the message)
BAD = [
    ("no-max", {"metrics": [CPU]}, "maxReplicas", "is required"),
    ("max-zero", {"maxReplicas": 0, "metrics": [CPU]}, "maxReplicas", "greater than or equal to 1"),
    ("max-over", {"maxReplicas": 100001, "metrics": [CPU]}, "maxReplicas", "100000"),
    ("max-text", {"maxReplicas": "5", "metrics": [CPU]}, "maxReplicas", "valid integer"),
    ("max-below-min", {**metrics(CPU), "minReplicas": 6}, "maxReplicas", "or lower minReplicas"),
    ("min-negative", {**metrics(CPU), "minReplicas": -1}, "minReplicas", "greater than or equal"),
    ("zero-unwoken", {**metrics(CPU, RPS), "minReplicas": 0}, "", "add an External metric, or"),
    ("tolerance-zero", {**metrics(CPU), "tolerance": 0}, "tolerance", "greater than 0"),
    ("tolerance-one", {**metrics(CPU), "tolerance": 1}, "tolerance", "less than 1"),
    ("tolerance-text", {**metrics(CPU), "tolerance": "0.1"}, "tolerance", "valid number"),
    ("no-metrics", {"maxReplicas": 5}, "metrics", "is required"),
    ("metrics-empty", metrics(), "metrics", "at least 1 item"),
    ("metrics-many", metrics(*[CPU] * (METRICS_MAX + 1)), "metrics", f"at most {METRICS_MAX}"),
    ("metric-twice", metrics(CPU, RPS, CPU), "metrics", "'cpu' appears twice: list each"),
    ("type-unknown", metrics({"type": "Object"}), "metrics[0].type", "'Resource'"),
    ("type-no-source", metrics({"type": "Pods"}), "metrics[0]", "type Pods needs pods: set pods"),
    (
        "type-other-source",
        metrics({"type": "Pods", "resource": CPU["resource"]}),
        "metrics[0]",
        "set pods (and remove resource)",
    ),
    (
        "two-sources",
        metrics({**CPU, "external": QUEUE["external"]}),
        "metrics[0]",
        "takes resource only: remove external",
    ),
    ("memory", metrics(named(CPU, "memory")), "metrics[0].resource.name", "memory is not"),
    ("resource-other", metrics(named(CPU, "gpu")), "metrics[0].resource.name", "use name 'cpu'"),
    ("name-upper", metrics(named(RPS, "RPS")), "metrics[0].pods.metric.name", "lowercase"),
    ("name-long", metrics(named(QUEUE, "q" * 64)), "metrics[0].external.metric.name", "at most 63"),
    ("name-edge", metrics(named(RPS, "rps_")), "metrics[0].pods.metric.name", "starting and end"),
    (
        "metric-selector",
        metrics({"type": "Pods", "pods": {**RPS["pods"], "metric": {"name": "r", "selector": {}}}}),
        "metrics[0].pods.metric.selector",
        "unknown field",
    ),
    (
        "window-negative",
        rules("scaleUp", stabilizationWindowSeconds=-1),
        f"{UP}.{WINDOW}",
        "greater than or equal to 0",
    ),
    (
        "window-over",
        rules("scaleDown", stabilizationWindowSeconds=3601),
        f"{DOWN}.{WINDOW}",
        "less than or equal to 3600",
    ),
    ("select-unknown", rules("scaleUp", selectPolicy="Most"), f"{UP}.selectPolicy", "'Max'"),
    ("policies-empty", rules("scaleDown", policies=[]), f"{DOWN}.policies", "at least one"),
    ("policies-many", rules("scaleUp", policies=[policy()] * 11), f"{UP}.policies", "at most 10"),
    (
        "policy-type",
        rules("scaleUp", policies=[policy(type="Replicas")]),
        f"{UP}.policies[0].type",
        "'Pods' or 'Percent'",
    ),
    (
        "policy-zero",
        rules("scaleUp", policies=[policy(value=0)]),
        f"{UP}.policies[0].value",
        "greater than or equal to 1",
    ),
    (
        "period-zero",
        rules("scaleDown", policies=[policy(periodSeconds=0)]),
        f"{DOWN}.policies[0].periodSeconds",
        "greater than or equal to 1",
    ),
    (
        "period-over",
        rules("scaleDown", policies=[policy(periodSeconds=1801)]),
        f"{DOWN}.policies[0].periodSeconds",
        "less than or equal to 1800",
    ),
    (
        "period-missing",
        rules("scaleDown", policies=[{"type": "Pods", "value": 1}]),
        f"{DOWN}.policies[0].periodSeconds",
        "is required",
    ),
    ("side-unknown", rules("scaleSideways"), "behavior.scaleSideways", "unknown field"),
    ("unknown", {**metrics(CPU), "targetCPU": 80}, "targetCPU", "unknown field"),
]


@pytest.mark.parametrize(
    ("autoscaling", "field", "words"), [c[1:] for c in BAD], ids=[c[0] for c in BAD]
)
def test_a_bad_autoscaling_names_the_field_and_the_fix(
    autoscaling: Any, field: str, words: str
) -> None:
    with pytest.raises(InvalidObject) as raised:
        validate_object(app_with(autoscaling))
    where = f"spec.autoscaling.{field}" if field else "spec.autoscaling"
    assert raised.value.field == where, raised.value.errors
    assert words in str(raised.value)


def target(kind: str, **values: Any) -> dict[str, Any]:
    return {"type": kind, **values}


# (id, metric, its target, the field under the target, words of the message)
BAD_TARGETS = [
    (
        "resource-average",
        CPU,
        target("AverageValue", averageValue=1),
        "",
        "take target type Utilization, not AverageValue",
    ),
    (
        "utilization-zero",
        CPU,
        target("Utilization", averageUtilization=0),
        "averageUtilization",
        "greater than or equal to 1",
    ),
    (
        "utilization-over",
        CPU,
        target("Utilization", averageUtilization=1001),
        "averageUtilization",
        "less than or equal to 1000",
    ),
    (
        "utilization-fraction",
        CPU,
        target("Utilization", averageUtilization=7.5),
        "averageUtilization",
        "valid integer",
    ),
    (
        "value-missing",
        CPU,
        target("Utilization"),
        "",
        "needs averageUtilization: set averageUtilization",
    ),
    (
        "two-values",
        QUEUE,
        target("Value", value=1, averageValue=1),
        "",
        "takes value only: remove averageValue",
    ),
    ("pods-value", RPS, target("Value", value=1), "", "take target type AverageValue, not Value"),
    (
        "external-utilization",
        QUEUE,
        target("Utilization", averageUtilization=5),
        "",
        "Value or AverageValue",
    ),
    ("average-zero", RPS, target("AverageValue", averageValue=0), "averageValue", "greater than 0"),
    ("value-negative", QUEUE, target("Value", value=-5), "value", "greater than 0"),
    ("value-infinite", QUEUE, target("Value", value=float("inf")), "value", "finite"),
]


@pytest.mark.parametrize(
    ("metric", "bad", "field", "words"),
    [c[1:] for c in BAD_TARGETS],
    ids=[c[0] for c in BAD_TARGETS],
)
def test_a_bad_target_names_the_field(
    metric: dict[str, Any], bad: dict[str, Any], field: str, words: str
) -> None:
    source = next(key for key in ("resource", "pods", "external") if key in metric)
    spoiled = {**metric, source: {**metric[source], "target": bad}}
    with pytest.raises(InvalidObject) as raised:
        validate_object(app_with(metrics(spoiled)))
    where = f"spec.autoscaling.metrics[0].{source}.target" + (f".{field}" if field else "")
    assert raised.value.field == where, raised.value.errors
    assert words in str(raised.value)


def test_autoscaling_needs_replicas_mode() -> None:
    raw = changed(app_with(metrics(CPU)), "spec.placement", {"mode": "EverySite"})
    with pytest.raises(InvalidObject) as raised:
        validate_object(raw)
    assert raised.value.field == "spec", raised.value.errors
    assert "spec.autoscaling" in str(raised.value)
    assert "remove spec.autoscaling, or use placement.mode Replicas" in str(raised.value)


STATUS: dict[str, Any] = {
    "desiredReplicas": 4,
    "currentReplicas": 3,
    "lastScaleTime": "2026-12-01T12:00:00Z",
    "reason": "ScaledUp",
    "message": "cpu 92% of the requested cpu, target 70%: 3 -> 4",
    "currentMetrics": [
        {"name": "cpu", "type": "Resource", "value": 92, "target": 70, "sites": 2},
        {"name": "queue_depth", "type": "External", "target": 500, "replicas": 1},
        {"name": "rps"},
    ],
    "recommendations": [{"time": 1790000000, "replicas": 3}, {"time": 1790000015.5, "replicas": 4}],
    "scaleEvents": [{"time": 1790000015.5, "replicas": 4, "change": 1}],
    "externalMetrics": [{"name": "queue_depth", "value": 12.5, "time": 1790000010}],
}


def app_status(status: Any) -> dict[str, Any]:
    return changed(app_with(FULL), "status", {"autoscaling": status})


@pytest.mark.parametrize("status", [STATUS, {}], ids=["full", "empty"])
def test_a_status_round_trips_unchanged(status: dict[str, Any]) -> None:
    wire = to_wire(validate_object(app_status(status)))
    assert wire["status"]["autoscaling"] == status


# (id, status, the field named, words of the message)
BAD_STATUS = [
    ("desired-negative", {"desiredReplicas": -1}, "desiredReplicas", "greater than or equal to 0"),
    (
        "metric-type",
        {"currentMetrics": [{"name": "x", "type": "Object"}]},
        "currentMetrics[0].type",
        "'Pods'",
    ),
    (
        "time-negative",
        {"recommendations": [{"time": -1, "replicas": 1}]},
        "recommendations[0].time",
        "greater than or equal to 0",
    ),
    (
        "history-long",
        {"recommendations": [{"time": 1, "replicas": 1}] * (HISTORY_MAX + 1)},
        "recommendations",
        f"at most {HISTORY_MAX}",
    ),
    (
        "event-change",
        {"scaleEvents": [{"time": 1, "replicas": 2, "change": 0.5}]},
        "scaleEvents[0].change",
        "valid integer",
    ),
    (
        "external-name",
        {"externalMetrics": [{"name": "Q", "value": 1, "time": 1}]},
        "externalMetrics[0].name",
        "lowercase",
    ),
    (
        "external-value",
        {"externalMetrics": [{"name": "q", "value": "1", "time": 1}]},
        "externalMetrics[0].value",
        "valid number",
    ),
    ("reason-control", {"reason": "Scaled\nUp"}, "reason", "control character"),
]


@pytest.mark.parametrize(
    ("status", "field", "words"), [c[1:] for c in BAD_STATUS], ids=[c[0] for c in BAD_STATUS]
)
def test_a_bad_status_names_the_field(status: Any, field: str, words: str) -> None:
    with pytest.raises(InvalidObject) as raised:
        validate_object(app_status(status))
    assert raised.value.field == f"status.autoscaling.{field}", raised.value.errors
    assert words in str(raised.value)
