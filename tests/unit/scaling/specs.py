"""Builders for the autoscaler's tests: ``spec.autoscaling`` wire dicts and their
``ScalingSpec`` in a line, and readings from one site.

Not a fake of anything: the autoscaler is pure, so its tests hand it values."""

from __future__ import annotations

from typing import Any

from edgeplane.scaling import Reading, ScalingSpec, scaling_spec

T0 = 1_800_000_000.0


def cpu(target: int = 70) -> dict[str, Any]:
    return {
        "type": "Resource",
        "resource": {
            "name": "cpu",
            "target": {"type": "Utilization", "averageUtilization": target},
        },
    }


def pods(name: str = "rps", target: float = 100) -> dict[str, Any]:
    target_ = {"type": "AverageValue", "averageValue": target}
    return {"type": "Pods", "pods": {"metric": {"name": name}, "target": target_}}


def external(name: str = "queue", target: float = 500, per_replica: bool = False) -> dict[str, Any]:
    kind, key = ("AverageValue", "averageValue") if per_replica else ("Value", "value")
    target_ = {"type": kind, key: target}
    return {"type": "External", "external": {"metric": {"name": name}, "target": target_}}


def side(window: int | None = None, select: str | None = None, *policies: str) -> dict[str, Any]:
    """One side of ``behavior``; a policy is ``"Pods 4/15"`` or ``"Percent 100/15"``."""
    rules: dict[str, Any] = {}
    if window is not None:
        rules["stabilizationWindowSeconds"] = window
    if select is not None:
        rules["selectPolicy"] = select
    if policies:
        rules["policies"] = [_policy(p) for p in policies]
    return rules


def _policy(text: str) -> dict[str, Any]:
    kind, rate = text.split()
    value, period = rate.split("/")
    return {"type": kind, "value": int(value), "periodSeconds": int(period)}


def wire(*metrics: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """``spec.autoscaling``: cpu at 70% and 1..20 replicas unless told otherwise;
    ``up``/``down`` give a side of ``behavior``."""
    raw: dict[str, Any] = {"maxReplicas": 20, "metrics": list(metrics) or [cpu()]}
    behavior = {
        key: fields.pop(name)
        for name, key in (("up", "scaleUp"), ("down", "scaleDown"))
        if name in fields
    }
    if behavior:
        raw["behavior"] = behavior
    return {**raw, **fields}


def spec(*metrics: dict[str, Any], **fields: Any) -> ScalingSpec:
    return scaling_spec(wire(*metrics, **fields))


def reading(value: float, samples: int, name: str = "cpu") -> dict[str, Reading]:
    """The combined readings of one metric, as ``recommend`` takes them."""
    return {name: Reading(name, value, samples)}
