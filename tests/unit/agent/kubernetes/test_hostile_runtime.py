"""One assignment whose apply never finishes (a CRD that never becomes Established,
an apiserver answering slowly) against the runtime's status pass: the other
assignments' statuses are still read every pass."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from edgeplane.agent.runtimes import InstanceSpec, Phase
from edgeplane.agent.runtimes.kubernetes import facts as facts_module
from edgeplane.agent.runtimes.kubernetes import runtime as runtime_module
from edgeplane.agent.runtimes.kubernetes.apply import ApplyOutcome
from edgeplane.agent.runtimes.kubernetes.facts import ClusterView
from edgeplane.agent.runtimes.kubernetes.nodes import cluster_facts
from edgeplane.agent.runtimes.kubernetes.pool import KubeSettings
from tests.unit.agent.kubernetes.test_runtime import (
    Clock,
    FakeApply,
    FakeCluster,
    in_cluster,
    make,
    node,
    workload,
)


class StuckApply(FakeApply):
    """apply.py for which one assignment's apply hangs once retried."""

    async def apply_objects(self, client: Any, objects: list[dict[str, Any]], **kw: Any) -> Any:
        if kw["assignment"] == "bad-s1" and len(self.calls) > 1:
            await asyncio.Event().wait()  # never established, never answered
        return await super().apply_objects(client, objects, **kw)


async def test_a_retry_that_never_ends_holds_no_other_status(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    cluster = FakeCluster()
    fake = StuckApply(cluster=cluster)
    for name in ("apply_objects", "delete_objects", "applied_refs"):
        monkeypatch.setattr(runtime_module, name, getattr(fake, name))
    clock = Clock()
    runtime = make(cluster, tmp_path, clock, poll_seconds=0.2)
    fake.outcome = ApplyOutcome((), (), (), "CustomResourceDefinition w: not Established")
    await runtime.ensure(InstanceSpec("bad-s1", 1, workload(namespace="bad")))
    fake.outcome = ApplyOutcome((), (), (), None)
    await runtime.ensure(InstanceSpec("web-s1", 1, workload()))
    in_cluster(cluster, "shop", ready=2)
    clock.now += 60.0  # the bad one's retry is due: it never returns
    try:
        async with asyncio.timeout(5):
            await runtime.poll()
            await runtime.poll()  # the retry still runs: not started twice
        status = runtime.statuses()["web-s1"]
        assert (status.phase, status.ready_count) == (Phase.RUNNING, 2)
        assert len(fake.calls) == 2
    finally:
        await runtime.close()


def many_pods(count: int) -> list[dict[str, Any]]:
    """Every other one on node ``a``; the first five of those request 300m of cpu."""
    requests = {"requests": {"cpu": "100m"}}
    some = [{"name": f"c{i}", "resources": requests} for i in range(3)]
    none = [{"name": f"c{i}", "resources": {}} for i in range(3)]
    return [
        {
            "metadata": {"name": f"p{i}", "namespace": "big"},
            "spec": {
                "nodeName": "a" if i % 2 else "elsewhere",
                "containers": (some if i < 10 else none),
            },
            "status": {"phase": "Running"},
        }
        for i in range(count)
    ]


async def test_the_facts_of_a_big_cluster_are_summed_off_the_event_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """20000 pods take most of a second to add up: the sum runs in a worker thread, and
    the loop serves other tasks meanwhile (decided by where it ran, not by a clock)."""
    cluster = FakeCluster(nodes=[node("a", ready=True)])
    cluster.objects[("v1", "Pod")] = many_pods(20_000)
    view = ClusterView(cluster, KubeSettings("s1"))  # type: ignore[arg-type]
    summed_on: list[int] = []
    ticks_while_summing: list[int] = []
    ticks = 0
    loop_thread = threading.get_ident()

    def watched(*args: Any, **kwargs: Any) -> Any:
        summed_on.append(threading.get_ident())
        before = ticks
        while ticks == before and summed_on[0] != loop_thread:  # the loop goes on meanwhile
            time.sleep(0.001)
        ticks_while_summing.append(ticks - before)
        return cluster_facts(*args, **kwargs)

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0)
            ticks += 1

    monkeypatch.setattr(facts_module, "cluster_facts", watched)
    ticker = asyncio.create_task(tick())
    async with asyncio.timeout(30):
        await view.refresh()
    ticker.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await ticker
    assert summed_on and summed_on[0] != loop_thread
    assert ticks_while_summing[0] >= 1
    assert view.facts is not None and view.facts.nodes == 1
    assert view.facts.allocatable["cpu"] == "2500m"  # 4 cores, 5 pods of 300m on ``a``
