"""``converge.py --sites N``: apply -> Running at every simulated site, as the hub sees it.

A real hub (pinned to CPU 0) and ``edgeplane sim --start-delay 0:0`` (pinned to CPU 1,
so the figure is the control plane's, not a simulated start). Per run: an admin watch
on the application's Assignments is opened first, then an ``EverySite`` application is
created; each site's time is from just before the create to the watch event in which its
Assignment's ``status.phase`` first reads Running. Then the application is deleted and
its Assignments waited away. The watch reads events whole but parses only those that
mention Running, to stay cheap at 10,000 sites.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

from benchmarks.support.hubproc import pinned_hub
from benchmarks.support.loadproc import LoadProcess, sim_against
from benchmarks.support.stats import percentile
from tests.support.fleet import DEMO_SERVICE, demo_app, tarball

API = "/api/v1alpha1"
APP_LABEL = "edgeplane.io/application"


class RunningWatch:
    """When each site's Assignment of one application was first seen Running."""

    def __init__(self, client: httpx.AsyncClient, app: str, version: str) -> None:
        self.client, self.app, self.version = client, app, version
        self.running: dict[str, float] = {}
        self.open = asyncio.Event()

    async def run(self) -> None:
        params = {
            "watch": "true",
            "resourceVersion": self.version,
            "labelSelector": f"{APP_LABEL}={self.app}",
        }
        async with self.client.stream(
            "GET", f"{API}/assignments", params=params, timeout=None
        ) as r:
            r.raise_for_status()
            self.open.set()
            async for line in r.aiter_lines():
                if b'"Running"' in (raw := line.encode()):
                    self._note(orjson.loads(raw), time.monotonic())

    def _note(self, event: dict[str, Any], at: float) -> None:
        item = event.get("object") or {}
        if (item.get("status") or {}).get("phase") == "Running":
            self.running.setdefault(item["spec"]["site"], at)


async def version_now(client: httpx.AsyncClient) -> str:
    answer = await client.get(f"{API}/assignments", params={"limit": 1})
    answer.raise_for_status()
    return str(answer.json()["metadata"]["resourceVersion"])


async def until(check: Any, what: str, within: float) -> None:
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within:.0f} s waiting for {what}")
        await asyncio.sleep(0.2)


async def converge_run(
    client: httpx.AsyncClient, name: str, sites: int, within: float
) -> dict[str, Any]:
    watch = RunningWatch(client, name, await version_now(client))
    task = asyncio.create_task(watch.run())
    try:
        async with asyncio.timeout(30):
            await watch.open.wait()
        started = time.monotonic()
        (await client.post(f"{API}/applications", json=demo_app(name))).raise_for_status()

        async def all_running() -> bool:
            if task.done():
                task.result()  # the watch failed: say why
            return len(watch.running) >= sites

        await until(all_running, f"{name} Running at {sites} sites", within)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
            await task
    times = [at - started for at in watch.running.values()]
    (await client.delete(f"{API}/applications/{name}")).raise_for_status()
    await until(lambda: none_left(client, name), f"{name}'s assignments removed", within)
    return {
        "sites": sites,
        "p50_s": round(percentile(times, 50), 3),
        "p99_s": round(percentile(times, 99), 3),
        "max_s": round(max(times), 3),
    }


async def none_left(client: httpx.AsyncClient, app: str) -> bool:
    params: dict[str, str | int] = {"labelSelector": f"{APP_LABEL}={app}", "limit": 1}
    answer = await client.get(f"{API}/assignments", params=params)
    return answer.status_code == 200 and not answer.json()["items"]


async def sim_runs(hub: Any, sites: int, args: Any, tmp: Path) -> list[dict[str, Any]]:
    argv = [*sim_against(hub), "--sites", str(sites), "--prefix", "conv", "--start-delay", "0:0"]
    load = LoadProcess(f"sim-{sites}", argv, tmp / f"sim-{sites}.log", args.load_cpu)
    await load.start()
    client = httpx.AsyncClient(base_url=hub.url, headers=hub.headers(), timeout=120)
    try:
        if not await load.wait_joined(sites, args.join_within):
            raise RuntimeError(f"the simulator did not join {sites} sites:\n{load.tail()}")
        runs = []
        for n in range(args.runs):
            runs.append(await converge_run(client, f"conv-{sites}-{n}", sites, args.within))
            print(f"  {sites} sites, run {n + 1}: {runs[-1]}", flush=True)
        return runs
    finally:
        await client.aclose()
        await load.stop()


def converge_sites(sites: int, args: Any) -> list[dict[str, Any]]:
    """A fresh hub and simulator for ``sites``; the runs' figures."""
    with (
        tempfile.TemporaryDirectory(prefix=f"ep-converge-{sites}-") as tmp,
        pinned_hub(Path(tmp) / "hub", cpu=args.hub_cpu) as hub,
    ):
        answer = httpx.put(
            f"{hub.url}{API}/artifacts/demo-service/1.0.0",
            content=tarball(DEMO_SERVICE),
            headers={**hub.headers(), "Content-Type": "application/gzip"},
            timeout=60,
        )
        answer.raise_for_status()
        return asyncio.run(sim_runs(hub, sites, args, Path(tmp)))
