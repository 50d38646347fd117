"""Autoscaling metrics from a site, against the hub's real API and store (in process, as
``test_sync``): an assignment whose ``spec.metrics`` names ``cpu`` and a custom metric
comes down the agent's sync, its workload (a real busy process) reports the custom
one to the agent's publishing endpoint over HTTP, and the agent's metering and status
reporter write both into ``status.metrics``, which the hub validates and stores.

The hub does not put ``spec.metrics`` into assignments here (its autoscaler does that):
the assignment is written to the store as the hub's would be. The whole flow, with the
hub's autoscaler summing the sites up, is an end-to-end test of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from edgeplane.agent.data import DataPlane
from edgeplane.agent.hublink import HubLink
from edgeplane.agent.inventory import Capacity
from edgeplane.agent.metering import Metering
from edgeplane.agent.metrics import ReportedMetrics
from edgeplane.agent.reconciler import Reconciler
from edgeplane.agent.reporter import StatusReporter
from edgeplane.agent.runtimes.process import ProcessRuntime, Timings
from edgeplane.agent.runtimes.process.cleanup import kill_recorded
from edgeplane.agent.state import LocalState
from edgeplane.agent.sync import AssignmentSync
from edgeplane.api.wire import Object
from edgeplane.hub.app import HubSettings, create_app
from edgeplane.hub.auth import bootstrap_admin, mint
from edgeplane.store.factory import open_store, sqlite_url
from edgeplane.store.sql import SqlStore
from tests.support.builders import assignment, site
from tests.support.waiting import wait_until_async

pytestmark = pytest.mark.timeout(120)

WORKLOAD = """
import json, os, time, urllib.request
url = os.environ["EDGEPLANE_DATA_URL"] + "/metrics"
headers = {
    "Authorization": "Bearer " + os.environ["EDGEPLANE_DATA_TOKEN"],
    "Content-Type": "application/json",
}
report = {"replica": int(os.environ["EDGEPLANE_REPLICA"]), "metrics": {"requests_per_second": 42}}
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
end = time.monotonic() + 100
while time.monotonic() < end:
    busy = time.monotonic() + 0.2
    while time.monotonic() < busy:
        pass
    try:
        opener.open(urllib.request.Request(url, json.dumps(report).encode(), headers), timeout=5)
    except Exception as e:
        print("report refused:", e, flush=True)
"""
"""Busy most of the time (about one core), reporting its requests per second between."""
FAST = Timings(poll_seconds=0.05, backoff_initial=0.2, backoff_cap=1.0, backoff_reset=30.0)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqlStore]:
    store = open_store(sqlite_url(tmp_path), poll_interval=0.05)
    await store.open()
    yield store
    await store.close()


@pytest.fixture
async def link(store: SqlStore, tmp_path: Path) -> AsyncIterator[HubLink]:
    await bootstrap_admin(store, tmp_path)
    credential, record = mint("a", "site")
    await store.put_token(record)
    app = create_app(store, HubSettings(data_dir=tmp_path, bookmark_seconds=0.2))
    link = HubLink("http://hub", credential, transport=httpx.ASGITransport(app=app))
    yield link
    await link.close()


def autoscaled() -> Object:
    return assignment(
        "web",
        "a",
        workload={"process": {"command": sys.executable, "args": ["-c", WORKLOAD]}},
        spec={"resources": {"cpu": "500m"}, "metrics": ["cpu", "requests_per_second"]},
    )


def reported(status: dict[str, Any]) -> dict[str, Any] | None:
    """status.metrics by name, once both metrics are there."""
    metrics = {m["name"]: m for m in status.get("metrics") or []}
    return metrics if set(metrics) == {"cpu", "requests_per_second"} else None


async def test_the_status_carries_cpu_and_the_workloads_metric(
    store: SqlStore, link: HubLink, tmp_path: Path
) -> None:
    await store.create(site("a"))
    await store.create(autoscaled())
    agent = tmp_path / "agent"
    state = LocalState(agent / "state.db")
    runtime = ProcessRuntime(agent / "runtime", timings=FAST)
    metrics = ReportedMetrics(runtime.keys)
    (agent / "data").mkdir(mode=0o700)
    data = DataPlane(agent / "data", "a", link, state.assignments, metrics=metrics)
    wake, changed = asyncio.Event(), runtime.changed()
    reconciler = Reconciler(
        state,
        runtime,
        lambda *_: None,  # type: ignore[arg-type]  # no artifacts
        Capacity.detect("2", "1Gi", 10),
        wake,
        changed,
    )
    reconciler.extra_env = data.env_for
    metering = Metering(state.assignments, runtime, metrics, changed, period=0.5)
    reporter = StatusReporter(
        link, state, "a", runtime, reconciler, dict, "127.0.0.1", changed, metrics=metering.of
    )
    await runtime.start()
    await data.start()
    loops = [
        AssignmentSync(link, state, "a", wake).run(),
        reconciler.run(),
        reporter.run_status(),
        metering.run(),
    ]
    tasks = [asyncio.create_task(loop) for loop in loops]
    try:
        stored = await wait_until_async(
            lambda: _status(store), "status.metrics with cpu and the workload's", 90, every=0.2
        )
        assert stored["requests_per_second"] == {
            "name": "requests_per_second",
            "value": 42,
            "samples": 1,
        }
        assert stored["cpu"]["samples"] == 1
        assert stored["cpu"]["value"] > 20, "a busy workload uses over 0.1 of its 0.5 cores"
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.wait(tasks, timeout=10)
        await runtime.close()
        kill_recorded(agent / "runtime")
        await data.server.close()
        with contextlib.suppress(Exception):
            data.spool.close()
        data._pool.shutdown()
        state.close()


async def _status(store: SqlStore) -> dict[str, Any] | None:
    obj = await store.get("Assignment", "web.a")
    return reported(obj.get("status") or {})
