"""The agent's side of the kubernetes runtime, over a fake runtime: which instance an
assignment becomes, which workloads a site refuses and why, the assignment cap, the
status a Kubernetes instance reports, site facts from nodes, pod logs as a request
answer, and the flags."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from edgeplane.agent.__main__ import parser, settings_from
from edgeplane.agent.inventory import Capacity
from edgeplane.agent.reconciler import Reconciler
from edgeplane.agent.reporter import replicas_status, site_facts
from edgeplane.agent.requests import answer
from edgeplane.agent.runtimes import InstanceStatus, Phase
from edgeplane.agent.runtimes.fake import FakeRuntime
from edgeplane.agent.state import LocalState
from edgeplane.api.wire import Object

MANIFESTS = [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}]


def assignment(name: str, kind: str = "kubernetes", replicas: int = 3) -> Object:
    workload: dict[str, Any]
    if kind == "kubernetes":
        workload = {"kubernetes": {"manifests": MANIFESTS, "namespace": "shop", "force": False}}
    else:
        workload = {"process": {"command": "true"}}
    return {
        "metadata": {"name": name, "uid": "u", "generation": 4, "resourceVersion": "1"},
        "spec": {
            "site": "s1",
            "application": "web",
            "revision": 7,
            "replicas": replicas,
            "workload": workload,
            "resources": {"cpu": "64", "memory": "1Ti"},
        },
    }


async def _never(name: str, version: str, sha256: str) -> Path:
    raise AssertionError("a kubernetes site fetches no artifacts")


def reconciler(
    tmp_path: Path, runtime: FakeRuntime, kind: str = "kubernetes", instances: int = 256
) -> tuple[Reconciler, LocalState]:
    state = LocalState(tmp_path / "state.db")
    capacity = Capacity(1000, 1024**3, "1", "1Gi", instances)
    made = Reconciler(
        state, runtime, _never, capacity, asyncio.Event(), asyncio.Event(), runtime_kinds=kind
    )
    return made, state


async def test_a_kubernetes_assignment_is_one_instance_with_its_identity(
    tmp_path: Path,
) -> None:
    runtime = FakeRuntime()
    rec, state = reconciler(tmp_path, runtime)
    # 64 cpus and 3 replicas on a site of 1 cpu: the cluster's scheduler decides.
    state.replace_assignments([assignment("web-s1")], "1")
    await rec.reconcile()
    assert rec.problems == {}
    assert runtime.keys() == {"web-s1"}
    spec = runtime.specs["web-s1"]
    assert spec.generation == 4
    assert spec.workload == {
        "manifests": MANIFESTS,
        "namespace": "shop",
        "force": False,
        "identity": {"site": "s1", "application": "web", "assignment": "web-s1", "revision": 7},
    }


@pytest.mark.parametrize(
    ("site", "workload", "says"),
    [
        ("kubernetes", "process", "this site runs the kubernetes runtime"),
        ("process", "kubernetes", "this site runs the process runtime"),
    ],
    ids=["process-on-kubernetes", "kubernetes-on-process"],
)
async def test_a_workload_of_the_other_runtime_is_unsupported(
    tmp_path: Path, site: str, workload: str, says: str
) -> None:
    runtime = FakeRuntime()
    rec, state = reconciler(tmp_path, runtime, kind=site)
    state.replace_assignments([assignment("a", kind=workload, replicas=1)], "1")
    await rec.reconcile()
    problem = rec.problems["a"]
    assert (problem.phase, problem.reason) == (Phase.FAILED, "UnsupportedWorkload")
    assert problem.message.startswith(says)
    assert runtime.starts == []


async def test_assignments_past_the_cap_wait_and_running_ones_keep_their_place(
    tmp_path: Path,
) -> None:
    runtime = FakeRuntime()
    rec, state = reconciler(tmp_path, runtime, instances=1)
    state.replace_assignments([assignment("b")], "1")
    await rec.reconcile()
    state.replace_assignments([assignment("a"), assignment("b")], "2")
    await rec.reconcile()
    assert runtime.keys() == {"b"}
    assert rec.problems["a"].reason == "InstanceLimit"


async def test_a_removed_assignment_is_removed_from_the_runtime(tmp_path: Path) -> None:
    runtime = FakeRuntime()
    rec, state = reconciler(tmp_path, runtime)
    state.replace_assignments([assignment("a"), assignment("b")], "1")
    await rec.reconcile()
    state.replace_assignments([assignment("b")], "2")
    await rec.reconcile()
    assert runtime.removed == ["a"] and runtime.keys() == {"b"}


def test_a_kubernetes_status_reports_its_ready_pods() -> None:
    instance = InstanceStatus(
        "web-s1", 4, Phase.STARTING, False, reason="Progressing", message="m", ready_count=2
    )
    status = replicas_status(assignment("web-s1"), [instance], None, "127.0.0.1")
    assert status["ready"] == 2 and status["phase"] == "Starting"
    assert status["reason"] == "Progressing" and status["observedGeneration"] == 4


async def test_site_facts_take_capacity_from_the_nodes(tmp_path: Path) -> None:
    runtime = FakeRuntime()
    rec, _ = reconciler(tmp_path, runtime)
    inventory = {"runtime": "kubernetes", "nodes": 3, "readyNodes": 2}
    room = ({"cpu": "24", "memory": "96Gi"}, {"cpu": "23500m", "memory": "90Gi"})
    facts = site_facts(rec, runtime, inventory, "10.0.0.1", room)
    assert facts["capacity"] == room[0] and facts["allocatable"] == room[1]
    assert facts["inventory"] == inventory
    unknown = site_facts(rec, runtime, inventory, "10.0.0.1", ({}, {}))
    assert "capacity" not in unknown and "allocatable" not in unknown


class LogsRuntime(FakeRuntime):
    def __init__(self, error: Exception | None = None) -> None:
        super().__init__()
        self.error = error

    async def read_logs(self, key: str, lines: int) -> str:
        if self.error is not None:
            raise self.error
        if key != "web-s1":
            raise KeyError(key)
        return f"[web-1/web] {lines} lines\n"


@pytest.mark.parametrize(
    ("runtime", "key", "text", "error"),
    [
        (LogsRuntime(), "web-s1", "[web-1/web] 5 lines\n", None),
        (LogsRuntime(), "other", "", "no workload of assignment 'other' runs at this site (yet)"),
        (
            LogsRuntime(OSError("pods is forbidden")),
            "web-s1",
            "",
            "the logs of assignment 'web-s1' were not read: pods is forbidden",
        ),
    ],
    ids=["read", "unknown", "refused"],
)
async def test_pod_logs_answer_a_request(
    runtime: LogsRuntime, key: str, text: str, error: str | None
) -> None:
    request = {"type": "logs", "assignment": key, "tail": 5}
    assert await answer(runtime, request) == (text, error)


def _settings(*flags: str) -> Any:
    return settings_from(parser().parse_args(["--data-dir", "/d", *flags]))


def test_the_kubernetes_flags() -> None:
    kube = _settings(
        "--runtime",
        "kubernetes",
        "--kubeconfig",
        "/k.yaml",
        "--kube-context",
        "c",
        "--node-pool",
        "edgeplane.io/site=pool-a",
        "--kube-poll-seconds",
        "0.5",
    ).kube
    assert kube.kubeconfig == Path("/k.yaml") and kube.context == "c"
    assert kube.node_pool == ("edgeplane.io/site", "pool-a") and kube.poll_seconds == 0.5
    assert _settings().kube is None


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        (["--kubeconfig", "/k"], "--kubeconfig needs --runtime kubernetes"),
        (["--node-pool", "a=b"], "--node-pool needs --runtime kubernetes"),
        (["--runtime", "kubernetes", "--node-pool", "nope"], "--node-pool 'nope': give KEY=VALUE"),
        (["--runtime", "kubernetes", "--node-pool", "a=b c"], "--node-pool 'a=b c'"),
        (["--runtime", "kubernetes", "--cpu", "2"], "capacity comes from its nodes"),
    ],
    ids=["kubeconfig-alone", "pool-alone", "pool-no-value", "pool-bad-value", "cpu"],
)
def test_bad_kubernetes_flags_say_the_fix(flags: list[str], says: str) -> None:
    with pytest.raises(ValueError) as refused:
        _settings(*flags)
    assert says in str(refused.value)
