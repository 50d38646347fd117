"""An Application's ``spec.rollout`` and ``status.rollout``, and an Assignment's gate:
what is accepted and kept as written, and what is refused with the field named and the
fix said."""

from __future__ import annotations

from typing import Any

import pytest

from edgeplane.api.rollouts import STATUS_INFLIGHT_MAX, WAVES_MAX, step_percent
from edgeplane.api.validation import InvalidObject, to_wire, validate_object
from tests.support.builders import changed, good

FULL = {
    "steps": ["1%", "10%", {"percent": "50%", "requireApproval": True}],
    "maxUnavailable": "25%",
    "minSuccessSeconds": 30,
    "autoRollback": True,
    "failureThreshold": 0,
    "progressDeadlineSeconds": 600,
    "gates": {"maxRestarts": 3, "http": {"path": "/healthz", "port": "http", "timeoutSeconds": 2}},
    "revisionHistoryLimit": 10,
}
GROUPS = [
    {"name": "canary", "siteGroup": "canary-sites", "requireApproval": False, "maxUnavailable": 1},
    {"name": "eu", "siteGroup": "eu-stores", "requireApproval": True, "maxUnavailable": "10%"},
]


def app_with(rollout: Any) -> dict[str, Any]:
    return changed(good("Application"), "spec.rollout", rollout)


@pytest.mark.parametrize(
    "rollout",
    [
        {},
        FULL,
        {"groups": GROUPS, "maxUnavailable": 2, "failureThreshold": "10%"},
        {"steps": ["100%"], "maxUnavailable": "1%", "failureThreshold": "100%"},
        {"steps": [{"percent": "5%"}, "100%"]},
        {"gates": {"http": {"path": "/", "port": 8080}}, "revisionHistoryLimit": 1},
        {"gates": {"maxRestarts": 0}, "revisionHistoryLimit": 100, "progressDeadlineSeconds": 0.5},
    ],
    ids=["empty", "full", "groups", "one-step", "step-object", "numbered-port", "bounds"],
)
def test_a_good_rollout_round_trips_unchanged(rollout: dict[str, Any]) -> None:
    raw = app_with(rollout)
    assert to_wire(validate_object(raw))["spec"]["rollout"] == rollout


def test_a_gate_probes_the_root_unless_told() -> None:
    app = validate_object(app_with({"gates": {"http": {"port": "http"}}}))
    assert to_wire(app)["spec"]["rollout"]["gates"]["http"] == {"path": "/", "port": "http"}


def test_steps_in_either_spelling_give_their_percentage() -> None:
    app = validate_object(app_with(FULL))
    steps = app.spec.rollout.steps  # type: ignore[attr-defined]
    assert [step_percent(s) for s in steps] == [1, 10, 50]


