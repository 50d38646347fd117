"""``scaling_spec``: the wire form of ``spec.autoscaling`` as frozen values, with the
defaults of Kubernetes' HPA wherever a field, a side or ``behavior`` is unset."""

from __future__ import annotations

from typing import Any

import pytest

from edgeplane.api.validation import to_wire, validate_object
from edgeplane.scaling import (
    DEFAULT_DOWN,
    DEFAULT_UP,
    MetricKind,
    MetricSpec,
    Policy,
    PolicyKind,
    Rules,
    SelectPolicy,
    TargetType,
    scaling_spec,
)
from tests.support.builders import changed, good
from tests.unit.scaling.specs import cpu, external, pods, side, spec, wire


def test_unset_fields_take_the_hpa_defaults() -> None:
    view = spec()
    assert (view.min_replicas, view.max_replicas, view.tolerance) == (1, 20, 0.1)
    assert view.up == Rules(
        0, SelectPolicy.MAX, (Policy(PolicyKind.PERCENT, 100, 15), Policy(PolicyKind.PODS, 4, 15))
    )
    assert view.down == Rules(300, SelectPolicy.MAX, (Policy(PolicyKind.PERCENT, 100, 15),))


@pytest.mark.parametrize(
    ("metric", "expected"),
    [
        (cpu(70), MetricSpec(MetricKind.RESOURCE, "cpu", TargetType.UTILIZATION, 70.0)),
        (pods("rps", 100), MetricSpec(MetricKind.PODS, "rps", TargetType.AVERAGE_VALUE, 100.0)),
        (external("queue", 500), MetricSpec(MetricKind.EXTERNAL, "queue", TargetType.VALUE, 500.0)),
        (
            external("backlog", 30.5, per_replica=True),
            MetricSpec(MetricKind.EXTERNAL, "backlog", TargetType.AVERAGE_VALUE, 30.5),
        ),
    ],
    ids=["resource-utilization", "pods-average", "external-value", "external-average"],
)
def test_each_metric_kind_reads_its_target(metric: dict[str, Any], expected: MetricSpec) -> None:
    assert spec(metric).metrics == (expected,)
    assert spec(metric).metrics[0].kind == expected.kind.value  # the wire spelling


@pytest.mark.parametrize(
    ("raw", "up", "down"),
    [
        ({"behavior": {}}, DEFAULT_UP, DEFAULT_DOWN),
        (
            {"down": side(60)},
            DEFAULT_UP,
            Rules(60, SelectPolicy.MAX, DEFAULT_DOWN.policies),
        ),
        (
            {"up": side(None, "Min")},
            Rules(0, SelectPolicy.MIN, DEFAULT_UP.policies),
            DEFAULT_DOWN,
        ),
        (
            {"up": side(0, "Disabled"), "down": side(0, None, "Pods 1/60")},
            Rules(0, SelectPolicy.DISABLED, DEFAULT_UP.policies),
            Rules(0, SelectPolicy.MAX, (Policy(PolicyKind.PODS, 1, 60),)),
        ),
    ],
    ids=["empty-behavior", "down-window-only", "up-select-only", "zero-windows"],
)
def test_each_side_field_defaults_on_its_own(raw: dict[str, Any], up: Rules, down: Rules) -> None:
    view = spec(**raw)
    assert (view.up, view.down) == (up, down)


def test_zero_is_a_value_not_unset() -> None:
    view = scaling_spec(wire(external(), minReplicas=0, tolerance=0.25))
    assert (view.min_replicas, view.tolerance) == (0, 0.25)


def test_the_longest_window_and_period_bound_what_is_remembered() -> None:
    view = spec(up=side(60, None, "Pods 4/30"), down=side(120, None, "Percent 10/600"))
    assert (view.longest_window, view.longest_period) == (120, 600)


def test_the_wire_form_the_api_keeps_reads_as_written() -> None:
    raw = wire(
        cpu(70),
        pods("rps", 100),
        external("queue", 500),
        minReplicas=2,
        maxReplicas=30,
        tolerance=0.2,
        up=side(30, "Min", "Pods 2/60"),
        down=side(600, "Disabled", "Percent 10/60"),
    )
    app = to_wire(validate_object(changed(good("Application"), "spec.autoscaling", raw)))
    view = scaling_spec(app["spec"]["autoscaling"])
    assert (view.min_replicas, view.max_replicas, view.tolerance) == (2, 30, 0.2)
    assert [m.name for m in view.metrics] == ["cpu", "rps", "queue"]
    assert view.up == Rules(30, SelectPolicy.MIN, (Policy(PolicyKind.PODS, 2, 60),))
    assert view.down == Rules(600, SelectPolicy.DISABLED, (Policy(PolicyKind.PERCENT, 10, 60),))
