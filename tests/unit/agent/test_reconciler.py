"""The reconciler over a fake runtime: what starts, what waits, and why."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from edgeplane.agent.errors import AgentError, HubUnreachable
from edgeplane.agent.inventory import Capacity
from edgeplane.agent.reconciler import Reconciler
from edgeplane.agent.reporter import StatusReporter
from edgeplane.agent.runtimes import Phase
from edgeplane.agent.runtimes.fake import FakeRuntime
from edgeplane.agent.state import LocalState
from edgeplane.api.wire import Object


def assignment(
    name: str,
    uid: str = "u1",
    generation: int = 1,
    cpu: str = "100m",
    replicas: int | None = None,
    **workload: Any,
) -> Object:
    process = {"command": "true", **workload} if "kubernetes" not in workload else None
    spec_workload = {"process": process} if process else {"kubernetes": workload["kubernetes"]}
    obj: Object = {
        "metadata": {"name": name, "uid": uid, "generation": generation, "resourceVersion": "1"},
        "spec": {
            "site": "s",
            "application": name,
            "workload": spec_workload,
            "resources": {"cpu": cpu},
        },
    }
    if replicas is not None:
        obj["spec"]["replicas"] = replicas
    return obj


class Artifacts:
    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.fetched: list[tuple[str, str, str]] = []

    async def ensure(self, name: str, version: str, sha256: str) -> Path:
        self.fetched.append((name, version, sha256))
        if self.error:
            raise self.error
        return Path(f"/artifacts/{sha256}")


def reconciler(
    tmp_path: Path, runtime: FakeRuntime, artifacts: Artifacts | None = None, cpu: str = "1"
) -> tuple[Reconciler, LocalState]:
    state = LocalState(tmp_path / "state.db")
    artifacts = artifacts or Artifacts()
    made = Reconciler(
        state, runtime, artifacts.ensure, Capacity.of(cpu, "1Gi"), asyncio.Event(), asyncio.Event()
    )
    return made, state


async def test_starts_what_fits_and_says_why_the_rest_waits(tmp_path: Path) -> None:
    runtime = FakeRuntime()
    rec, state = reconciler(tmp_path, runtime, cpu="1")
    state.replace_assignments([assignment("a", cpu="600m"), assignment("b", cpu="600m")], "1")
    await rec.reconcile()
    assert runtime.keys() == {"a"}
    assert rec.problems["b"].reason == "InsufficientCapacity"
    assert rec.problems["b"].phase is Phase.PENDING
    assert (rec.allocatable.cpu_millis, rec.allocatable.memory_bytes) == (400, 1024**3)
    assert runtime.specs["a"].workload["env"]["EDGEPLANE_SITE"] == "s"


async def test_removed_and_recreated_assignments(tmp_path: Path) -> None:
    runtime = FakeRuntime()
    rec, state = reconciler(tmp_path, runtime)
    state.replace_assignments([assignment("a"), assignment("b")], "1")
    await rec.reconcile()
    state.replace_assignments([assignment("a", uid="u2")], "2")
    await rec.reconcile()
    assert runtime.removed == ["b", "a"]
    assert runtime.starts == [("a", 1), ("b", 1), ("a", 1)]
    await rec.reconcile()  # nothing changed: nothing restarts
    assert len(runtime.starts) == 3


@pytest.mark.parametrize(
    ("error", "phase", "reason"),
    [
        (AgentError("sha256 mismatch"), Phase.FAILED, "ArtifactInvalid"),
        (HubUnreachable("down"), Phase.PENDING, "ArtifactUnavailable"),
    ],
    ids=["tampered", "hub-down"],
)
async def test_an_artifact_problem_starts_nothing(
    tmp_path: Path, error: Exception, phase: Phase, reason: str
) -> None:
    runtime = FakeRuntime()
    rec, state = reconciler(tmp_path, runtime, Artifacts(error))
    artifacts = [{"name": "svc", "version": "1", "sha256": "a" * 64}]
    state.replace_assignments([assignment("a", artifacts=artifacts)], "1")
    await rec.reconcile()
    assert runtime.keys() == set()
    assert (rec.problems["a"].phase, rec.problems["a"].reason) == (phase, reason)


async def test_kubernetes_workloads_are_refused_here(tmp_path: Path) -> None:
    runtime = FakeRuntime()
    rec, state = reconciler(tmp_path, runtime)
    state.replace_assignments([assignment("k", kubernetes={"manifests": []})], "1")
    await rec.reconcile()
    assert rec.problems["k"].reason == "UnsupportedWorkload"
    assert runtime.keys() == set()


async def test_replicas_scale_up_and_down_without_restarting_the_others(tmp_path: Path) -> None:
    runtime = FakeRuntime()
    rec, state = reconciler(tmp_path, runtime)
    state.replace_assignments([assignment("a", replicas=3)], "1")
    await rec.reconcile()
    assert runtime.keys() == {"a", "a_1", "a_2"}
    assert [runtime.specs[k].workload["env"]["EDGEPLANE_REPLICA"] for k in ("a", "a_1", "a_2")] == [
        "0",
        "1",
        "2",
    ]
    # The hub bumps the generation when replicas change; the workload is the same.
    state.replace_assignments([assignment("a", generation=2, replicas=5)], "2")
    await rec.reconcile()
    assert runtime.starts == [("a", 1), ("a_1", 1), ("a_2", 1), ("a_3", 2), ("a_4", 2)]
    assert {spec.generation for spec in runtime.specs.values()} == {2}
    state.replace_assignments([assignment("a", generation=3, replicas=1)], "3")
    await rec.reconcile()
    assert runtime.removed == ["a_4", "a_3", "a_2", "a_1"]
    assert runtime.keys() == {"a"} and len(runtime.starts) == 5
    assert rec.problems == {}


async def test_zero_replicas_run_nothing_and_keep_the_assignment(tmp_path: Path) -> None:
    runtime = FakeRuntime()
    rec, state = reconciler(tmp_path, runtime)
    state.replace_assignments([assignment("a", replicas=2)], "1")
    await rec.reconcile()
    state.replace_assignments([assignment("a", generation=2, replicas=0)], "2")
    await rec.reconcile()
    assert runtime.keys() == set()
    assert runtime.removed == ["a_1", "a"]
    assert set(state.assignments()) == {"a"} and rec.problems == {}
    assert rec.allocatable.cpu_millis == 1000
    state.replace_assignments([assignment("a", generation=3, replicas=1)], "3")
    await rec.reconcile()
    assert runtime.keys() == {"a"}


async def test_replicas_that_do_not_fit_wait_and_say_how_many(tmp_path: Path) -> None:
    runtime = FakeRuntime()
    rec, state = reconciler(tmp_path, runtime, cpu="1")
    state.replace_assignments([assignment("a", cpu="300m", replicas=4)], "1")
    await rec.reconcile()
    assert runtime.keys() == {"a", "a_1", "a_2"}
    problem = rec.problems["a"]
    assert (problem.phase, problem.reason) == (Phase.PENDING, "InsufficientCapacity")
    assert problem.message.startswith("1 of 4 replicas wait: each needs cpu 300m")
    assert rec.allocatable.cpu_millis == 100


async def test_a_recreated_assignment_restarts_every_replica(tmp_path: Path) -> None:
    runtime = FakeRuntime()
    rec, state = reconciler(tmp_path, runtime)
    state.replace_assignments([assignment("a", replicas=2)], "1")
    await rec.reconcile()
    state.replace_assignments([assignment("a", uid="u2", replicas=2)], "2")
    await rec.reconcile()
    assert runtime.removed == ["a_1", "a"]
    assert runtime.starts == [("a", 1), ("a_1", 1), ("a", 1), ("a_1", 1)]


async def test_a_removed_assignment_stops_all_its_replicas(tmp_path: Path) -> None:
    runtime = FakeRuntime()
    rec, state = reconciler(tmp_path, runtime)
    state.replace_assignments([assignment("a", replicas=3), assignment("b")], "1")
    await rec.reconcile()
    state.replace_assignments([assignment("b")], "2")
    await rec.reconcile()
    assert runtime.removed == ["a_2", "a_1", "a"]
    assert runtime.keys() == {"b"}


async def test_an_assignment_the_agent_cannot_take_fails_alone(tmp_path: Path) -> None:
    runtime = FakeRuntime()
    rec, state = reconciler(tmp_path, runtime)
    broken = assignment("a")
    broken["spec"]["workload"]["process"]["env"] = [{"value": "no name"}]  # past admission
    state.replace_assignments([broken, assignment("b")], "1")
    await rec.reconcile()
    assert runtime.keys() == {"b"}
    assert (rec.problems["a"].phase, rec.problems["a"].reason) == (Phase.FAILED, "AgentError")
    assert rec.problems["a"].message == "the agent cannot run it (KeyError)"


async def test_an_assignment_the_agent_cannot_read_fails_alone(tmp_path: Path) -> None:
    """The hub validates assignments, but one it should not have sent (a hostile or
    broken hub, a proxy) made every reconcile pass raise: nothing started or stopped."""
    runtime = FakeRuntime()
    rec, state = reconciler(tmp_path, runtime)
    state.replace_assignments([assignment("a"), assignment("b")], "1")
    await rec.reconcile()
    assert runtime.keys() == {"a", "b"}

    b = assignment("b", generation=2)
    b["spec"]["replicas"] = "three"
    c = assignment("c", cpu="lots")
    state.replace_assignments([assignment("a"), b, c, assignment("d")], "2")
    await rec.reconcile()
    assert runtime.keys() == {"a", "b", "d"}  # d starts; b's running replica stays
    assert {n: (p.phase, p.reason) for n, p in rec.problems.items()} == {
        "b": (Phase.FAILED, "AgentError"),
        "c": (Phase.FAILED, "AgentError"),
    }
    assert "QuantityError" in rec.problems["c"].message
    assert "ValueError" in rec.problems["b"].message


class Link:
    """The hub's side of status writes: each patch kept, the status given back."""

    def __init__(self) -> None:
        self.sent: dict[str, dict[str, Any]] = {}

    async def patch_status(self, plural: str, name: str, status: dict[str, Any]) -> Any:
        self.sent[name] = status
        return {"status": status}