# (id, rollout, the field named, words of the message)
BAD = [
    ("unavailable-zero", {"maxUnavailable": 0}, "maxUnavailable", "use at least 1 or '1%'"),
    ("unavailable-zero-percent", {"maxUnavailable": "0%"}, "maxUnavailable", "never move"),
    ("unavailable-negative", {"maxUnavailable": -1}, "maxUnavailable", "from 1 to"),
    ("unavailable-word", {"maxUnavailable": "lots"}, "maxUnavailable", "like '10%'"),
    ("unavailable-over", {"maxUnavailable": "101%"}, "maxUnavailable", "from 1% to 100%"),
    ("unavailable-float", {"maxUnavailable": 1.5}, "maxUnavailable", "valid"),
    (
        "group-unavailable-zero",
        {"groups": [{**GROUPS[0], "maxUnavailable": 0}]},
        "groups[0].maxUnavailable",
        "use at least 1",
    ),
    (
        "group-approval-word",
        {"groups": [{**GROUPS[0], "requireApproval": "yes"}]},
        "groups[0].requireApproval",
        "boolean",
    ),
    ("group-twice", {"groups": [GROUPS[0], GROUPS[0]]}, "groups", "list each once"),
    (
        "steps-and-groups",
        {"groups": GROUPS, "steps": ["50%"]},
        "steps",
        "remove one of them",
    ),
    ("steps-flat", {"steps": ["10%", "10%"]}, "steps", "higher than the one before"),
    ("steps-down", {"steps": ["50%", {"percent": "10%"}]}, "steps", "10% follows 50%"),
    ("step-zero", {"steps": ["0%"]}, "steps[0]", "from 1% to 100%"),
    ("step-over", {"steps": ["150%"]}, "steps[0]", "from 1% to 100%"),
    ("step-count", {"steps": [5]}, "steps[0]", "write a step as 'N%'"),
    ("step-object-zero", {"steps": [{"percent": "0%"}]}, "steps[0].percent", "from 1%"),
    ("step-object-extra", {"steps": [{"percent": "5%", "x": 1}]}, "steps[0].x", "unknown field"),
    ("steps-empty", {"steps": []}, "steps", "at least 1"),
    ("steps-many", {"steps": [f"{n}%" for n in range(1, 66)]}, "steps", f"{WAVES_MAX - 1}"),
    ("threshold-negative", {"failureThreshold": -1}, "failureThreshold", "from 0 to"),
    ("threshold-over", {"failureThreshold": "120%"}, "failureThreshold", "from 0% to 100%"),
    ("deadline-zero", {"progressDeadlineSeconds": 0}, "progressDeadlineSeconds", "greater than 0"),
    ("history-zero", {"revisionHistoryLimit": 0}, "revisionHistoryLimit", "greater than or equal"),
    ("history-over", {"revisionHistoryLimit": 101}, "revisionHistoryLimit", "less than or equal"),
    ("restarts-negative", {"gates": {"maxRestarts": -1}}, "gates.maxRestarts", "(got -1)"),
    ("gate-no-port", {"gates": {"http": {"path": "/"}}}, "gates.http.port", "is required"),
    (
        "gate-port-name",
        {"gates": {"http": {"port": "Web_1"}}},
        "gates.http.port",
        "invalid port name 'Web_1'",
    ),
    ("gate-path", {"gates": {"http": {"port": 80, "path": "x"}}}, "gates.http.path", "'/'"),
    (
        "gate-timeout",
        {"gates": {"http": {"port": 80, "timeoutSeconds": 61}}},
        "gates.http.timeoutSeconds",
        "60",
    ),
    ("gate-unknown", {"gates": {"tcp": {}}}, "gates.tcp", "unknown field"),
]


@pytest.mark.parametrize(
    ("rollout", "field", "words"), [c[1:] for c in BAD], ids=[c[0] for c in BAD]
)
def test_a_bad_rollout_names_the_field_and_the_fix(rollout: Any, field: str, words: str) -> None:
    with pytest.raises(InvalidObject) as raised:
        validate_object(app_with(rollout))
    assert raised.value.field == f"spec.rollout.{field}", raised.value.errors
    assert words in str(raised.value)


STATUS = {
    "revision": 3,
    "stableRevision": 2,
    "phase": "Progressing",
    "wave": 1,
    "waves": [
        {
            "name": "canary",
            "sites": 2,
            "updated": 2,
            "ready": 2,
            "failed": 0,
            "skipped": 0,
            "waiting": 0,
            "phase": "Passed",
            "startedAt": "2026-12-01T12:00:00Z",
            "passedAt": "2026-12-01T12:00:30.5Z",
        },
        {"name": "rest", "sites": 8, "updated": 1, "phase": "Progressing"},
    ],
    "revisions": [{"revision": 2, "sites": 7, "ready": 7}, {"revision": 3, "sites": 3, "ready": 2}],
    "message": "wave rest progressing; 2 site(s) offline skipped",
    "waiting": ["2 site(s) outside their maintenance window (next opens 2026-12-02T02:00:00Z)"],
    "failed": [{"site": "s9", "reason": "exited with code 1"}],
    "inflight": {"s4": "2026-12-01T12:01:00Z"},
    "control": {"revision": 3, "paused": False, "promote": 0, "approved": [1], "abort": False},
    "startedAt": "2026-12-01T12:00:00Z",
    "waveStartedAt": "2026-12-01T12:00:31Z",
    "soakStartedAt": "2026-12-01T12:00:00Z",
    "story": [{"time": "2026-12-01T12:00:00Z", "message": "rollout to revision 3 began"}],
}


def app_status(rollout: Any) -> dict[str, Any]:
    return changed(good("Application"), "status", {"rollout": rollout})


