"""One assignment whose apply never finishes (a CRD that never becomes Established,
an apiserver answering slowly) against the runtime's status pass: the other
assignments' statuses are still read every pass."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from edgeplane.agent.runtimes import InstanceSpec, Phase
from edgeplane.agent.runtimes.kubernetes import runtime as runtime_module
from edgeplane.agent.runtimes.kubernetes.apply import ApplyOutcome
from tests.unit.agent.kubernetes.test_runtime import (
    Clock,
    FakeApply,
    FakeCluster,
    in_cluster,
    make,
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
