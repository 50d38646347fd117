"""Both runtimes at one site: the composite runtime's routing (a real process runtime
beside a fake kubernetes one), the reconciler's set of kinds, and the flags."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import pytest

from edgeplane.agent.__main__ import parser, settings_from
from edgeplane.agent.agent import join_inventory
from edgeplane.agent.inventory import Capacity
from edgeplane.agent.reconciler import Reconciler
from edgeplane.agent.requests import answer
from edgeplane.agent.runtimes import CpuUse, InstanceSpec, Phase
from edgeplane.agent.runtimes.fake import FakeRuntime
from edgeplane.agent.runtimes.mixed import MixedRuntime
from edgeplane.agent.runtimes.process import ProcessRuntime, Timings
from edgeplane.agent.state import LocalState
from edgeplane.api.wire import Object
from tests.support.waiting import wait_until_async
from tests.unit.agent.kubernetes.test_wiring import assignment

SLEEP = {
    "command": sys.executable,
    "args": ["-c", "import time; print('up', flush=True); time.sleep(60)"],
}
MANIFESTS = {"manifests": [{"apiVersion": "v1", "kind": "ConfigMap"}], "namespace": "shop"}


@pytest.fixture
async def mixed(tmp_path: Path) -> Any:
    process = ProcessRuntime(tmp_path / "runtime", timings=Timings(backoff_initial=0.1))
    runtime = MixedRuntime(process, FakeRuntime())
    await runtime.start()
    try:
        yield runtime
    finally:
        for key in sorted(runtime.keys()):
            await runtime.remove(key)
        await runtime.close()


async def test_ensure_goes_by_the_workloads_kind_and_the_rest_by_the_key(
    mixed: MixedRuntime,
) -> None:
    kube = mixed.kubernetes
    assert isinstance(kube, FakeRuntime)
    await mixed.ensure(InstanceSpec("proc", 1, SLEEP))
    await mixed.ensure(InstanceSpec("shop", 1, MANIFESTS))
    assert (mixed.process.keys(), kube.keys(), mixed.keys()) == (
        {"proc"},
        {"shop"},
        {"proc", "shop"},
    )
    await wait_until_async(
        lambda: mixed.statuses()["proc"].phase == Phase.RUNNING or None, "running"
    )
    assert set(mixed.statuses()) == {"proc", "shop"}
    await wait_until_async(lambda: "up" in mixed.log_tail("proc", 5) or None, "its log")
    assert mixed.log_tail("shop", 5) == "shop: 5 lines\n"
    assert await answer(mixed, {"type": "logs", "assignment": "shop", "tail": 3}) == (
        "shop: 3 lines\n",
        None,
    )
    await mixed.remove("shop")
    assert kube.removed == ["shop"] and mixed.keys() == {"proc"}
    with pytest.raises(KeyError):
        mixed.log_tail("shop", 5)


async def test_a_workload_that_changed_kind_leaves_the_runtime_it_ran_in(
    mixed: MixedRuntime,
) -> None:
    await mixed.ensure(InstanceSpec("web", 1, SLEEP))
    await mixed.ensure(InstanceSpec("web", 2, MANIFESTS))
    assert mixed.process.keys() == set() and mixed.kubernetes.keys() == {"web"}


async def test_either_runtimes_change_sets_the_one_event(mixed: MixedRuntime) -> None:
    changed = mixed.changed()
    changed.clear()
    await mixed.ensure(InstanceSpec("shop", 1, MANIFESTS))  # the fake sets its own event
    async with asyncio.timeout(5):
        await changed.wait()
    changed.clear()
    await mixed.ensure(InstanceSpec("proc", 1, SLEEP))
    async with asyncio.timeout(10):
        await changed.wait()


def reconciler(
    tmp_path: Path, runtime: FakeRuntime, instances: int = 256
) -> tuple[Reconciler, LocalState]:
    state = LocalState(tmp_path / "state.db")
    capacity = Capacity(1000, 1024**3, "1", "1Gi", instances)
    made = Reconciler(
        state,
        runtime,
        _no_artifacts,
        capacity,
        asyncio.Event(),
        asyncio.Event(),
        runtime_kinds=("process", "kubernetes"),
    )
    return made, state


async def _no_artifacts(name: str, version: str, sha256: str) -> Path:
    raise AssertionError("no artifact is named")


def small(name: str, kind: str, replicas: int, cpu: str = "400m") -> Object:
    obj = assignment(name, kind=kind, replicas=replicas)
    obj["spec"]["resources"] = {"cpu": cpu, "memory": "1Mi"}
    return obj


async def test_both_kinds_run_each_admitted_as_its_runtime_would(tmp_path: Path) -> None:
    """Kubernetes assignments are one instance each and take none of the host's cpu
    (asking 64 cpus of a 1-cpu host); process replicas fit in the host's capacity."""
    runtime = FakeRuntime()
    rec, state = reconciler(tmp_path, runtime)
    state.replace_assignments(
        [small("shop", "kubernetes", 3, cpu="64"), small("proc", "process", 3)], "1"
    )
    await rec.reconcile()
    assert runtime.keys() == {"shop", "proc", "proc_1"}
    assert "manifests" in runtime.specs["shop"].workload
    assert runtime.specs["proc"].workload["command"] == "true"
    problem = rec.problems["proc"]
    assert (problem.phase, problem.reason) == (Phase.PENDING, "InsufficientCapacity")
    assert "1 of 3 replicas wait" in problem.message and set(rec.problems) == {"proc"}
    assert rec.allocatable.cpu_millis == 200