@pytest.mark.parametrize(
    "rollout",
    [STATUS, {"revision": 1, "phase": "Succeeded", "finishedAt": "2026-12-01T12:00:00Z"}],
    ids=["progressing", "least"],
)
def test_a_rollout_status_round_trips_unchanged(rollout: dict[str, Any]) -> None:
    raw = app_status(rollout)
    assert to_wire(validate_object(raw))["status"]["rollout"] == rollout


def _many(n: int) -> list[dict[str, Any]]:
    return [{"name": f"w{i}"} for i in range(n)]


# (id, field changed, value, the field named, words of the message)
BAD_STATUS = [
    ("phase", "phase", "Done", "phase", "'RolledBack'"),
    ("null-phase", "phase", None, "phase", "(got None)"),
    ("revision-zero", "revision", 0, "revision", "greater than"),
    ("wave-phase", "waves[0].phase", "Soaked", "waves[0].phase", "'Soaking'"),
    ("wave-count", "waves[0].ready", -1, "waves[0].ready", "(got -1)"),
    ("waves-many", "waves", _many(WAVES_MAX + 1), "waves", f"at most {WAVES_MAX}"),
    ("revisions-many", "revisions", [{"revision": 1}] * 21, "revisions", "at most 20"),
    ("waiting-many", "waiting", ["x"] * 11, "waiting", "at most 10"),
    ("failed-many", "failed", [{"site": "s", "reason": "r"}] * 51, "failed", "at most 50"),
    ("story-many", "story", [{"time": "t", "message": "m"}] * 51, "story", "at most 50"),
    (
        "inflight-many",
        "inflight",
        {f"s{i}": "t" for i in range(STATUS_INFLIGHT_MAX + 1)},
        "inflight",
        f"at most {STATUS_INFLIGHT_MAX}",
    ),
    ("approved", "control.approved", [-1], "control.approved[0]", "(got -1)"),
    ("control-revision", "control", {"paused": True}, "control.revision", "is required"),
]


@pytest.mark.parametrize(
    ("path", "value", "field", "words"), [c[1:] for c in BAD_STATUS], ids=[c[0] for c in BAD_STATUS]
)
def test_a_bad_rollout_status_names_the_field(
    path: str, value: Any, field: str, words: str
) -> None:
    with pytest.raises(InvalidObject) as raised:
        validate_object(app_status(changed(STATUS, path, value)))
    assert raised.value.field == f"status.rollout.{field}", raised.value.errors
    assert words in str(raised.value)


@pytest.mark.parametrize(
    ("gate", "field", "words"),
    [
        ({"http": {"path": "/healthz", "port": "http", "timeoutSeconds": 2}}, None, ""),
        ({}, None, ""),
        ({"http": {"port": 0}}, "spec.gate.http.port", "greater than or equal to 1"),
        ({"maxRestarts": 3}, "spec.gate.maxRestarts", "unknown field"),
    ],
    ids=["http", "empty", "port-zero", "restarts-are-the-hubs"],
)
def test_an_assignment_carries_the_http_gate(gate: Any, field: str | None, words: str) -> None:
    raw = changed(good("Assignment"), "spec.gate", gate)
    if field is None:
        assert to_wire(validate_object(raw))["spec"]["gate"] == gate
        return
    with pytest.raises(InvalidObject) as raised:
        validate_object(raw)
    assert raised.value.field == field, raised.value.errors
    assert words in str(raised.value)


@pytest.mark.parametrize(
    ("gates", "words"),
    [
        ({"http": {"port": 8080}}, "remove rollout.gates.http"),
        ({"maxRestarts": 3}, "remove rollout.gates.maxRestarts"),
    ],
    ids=["http", "max-restarts"],
)
def test_gates_a_kubernetes_workload_cannot_have_are_refused_with_the_fix(
    gates: dict[str, Any], words: str
) -> None:
    """The agent checks a gate on its own loopback, which pods are not on, and counts
    restarts of processes only: a field that could not work is refused, not ignored."""
    app = changed(good("Application"), "spec.rollout", {"gates": gates})
    app["spec"]["workload"] = {"kubernetes": {"manifests": [CONFIG_MAP]}}
    with pytest.raises(InvalidObject) as raised:
        validate_object(app)
    assert raised.value.field == "spec", raised.value.errors
    assert words in str(raised.value)
    app["spec"]["rollout"] = {"minSuccessSeconds": 5}
    validate_object(app)  # the rest of a rollout works the same for kubernetes


CONFIG_MAP = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {"name": "c"},
    "data": {"k": "v"},
}
