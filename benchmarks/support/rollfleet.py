"""The I/O half of ``benchmarks/rollout.py``: a hub, three simulators, and the runs.

A real hub (SQLite) pinned to CPU 0 and one ``edgeplane sim --start-delay 0:0`` per
ring (``rolling.RINGS``) pinned to CPU 1, so each site reports Starting then Running as
soon as it is told and the figures are the control plane's. Once every site has joined
and the application runs everywhere, each run is two rollouts:

* a good release: from just before the PATCH of ``spec.workload`` until
  ``status.rollout`` says Succeeded at the new revision (polled every 0.25 s); less
  ``minSuccessSeconds`` once per wave, that is ``overhead_s``;
* a failing release (``EDGEPLANE_SIM_FAIL=1``): an admin watch on the application's
  Assignments, opened first, times the first event in which a site reports the new
  revision failing and the event in which the last Assignment naming it names the
  stable revision again: ``rollback_issue_s``; then the run waits for RolledBack and
  every site ready again.

Neighbours: ``rolling`` (the pure parts), ``hubproc``, ``loadproc``.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

from benchmarks.support.hubproc import pinned_hub
from benchmarks.support.loadproc import LoadProcess, sim_against
from benchmarks.support.rolling import (
    APP,
    FAIL_ENV,
    GROUPS,
    TERMINAL,
    RollbackClock,
    application,
    overhead,
    ring_sizes,
    site_group,
    template,
    wave_times,
)

API = "/api/v1alpha1"
APP_LABEL = "edgeplane.io/application"
POLL_SECONDS = 0.25
MERGE = {"Content-Type": "application/merge-patch+json"}


async def rollout_status(client: httpx.AsyncClient) -> dict[str, Any]:
    answer = await client.get(f"{API}/applications/{APP}")
    answer.raise_for_status()
    return dict(answer.json())


async def until(client: httpx.AsyncClient, done: Any, what: str, within: float) -> dict[str, Any]:
    """Polls the application until ``done(app)``; that application."""
    deadline, app = time.monotonic() + within, {}
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            app = await rollout_status(client)
            if done(app):
                return app
        await asyncio.sleep(POLL_SECONDS)
    status = (app.get("status") or {}).get("rollout") or {}
    shown = {k: status.get(k) for k in ("message", "waves", "waiting", "failed", "revisions")}
    raise RuntimeError(f"rollout: not {what} within {within:.0f} s; {shown!r}")


def rollout_of(app: dict[str, Any]) -> dict[str, Any]:
    return dict((app.get("status") or {}).get("rollout") or {})


async def release(client: httpx.AsyncClient, workload: dict[str, Any]) -> None:
    """A merge patch of ``spec.workload``: it merges ``env`` too, so a good release
    after a failing one says ``EDGEPLANE_SIM_FAIL: null`` (removed) unless it sets it."""
    process = workload["process"]
    env = {FAIL_ENV: None, **process["env"]}
    body = orjson.dumps({"spec": {"workload": {"process": {**process, "env": env}}}})
    (
        await client.patch(f"{API}/applications/{APP}", content=body, headers=MERGE)
    ).raise_for_status()


async def good_run(client: httpx.AsyncClient, n: int, args: Any) -> dict[str, Any]:
    before = rollout_of(await rollout_status(client)).get("revision") or 0
    started = time.monotonic()
    await release(client, template(f"good-{n}"))

    def finished(app: dict[str, Any]) -> bool:
        rollout = rollout_of(app)
        return (rollout.get("revision") or 0) > before and rollout.get("phase") in TERMINAL

    rollout = rollout_of(await until(client, finished, "finished", args.within))
    wall = time.monotonic() - started
    if rollout["phase"] != "Succeeded":
        why = {k: rollout.get(k) for k in ("message", "failed", "story")}
        raise RuntimeError(f"good release {n}: {rollout['phase']}: {why!r}")
    waves = wave_times(rollout)
    return {
        "revision": rollout["revision"],
        "wall_s": round(wall, 3),
        "waves": len(waves),
        "overhead_s": round(overhead(wall, args.soak_seconds, len(waves)), 3),
        "wave_times": waves,
    }


class AssignmentWatch:
    """Every Assignment event of the application into a ``RollbackClock``."""

    def __init__(self, client: httpx.AsyncClient, clock: RollbackClock) -> None:
        self.client, self.clock = client, clock
        self.open = asyncio.Event()

    async def run(self, version: str) -> None:
        params = {
            "watch": "true",
            "resourceVersion": version,
            "labelSelector": f"{APP_LABEL}={APP}",
        }
        async with self.client.stream(
            "GET", f"{API}/assignments", params=params, timeout=None
        ) as r:
            r.raise_for_status()
            self.open.set()
            async for line in r.aiter_lines():
                event = orjson.loads(line) if line.strip() else {}
                if event.get("type") in ("ADDED", "MODIFIED"):
                    self.clock.note(event["object"], time.monotonic())


async def version_now(client: httpx.AsyncClient) -> str:
    answer = await client.get(f"{API}/assignments", params={"limit": 1})
    answer.raise_for_status()
    return str(answer.json()["metadata"]["resourceVersion"])


async def bad_run(client: httpx.AsyncClient, n: int, args: Any, sites: int) -> dict[str, Any]:
    stable = int(rollout_of(await rollout_status(client))["revision"])
    clock = RollbackClock(stable)
    watch = AssignmentWatch(client, clock)
    task = asyncio.create_task(watch.run(await version_now(client)))
    try:
        async with asyncio.timeout(30):
            await watch.open.wait()
        await release(client, template(f"bad-{n}", failing=True))

        def rolled_back(app: dict[str, Any]) -> bool:
            if task.done():
                task.result()  # the watch failed: say why
            rollout = rollout_of(app)
            return rollout.get("revision") != stable and rollout.get("phase") in TERMINAL

        rollout = rollout_of(await until(client, rolled_back, "rolled back", args.within))
        await until(client, lambda _: clock.done, "rewritten to stable", args.within)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
            await task
    ready = await until(client, lambda a: ready_count(a) >= sites, "ready again", args.within)
    return {
        "stable": stable,
        "bad": clock.bad,
        "phase": rollout.get("phase"),
        "failed": len(rollout.get("failed") or ()),
        "ready_after": ready_count(ready),
        **clock.figures(),
    }


def ready_count(app: dict[str, Any]) -> int:
    return int((app.get("status") or {}).get("ready") or 0)


async def start_sims(hub: Any, sizes: dict[str, int], tmp: Path) -> list[LoadProcess]:
    sims = []
    for ring, count in sizes.items():
        argv = [*sim_against(hub), "--sites", str(count), "--prefix", ring]
        argv += ["--labels", f"ring={ring}", "--start-delay", "0:0"]
        sims.append(LoadProcess(f"sim-{ring}", argv, tmp / f"sim-{ring}.log", cpu=1))
        await sims[-1].start()
    return sims


async def prepare(
    client: httpx.AsyncClient, sims: list[LoadProcess], sizes: dict[str, int], args: Any
) -> int:
    """Every site joined (a site that gave up joining, the hub refusing it six times
    while thousands join at once, is counted and left out); the application running at
    all of them. The number of sites that run it."""
    for sim, count in zip(sims, sizes.values(), strict=True):
        if not await sim.wait_joined(count, args.join_within, tolerate_errors=True):
            raise RuntimeError(f"{sim.name} did not join {count} sites:\n{sim.tail()}")
    joined = {sim.name: int(sim.latest().get("joined", 0)) for sim in sims}
    if (total := sum(joined.values())) < sum(sizes.values()):
        print(f"  joined {joined} of {sizes}: the rest gave up joining", file=sys.stderr)
    for ring in GROUPS:
        (await client.post(f"{API}/sitegroups", json=site_group(ring))).raise_for_status()
    created = await client.post(f"{API}/applications", json=application(args.soak_seconds))
    created.raise_for_status()
    await until(client, lambda a: ready_count(a) >= total, f"ready at {total} sites", args.within)
    return total


async def measure(hub: Any, args: Any, tmp: Path) -> dict[str, Any]:
    sizes = ring_sizes(args.sites)
    sims = await start_sims(hub, sizes, tmp)
    client = httpx.AsyncClient(base_url=hub.url, headers=hub.headers(), timeout=120)
    try:
        started = time.monotonic()
        joined = await prepare(client, sims, sizes, args)
        print(
            f"  {args.sites} sites joined and running after {time.monotonic() - started:.0f} s",
            file=sys.stderr,
        )
        runs = []
        for n in range(args.runs):
            good = await good_run(client, n, args)
            bad = await bad_run(client, n, args, joined)
            runs.append({"good": good, "bad": bad})
            print(f"  run {n + 1}: {runs[-1]}", file=sys.stderr, flush=True)
        return {"rings": sizes, "joined": joined, "runs": runs}
    finally:
        await client.aclose()
        for sim in sims:
            await sim.stop()


def rollout_bench(args: Any, tmp: Path) -> dict[str, Any]:
    """A fresh hub and simulators; every run's figures."""
    tmp.mkdir(parents=True, exist_ok=True)
    with pinned_hub(tmp / "hub", cpu=0) as hub:
        return asyncio.run(measure(hub, args, tmp))
