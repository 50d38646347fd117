"""Pure pieces of the agent: backoff, status diffs, capacity admission, local state,
label flags."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from edgeplane.agent.backoff import Backoff
from edgeplane.agent.fitting import admit
from edgeplane.agent.identity import with_identity
from edgeplane.agent.inventory import Capacity
from edgeplane.agent.reconciler import Problem
from edgeplane.agent.reporter import assignment_status, merge_diff
from edgeplane.agent.runtimes import Endpoint, InstanceStatus, Phase
from edgeplane.agent.state import LocalState
from edgeplane.api.wire import Object


def test_backoff_doubles_to_the_cap_with_full_jitter() -> None:
    backoff = Backoff(base=0.5, cap=4.0, rng=lambda: 1.0)
    assert [backoff.next() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    backoff.reset()
    assert backoff.next() == 0.5
    assert Backoff(rng=lambda: 0.0).next() == 0.0


@pytest.mark.parametrize(
    ("old", "new", "patch"),
    [
        ({}, {"phase": "Running"}, {"phase": "Running"}),
        ({"phase": "Running", "ready": 1}, {"phase": "Running", "ready": 1}, {}),
        ({"phase": "Running", "reason": "x"}, {"phase": "Running"}, {"reason": None}),
        ({"ready": 0}, {"ready": 1}, {"ready": 1}),
    ],
    ids=["new-field", "unchanged", "removed-field", "changed"],
)
def test_merge_diff_sends_only_changes(
    old: dict[str, Any], new: dict[str, Any], patch: dict[str, Any]
) -> None:
    assert merge_diff(old, new) == patch


def _assignment(name: str, cpu: str | None = None, generation: int = 1) -> Object:
    resources = {"cpu": cpu, "memory": "1Mi"} if cpu else None
    return {
        "metadata": {"name": name, "generation": generation, "resourceVersion": "1"},
        "spec": {"resources": resources, "workload": {"process": {"command": "true"}}},
    }


def test_admit_keeps_running_workloads_first() -> None:
    desired = {n: _assignment(n, "600m") for n in ("a", "b", "c")}
    admitted, left = admit(desired, {"c"}, Capacity.of("1300m", "1Gi"))
    assert admitted == {"a", "c"}
    assert left.cpu_millis == 100
    assert left.memory_bytes == 1024**3 - 2 * 1024**2


def test_admit_without_requests_admits_everything() -> None:
    desired = {n: _assignment(n) for n in ("a", "b")}
    admitted, left = admit(desired, set(), Capacity.of("100m", "1Mi"))
    assert admitted == {"a", "b"}
    assert left.cpu_millis == 100


def test_assignment_status_from_instance_problem_and_nothing() -> None:
    obj = _assignment("web.s1", generation=3)
    running = InstanceStatus(
        "web.s1",
        3,
        Phase.RUNNING,
        True,
        restarts=2,
        started_at=0.0,
        endpoints=(Endpoint("http", 4000),),
    )
    assert assignment_status(obj, running, None, "10.0.0.1") == {
        "phase": "Running",
        "ready": 1,
        "restarts": 2,
        "startedAt": "1970-01-01T00:00:00Z",
        "endpoints": [{"name": "http", "port": 4000, "url": "http://10.0.0.1:4000"}],
        "observedGeneration": 3,
    }
    problem = Problem(Phase.FAILED, "ArtifactInvalid", "sha256 mismatch")
    assert assignment_status(obj, None, problem, "h") == {
        "phase": "Failed",
        "reason": "ArtifactInvalid",
        "message": "sha256 mismatch",
        "ready": 0,
        "observedGeneration": 3,
    }
    older = InstanceStatus("web.s1", 2, Phase.RUNNING, True)
    assert assignment_status(obj, older, None, "h")["phase"] == "Pending"


def _event(name: str, rv: str, generation: int = 1) -> Object:
    return {"metadata": {"name": name, "resourceVersion": rv, "generation": generation}}


def test_local_state_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    state = LocalState(path)
    state.replace_assignments([_event("a", "5"), _event("b", "6")], "7")
    state.apply_event("MODIFIED", _event("a", "8", generation=2))
    state.apply_event("DELETED", _event("b", "9"))
    state.apply_event("BOOKMARK", {"metadata": {"resourceVersion": "12"}})
    state.set_status("a", {"phase": "Running"})
    state.close()
    again = LocalState(path)
    assert again.resource_version() == "12"
    assert set(again.assignments()) == {"a"}
    assert again.assignments()["a"]["metadata"]["generation"] == 2
    assert again.assignments()["a"]["status"] == {"phase": "Running"}
    again.forget_resource_version()
    assert again.resource_version() is None
    again.close()


@pytest.mark.parametrize(
    "env",
    [
        [{"name": "A", "value": "1"}, {"name": "EDGEPLANE_SITE", "value": "mine"}],
        {"A": "1", "EDGEPLANE_SITE": "mine"},
        None,
    ],
    ids=["list", "map", "none"],
)
def test_workloads_learn_their_site_and_application(env: Any) -> None:
    obj = _assignment("web.s1")
    obj["spec"].update(site="s1", application="web")
    workload = {"command": "true", "env": env}
    out = with_identity(workload, obj)["env"]
    assert out["EDGEPLANE_APPLICATION"] == "web"
    assert out["EDGEPLANE_ASSIGNMENT"] == "web.s1"
    assert out["EDGEPLANE_SITE"] == ("s1" if env is None else "mine")
