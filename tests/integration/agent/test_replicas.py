"""Replicas with a real hub and a real agent process: an Assignment of 3 replicas runs
3 processes, each on its own port with its own EDGEPLANE_REPLICA; a restarted agent
adopts all 3; scaling to 1 stops the other two and keeps the first; 0 runs nothing.
Then, on the process runtime alone, why the replicas that stay are not restarted.

Placement writes ``replicas: 1`` today, so the Assignment is created through the admin
API. Its Application names an artifact the hub does not have: placement then keeps the
application's stored assignments as they are ("keep what runs until the artifact is
there") instead of deleting one it did not write or resetting its replicas.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, TypeVar

import pytest

from edgeplane.agent.runtimes import InstanceSpec, InstanceStatus, Phase
from edgeplane.agent.runtimes.process import ProcessRuntime, Timings
from edgeplane.agent.runtimes.process.cleanup import kill_recorded
from edgeplane.api.wellknown import APPLICATION_LABEL, SITE_LABEL
from tests.support.fleet import (
    DEMO_SERVICE,
    Fleet,
    demo_app,
    tarball,
    wait_for,
    who,
)
from tests.support.waiting import wait_until_async

pytestmark = pytest.mark.timeout(240)
NAME = "web.site-a"
T = TypeVar("T")


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def replica_env(pid: int) -> str:
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(v.decode().partition("=")[::2] for v in environ if v)["EDGEPLANE_REPLICA"]


def assignment(sha256: str, replicas: int) -> dict[str, Any]:
    """``web`` at site-a, as placement would render it, with ``replicas``."""
    workload = demo_app("web")["spec"]["workload"]
    workload["process"]["artifacts"][0]["sha256"] = sha256
    return {
        "apiVersion": "edgeplane.io/v1alpha1",
        "kind": "Assignment",
        "metadata": {"name": NAME, "labels": {SITE_LABEL: "site-a", APPLICATION_LABEL: "web"}},
        "spec": {
            "application": "web",
            "revision": 1,
            "site": "site-a",
            "replicas": replicas,
            "workload": workload,
            "resources": {"cpu": "100m", "memory": "32Mi"},
        },
    }


def scale(fleet: Fleet, replicas: int) -> int:
    """Set the assignment's replicas; its new generation."""
    obj = fleet.ok("GET", f"/assignments/{NAME}")
    obj["spec"]["replicas"] = replicas
    return int(fleet.ok("PUT", f"/assignments/{NAME}", obj)["metadata"]["generation"])


def settled(fleet: Fleet, ready: int, generation: int | None = None) -> dict[str, Any] | None:
    """The assignment's status once it reports ``ready`` replicas at its generation."""
    obj = fleet.ok("GET", f"/assignments/{NAME}")
    status = obj.get("status") or {}
    wanted = generation or obj["metadata"]["generation"]
    if status.get("observedGeneration") != wanted or status.get("ready") != ready:
        return None
    return status if status.get("phase") == "Running" else None


def test_three_replicas_adopted_scaled_to_one_then_zero(fleet: Fleet) -> None:
    pushed = fleet.push_artifact("demo-service", "1.0.0", tarball(DEMO_SERVICE))
    agent = fleet.add_agent("site-a")
    wait_for(lambda: fleet.site_phase("site-a") == "Online", "site-a online")
    fleet.ok("POST", "/applications", demo_app("web", version="0.0.0-not-pushed"))
    fleet.ok("POST", "/assignments", assignment(str(pushed["sha256"]), 3))

    status = wait_for(lambda: settled(fleet, 3), "3 replicas ready")
    urls = [e["url"] for e in status["endpoints"]]
    pids = [who(url)["pid"] for url in urls]
    assert len(set(urls)) == len(set(pids)) == 3, "each replica on its own port"
    assert [replica_env(pid) for pid in pids] == ["0", "1", "2"]
    assert status["endpoints"][0]["url"] == urls[0] and status["restarts"] == 0
    runtime = agent.data_dir / "runtime" / "process"
    keys = ["web.site-a", "web.site-a_1", "web.site-a_2"]
    assert sorted(p.stem for p in (runtime / "instances").glob("*.json")) == keys
    assert sorted(p.name for p in (runtime / "logs").glob("*.log")) == [f"{k}.log" for k in keys]
    assert len({os.getsid(pid) for pid in pids}) == 3, "each replica in its own session"

    agent.kill9()
    agent.start()  # adopts each replica by its pid and /proc start time
    wait_for(lambda: agent.log.read_text().count("adopted pid") == 3, "3 replicas adopted")
    wait_for(lambda: fleet.site_phase("site-a") == "Online", "site-a back online")
    assert [who(url)["pid"] for url in urls] == pids
    assert fleet.ok("GET", f"/assignments/{NAME}")["status"]["restarts"] == 0

    one = scale(fleet, 1)
    status = wait_for(lambda: settled(fleet, 1, one), "scaled to 1 replica")
    assert [e["url"] for e in status["endpoints"]] == urls[:1]
    wait_for(lambda: not any(alive(p) for p in pids[1:]), "replicas 1 and 2 stopped")
    assert who(urls[0])["pid"] == pids[0], "replica 0 was not restarted"
    assert sorted(p.stem for p in (runtime / "instances").glob("*.json")) == keys[:1]

    zero = scale(fleet, 0)
    status = wait_for(lambda: settled(fleet, 0, zero), "scaled to 0 replicas")
    assert status["reason"] == "ScaledToZero" and "endpoints" not in status
    wait_for(lambda: not alive(pids[0]), "replica 0 stopped")
    assert fleet.api("GET", f"/assignments/{NAME}").status_code == 200
    assert not list((runtime / "instances").glob("*.json"))


async def test_a_new_generation_of_the_same_workload_restarts_nothing(tmp_path: Path) -> None:
    """What lets a scale-up or -down leave the other replicas alone: the hub bumps the
    assignment's generation, but their workload is the same, so the runtime takes the
    new generation on in place, and a restarted runtime adopts it at that generation."""
    timings = Timings(poll_seconds=0.05)
    workload = {"command": "sleep", "args": ["300"], "env": {"EDGEPLANE_REPLICA": "1"}}
    runtime = ProcessRuntime(tmp_path / "runtime", timings=timings)
    await runtime.start()
    try:
        await runtime.ensure(InstanceSpec("web.s_1", 1, workload))
        first = await wait_until_async(
            lambda: running(runtime, "web.s_1", 1), "generation 1 running"
        )
        await runtime.ensure(InstanceSpec("web.s_1", 2, dict(workload)))
        second = await wait_until_async(lambda: running(runtime, "web.s_1", 2), "generation 2")
        assert second.pid == first.pid and second.restarts == 0
        await runtime.close()
        runtime = ProcessRuntime(tmp_path / "runtime", timings=timings)
        await runtime.start()
        adopted = await wait_until_async(lambda: running(runtime, "web.s_1", 2), "adopted at 2")
        assert adopted.pid == first.pid
        await runtime.ensure(InstanceSpec("web.s_1", 3, {**workload, "args": ["301"]}))
        third = await wait_until_async(lambda: running(runtime, "web.s_1", 3), "generation 3")
        assert third.pid != first.pid, "a changed workload is restarted"
    finally:
        await runtime.close()
        kill_recorded(tmp_path / "runtime")


def running(runtime: ProcessRuntime, key: str, generation: int) -> InstanceStatus | None:
    status = runtime.statuses().get(key)
    if status is None or status.generation != generation or status.phase is not Phase.RUNNING:
        return None
    return status if status.pid is not None else None
