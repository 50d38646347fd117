"""What the placement controller writes, without a store: the Assignment it renders
(artifacts resolved, per-site overrides merged), when a write is due, and the
Application status it reports."""

from __future__ import annotations

import copy
from typing import Any, cast

import pytest

from edgeplane.api.wellknown import assignment_name
from edgeplane.api.wire import Object
from edgeplane.hub.controllers import retry_delay
from edgeplane.hub.controllers.placement import (
    app_status,
    ready_condition,
    render,
    resolved_workload,
    unchanged,
)
from edgeplane.placement.model import Decision

SHA = "c" * 64


def resolve(name: str, version: str) -> str | None:
    return SHA if (name, version) == ("svc", "1") else None


def application(
    artifacts: list[dict[str, Any]] | None = None,
    overrides: list[dict[str, Any]] | None = None,
) -> Object:
    process = {
        "command": "python3",
        "args": ["-m", "svc"],
        "env": {"MODE": "normal"},
        "artifacts": [{"name": "svc", "version": "1"}] if artifacts is None else artifacts,
    }
    return {
        "apiVersion": "edgeplane.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "web", "generation": 4},
        "spec": {
            "workload": {"process": process},
            "resources": {"cpu": "250m"},
            "placement": {"mode": "EverySite"},
            "overrides": overrides or [],
        },
    }


def site(name: str, **labels: str) -> Object:
    return {"kind": "Site", "metadata": {"name": name, "labels": labels}}


@pytest.mark.parametrize(
    ("artifacts", "sha", "problem"),
    [
        ([{"name": "svc", "version": "1"}], SHA, None),
        ([{"name": "svc", "version": "1", "sha256": SHA}], SHA, None),
        ([], None, None),
        (
            [{"name": "svc", "version": "2"}],
            None,
            "artifact svc:2 is not on the hub: `edgeplane artifact push` it",
        ),
        (
            [{"name": "svc", "version": "1", "sha256": "d" * 64}],
            "d" * 64,
            f"artifact svc:1 pins sha256 {'d' * 12}… but the hub has {SHA[:12]}…",
        ),
    ],
    ids=["resolved", "pinned-and-equal", "no-artifacts", "unknown", "pinned-and-different"],
)
def test_artifacts_are_resolved_or_say_why_not(
    artifacts: list[dict[str, Any]], sha: str | None, problem: str | None
) -> None:
    app = application(artifacts)
    before = copy.deepcopy(app)
    workload, why = resolved_workload(app, resolve)
    assert why == problem
    if artifacts:
        assert workload["process"]["artifacts"][0].get("sha256") == sha
    assert app == before  # the Application itself is never modified


BY_NAME = {"site": "s1", "values": {"process": {"args": ["--fast"]}}}
BY_LABEL = {
    "siteSelector": {"matchLabels": {"tier": "edge"}},
    "values": {"process": {"env": {"MODE": "edge", "EXTRA": "1"}}},
}
DROP_ENV = {"site": "s1", "values": {"process": {"env": None}}}


@pytest.mark.parametrize(
    ("overrides", "target", "args", "env"),
    [
        ([], site("s1"), ["-m", "svc"], {"MODE": "normal"}),
        ([BY_NAME], site("s1"), ["--fast"], {"MODE": "normal"}),
        ([BY_NAME], site("s2"), ["-m", "svc"], {"MODE": "normal"}),
        ([BY_LABEL], site("s2", tier="edge"), ["-m", "svc"], {"MODE": "edge", "EXTRA": "1"}),
        ([BY_LABEL], site("s2", tier="cloud"), ["-m", "svc"], {"MODE": "normal"}),
        ([BY_LABEL, BY_NAME], site("s1", tier="edge"), ["--fast"], {"MODE": "edge", "EXTRA": "1"}),
        ([BY_LABEL, DROP_ENV], site("s1", tier="edge"), ["-m", "svc"], None),
    ],
    ids=["none", "by-name", "other-site", "by-label", "label-mismatch", "both-merge", "null-drops"],
)
def test_overrides_merge_into_the_workload_of_matching_sites(
    overrides: list[dict[str, Any]],
    target: Object,
    args: list[str],
    env: dict[str, str] | None,
) -> None:
    app = application(overrides=overrides)
    workload, _ = resolved_workload(app, resolve)
    process = render(app, target, workload)["spec"]["workload"]["process"]
    assert process["args"] == args
    assert process.get("env") == env
    assert process["artifacts"][0]["sha256"] == SHA


def test_the_rendered_assignment_names_its_application_site_and_revision() -> None:
    app = application()
    obj = render(app, site("s1"), resolved_workload(app, resolve)[0])
    assert obj["metadata"]["name"] == assignment_name("web", "s1")
    assert obj["metadata"]["name"].startswith("web.s1.")
    assert obj["metadata"]["labels"] == {
        "edgeplane.io/application": "web",
        "edgeplane.io/site": "s1",
    }
    spec = obj["spec"]
    assert (spec["application"], spec["site"], spec["revision"], spec["replicas"]) == (
        "web",
        "s1",
        4,
        1,
    )
    assert spec["resources"] == {"cpu": "250m"}
    del app["spec"]["resources"]
    assert "resources" not in render(app, site("s1"), app["spec"]["workload"])["spec"]