async def test_both_kinds_share_one_instance_cap(tmp_path: Path) -> None:
    runtime = FakeRuntime()
    rec, state = reconciler(tmp_path, runtime, instances=2)
    state.replace_assignments(
        [small("shop", "kubernetes", 1), small("proc", "process", 2, cpu="1m")], "1"
    )
    await rec.reconcile()
    assert runtime.keys() == {"shop", "proc"}
    assert rec.problems["proc"].reason == "InstanceLimit"


@pytest.mark.parametrize(
    ("kinds", "message"),
    [(("process", "vm"), "give process, kubernetes or both"), ((), "give process")],
    ids=["unknown", "none"],
)
def test_a_reconciler_runs_known_kinds_only(
    tmp_path: Path, kinds: tuple[str, ...], message: str
) -> None:
    state = LocalState(tmp_path / "state.db")
    with pytest.raises(ValueError, match=message):
        Reconciler(
            state,
            FakeRuntime(),
            _no_artifacts,
            Capacity(1, 1, "1m", "1", 1),
            asyncio.Event(),
            asyncio.Event(),
            kinds,
        )
    state.close()


@pytest.mark.parametrize(
    ("flag", "runtimes"),
    [
        ("process", ("process",)),
        ("kubernetes", ("kubernetes",)),
        ("process,kubernetes", ("process", "kubernetes")),
        ("kubernetes,process", ("kubernetes", "process")),
    ],
    ids=["process", "kubernetes", "both", "both-kubernetes-first"],
)
def test_the_runtime_flag(tmp_path: Path, flag: str, runtimes: tuple[str, ...]) -> None:
    """--cpu and --memory are allowed when process is among the runtimes."""
    argv = ["--data-dir", str(tmp_path), "--runtime", flag]
    if "kubernetes" in runtimes:
        argv += ["--kubeconfig", "/k"]
    if "process" in runtimes:
        argv += ["--cpu", "1"]
    settings = settings_from(parser().parse_args(argv))
    assert settings.runtime_kinds == runtimes
    assert (settings.kube is not None) == ("kubernetes" in runtimes)
    assert settings.cpu == (None if runtimes == ("kubernetes",) else "1")


@pytest.mark.parametrize(
    "flag", ["process,process", "vm", "process,kubernetes,process", "", "process,"]
)
def test_a_bad_runtime_flag_says_the_fix(
    tmp_path: Path, flag: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        parser().parse_args(["--data-dir", str(tmp_path), "--runtime", flag])
    assert "give process, kubernetes, or process,kubernetes" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("kinds", "keys"),
    [
        (("process",), {"arch", "os", "cpus", "hostname", "memory", "runtime", "runtimes"}),
        (("kubernetes",), {"runtime", "runtimes"}),
        (("kubernetes", "process"), {"arch", "os", "runtime", "runtimes"}),
    ],
    ids=["process", "kubernetes", "both"],
)
def test_the_join_inventory_says_what_the_agent_runs(
    kinds: tuple[str, ...], keys: set[str]
) -> None:
    inventory = join_inventory(kinds)
    assert inventory.keys() <= keys and {"runtime", "runtimes"} <= inventory.keys()
    assert (inventory["runtime"], inventory["runtimes"]) == (kinds[0], list(kinds))


async def test_cpu_is_asked_of_the_runtime_that_holds_each_key(mixed: MixedRuntime) -> None:
    kube = mixed.kubernetes
    assert isinstance(kube, FakeRuntime)
    await mixed.ensure(InstanceSpec("shop", 1, MANIFESTS))
    kube.cpu = {"shop": (CpuUse(0.2, 0.5),)}
    assert await mixed.sample_cpu(["shop", "proc"]) == {"shop": (CpuUse(0.2, 0.5),)}
    assert kube.cpu_asked == [{"shop"}]