async def test_the_status_of_an_unreadable_assignment_does_not_stop_the_others(
    tmp_path: Path,
) -> None:
    runtime = FakeRuntime()
    rec, state = reconciler(tmp_path, runtime)
    bad = assignment("a")
    bad["spec"]["replicas"] = "three"
    state.replace_assignments([bad, assignment("z")], "1")
    await rec.reconcile()
    link = Link()
    reporter = StatusReporter(
        link,  # type: ignore[arg-type]
        state,
        "s",
        runtime,
        rec,
        dict,
        "h",
        asyncio.Event(),
    )
    await reporter.report()
    assert link.sent["a"]["reason"] == "AgentError"
    assert "z" in link.sent


class OfflineHub:
    """A hub that holds the site Offline and echoes the inventory it last stored."""

    def __init__(self, inventory: dict[str, Any]) -> None:
        self.inventory, self.writes = inventory, 0

    async def patch_status(self, plural: str, name: str, status: dict[str, Any]) -> Any:
        self.writes += 1
        return {"status": {"phase": "Offline", "inventory": self.inventory}}

    async def heartbeat(self, site: str, held: dict[str, str] | None = None) -> dict[str, Any]:
        return {"phase": "Offline", "rotation": None}


@pytest.mark.parametrize("protocol", ["v1", "v2"])
@pytest.mark.parametrize(
    ("inventory", "asks_again"),
    [
        ({"runtime": "kubernetes", "nodes": 3, "readyNodes": 0}, False),
        ({"runtime": "kubernetes", "nodes": 3, "readyNodes": 1}, True),
        ({"runtime": "process"}, True),
    ],
    ids=["no-node-ready-stays-offline", "a-node-ready-says-online", "process-host"],
)
async def test_a_heartbeat_answered_offline_asks_for_a_report_unless_no_node_is_ready(
    tmp_path: Path, inventory: dict[str, Any], asks_again: bool, protocol: str
) -> None:
    runtime = FakeRuntime()
    rec, state = reconciler(tmp_path, runtime)
    changed, hub = asyncio.Event(), OfflineHub(inventory)
    reporter = StatusReporter(
        hub,  # type: ignore[arg-type]
        *(state, "s", runtime, rec, dict, "h", changed),
        hub_protocol=protocol,
    )
    # Learns what the hub holds: from a v1 heartbeat's answer (a Site), or from the
    # answer to a status report (a v2 heartbeat's answer holds only the phase).
    await (reporter.heartbeat() if protocol == "v1" else reporter.report())
    writes = hub.writes
    changed.clear()
    await reporter.heartbeat()
    assert changed.is_set() is asks_again
    assert hub.writes == writes + (1 if protocol == "v1" else 0)