def _stored(desired: Object, **changes: Any) -> Object:
    """``desired`` as the store returns it: with store metadata and a status."""
    stored = copy.deepcopy(desired)
    stored["metadata"].update({"resourceVersion": "17", "uid": "u-1", "generation": 2})
    stored["status"] = {"phase": "Running", "ready": 1}
    for path, value in changes.items():
        section, key = path.split("__")
        cast(dict[str, Any], stored)[section][key] = value  # a field named by the test
    return stored


@pytest.mark.parametrize(
    ("changes", "same"),
    [
        ({}, True),
        ({"spec__revision": 3}, False),
        ({"spec__workload": {"process": {"command": "old"}}}, False),
        ({"metadata__labels": {"edgeplane.io/site": "s1"}}, False),
        ({"status__ready": 0}, True),
        ({"metadata__annotations": {"note": "x"}}, True),
    ],
    ids=["identical", "revision", "workload", "labels", "status-only", "annotations"],
)
def test_a_write_is_due_only_when_spec_or_labels_differ(
    changes: dict[str, Any], same: bool
) -> None:
    app = application()
    desired = render(app, site("s1"), resolved_workload(app, resolve)[0])
    assert unchanged(desired, _stored(desired, **changes)) is same


def assignment(site_name: str, revision: int, ready: int, observed: int = 1) -> Object:
    return {
        "metadata": {"name": f"web.{site_name}", "generation": 1},
        "spec": {"site": site_name, "revision": revision},
        "status": {"ready": ready, "observedGeneration": observed},
    }


@pytest.mark.parametrize(
    ("assignments", "ready", "condition"),
    [
        ([assignment("s1", 4, 1), assignment("s2", 4, 1)], 2, ("True", "AllReady")),
        ([assignment("s1", 4, 1), assignment("s2", 4, 0)], 1, ("False", "NotReady")),
        ([assignment("s1", 3, 1), assignment("s2", 4, 1)], 2, ("True", "AllReady")),
        ([assignment("s1", 4, 1, observed=0), assignment("s2", 4, 1)], 1, ("False", "NotReady")),
    ],
    ids=["all-ready", "one-not-ready", "kept-at-an-older-revision", "status-not-caught-up"],
)
def test_ready_counts_instances_that_run_what_their_site_is_told(
    assignments: list[Object], ready: int, condition: tuple[str, str]
) -> None:
    """A site a rollout keeps at an older revision (a later wave, a closed window, a
    rollback) serves: its replicas are ready, as a Deployment's ``readyReplicas`` counts
    old and new pods; a status from before the Assignment's spec is not."""
    decision = Decision("web", ("s1", "s2"), 2)
    status = app_status(application(), decision, assignments, None)
    assert (status["sites"], status["replicas"], status["ready"]) == (["s1", "s2"], 2, ready)
    assert status["observedGeneration"] == 4
    conditions = {c["type"]: c for c in status["conditions"]}
    assert (conditions["Ready"]["status"], conditions["Ready"]["reason"]) == condition
    assert conditions["Placed"]["status"] == "True"


def kube_assignment(site_name: str, phase: str, pods: int, replicas: int | None = None) -> Any:
    obj = assignment(site_name, 4, pods)
    obj["spec"]["workload"] = {"kubernetes": {"manifests": []}}
    if replicas is not None:
        obj["spec"]["replicas"] = replicas
    obj["status"]["phase"] = phase
    return obj


@pytest.mark.parametrize(
    ("assignments", "wanted", "ready"),
    [
        ([kube_assignment("s1", "Running", 4), kube_assignment("s2", "Starting", 2)], 2, 1),
        ([kube_assignment("s1", "Running", 3, 2), kube_assignment("s2", "Running", 1, 1)], 3, 3),
        ([kube_assignment("s1", "Starting", 5, 2), kube_assignment("s2", "Running", 0, 1)], 3, 1),
    ],
    ids=["pods-are-not-sites", "divided-shares", "a-share-not-all-ready-counts-none"],
)
def test_a_kubernetes_assignment_counts_its_share_when_all_its_objects_are_ready(
    assignments: list[Object], wanted: int, ready: int
) -> None:
    """Ready pods are not the application's replicas: 4 pods at one site of two were
    read as '4/2 ready' while the other site was still starting."""
    status = app_status(application(), Decision("web", ("s1", "s2"), wanted), assignments, None)
    assert status["ready"] == ready
    ready_condition = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready_condition["status"] == ("True" if ready == wanted else "False")


def test_status_says_why_an_application_is_not_placed() -> None:
    decision = Decision("web", ("s1",), 3, ("2 site(s) are cordoned",))
    status = app_status(application(), decision, [assignment("s1", 4, 1)], None)
    assert (status["unplaced"], status["message"]) == (2, "placed 1/3; 2 site(s) are cordoned")
    placed = status["conditions"][0]
    assert (placed["type"], placed["status"], placed["reason"]) == ("Placed", "False", "Unplaced")
    missing = app_status(application(), decision, [], "artifact svc:2 is not on the hub")
    assert missing["message"] == "artifact svc:2 is not on the hub"
    assert missing["conditions"][0]["reason"] == "ArtifactMissing"


def test_nothing_wanted_is_not_ready() -> None:
    assert ready_condition(0, 0) == {
        "type": "Ready",
        "status": "False",
        "reason": "NothingWanted",
        "message": "0/0 ready",
    }


def test_retries_back_off_up_to_a_cap() -> None:
    assert [retry_delay(n) for n in (1, 2, 3, 4)] == [0.5, 1.0, 2.0, 4.0]
    assert retry_delay(50) == 30.0
