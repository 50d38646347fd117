"""The failover fields of an Application, a SiteGroup's health and an Assignment's
fencing: what is accepted, and what is refused with the field named."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from edgeplane.api.applications import Application, Fencing
from edgeplane.api.assignments import Assignment
from edgeplane.api.sites import SiteGroup


def _app(placement: dict[str, Any], failover: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "edgeplane.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "a"},
        "spec": {
            "workload": {"process": {"command": "sleep", "args": ["1"]}},
            "placement": placement,
            "failover": failover,
        },
    }


def test_strict_fencing_of_replicas_is_accepted() -> None:
    app = Application.model_validate(
        _app(
            {"mode": "Replicas", "replicas": 1},
            {"afterSeconds": 3, "fencing": "Strict", "failback": True, "holdDownSeconds": 30},
        )
    )
    assert app.spec.failover is not None
    assert app.spec.failover.fencing is Fencing.STRICT
    assert app.spec.failover.hold_down_seconds == 30


@pytest.mark.parametrize(
    ("placement", "failover", "needle"),
    [
        ({"mode": "EverySite"}, {"fencing": "Strict"}, "EverySite"),
        ({"mode": "Replicas", "replicas": 1}, {"fencing": "Always"}, "fencing"),
        ({"mode": "Replicas", "replicas": 1}, {"afterSeconds": -1}, "afterSeconds"),
        ({"mode": "Replicas", "replicas": 1}, {"holdDownSeconds": "x"}, "holdDownSeconds"),
        ({"mode": "Replicas", "replicas": 1}, {"failback": "yes"}, "failback"),
    ],
    ids=["strict-every-site", "unknown-fencing", "negative-after", "text-hold-down", "flag"],
)
def test_bad_failover_is_refused(
    placement: dict[str, Any], failover: dict[str, Any], needle: str
) -> None:
    with pytest.raises(ValidationError, match=needle):
        Application.model_validate(_app(placement, failover))


@pytest.mark.parametrize(
    ("health", "ok"),
    [
        ({"heartbeatSeconds": 1, "suspicionThreshold": 8}, True),
        ({"heartbeatSeconds": 0.1}, False),
        ({"suspicionThreshold": 0}, False),
        ({"suspicionThreshold": 1000}, False),
    ],
    ids=["fine", "too-often", "zero-threshold", "huge-threshold"],
)
def test_group_health_bounds(health: dict[str, Any], ok: bool) -> None:
    body = {
        "apiVersion": "edgeplane.io/v1alpha1",
        "kind": "SiteGroup",
        "metadata": {"name": "g"},
        "spec": {"selector": {"matchLabels": {"tier": "edge"}}, "health": health},
    }
    if ok:
        assert SiteGroup.model_validate(body).spec.health is not None
    else:
        with pytest.raises(ValidationError, match="health"):
            SiteGroup.model_validate(body)


def test_assignment_carries_fencing_and_epoch() -> None:
    body = {
        "apiVersion": "edgeplane.io/v1alpha1",
        "kind": "Assignment",
        "metadata": {"name": "a-s1"},
        "spec": {
            "application": "a",
            "revision": 1,
            "site": "s1",
            "workload": {"process": {"command": "sleep", "args": ["1"]}},
            "fencing": "Strict",
            "epoch": 3,
            "failedOverFrom": "s0",
        },
    }
    spec = Assignment.model_validate(body).spec
    assert (spec.fencing, spec.epoch, spec.failed_over_from) == (Fencing.STRICT, 3, "s0")
