"""A region lost at once, on the fleet simulator (``benchmarks/failover.py``).

A real hub pinned to CPU 0, heartbeats every ``--region-period`` (its
``--heartbeat-seconds``: the simulator keeps its own period, so both are told), and one
``edgeplane sim`` per region (``--start-delay 0:0``, pinned to CPU 1), half the sites
each, labelled ``region=ra`` / ``region=rb``. Applications of ``--region-replicas``
replicas spread over the regions (``maxSkew`` 1) run first; then region ``ra``'s
simulator is SIGKILLed, so all its sites stop at the same instant. Measured from the
kill: when every replica that ran there has an Assignment at a site of ``rb`` (placed),
and when those are all Running as the simulator reports them (``status.phase``, the
simulator's start being instant). Neighbours: ``hubproc``, ``loadproc``, ``offline``.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx

from benchmarks.support.failfleet import APP_LABEL, SLEEPER, application
from benchmarks.support.hubproc import pinned_hub
from benchmarks.support.loadproc import LoadProcess, sim_against
from benchmarks.support.offline import OfflineWatch, cancel, list_all

API = "/api/v1alpha1"
REGIONS = ("ra", "rb")
LOST = "ra"
POLL_SECONDS = 0.25


def spread_app(name: str, replicas: int) -> dict[str, Any]:
    """``replicas`` of the sleeper spread over the regions (no SiteGroup: every site)."""
    app = application(name, SLEEPER)
    spread = [{"topologyKey": "region", "maxSkew": 1}]
    app["spec"]["placement"] = {"mode": "Replicas", "replicas": replicas, "spread": spread}
    return app


def tally(items: list[dict[str, Any]]) -> dict[str, int]:
    """Assignments by where they are and what they do: at the lost region, placed
    elsewhere, and Running elsewhere."""
    found = {"at_lost": 0, "elsewhere": 0, "running": 0, "running_elsewhere": 0}
    for item in items:
        lost = item["spec"]["site"].startswith(f"{LOST}-")
        running = (item.get("status") or {}).get("phase") == "Running"
        found["at_lost" if lost else "elsewhere"] += 1
        found["running"] += running
        found["running_elsewhere"] += running and not lost
    return found


async def assignments(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    items, _ = await list_all(client, "/assignments", APP_LABEL)
    return items


async def until(client: httpx.AsyncClient, done: Any, within: float) -> dict[str, int]:
    """Polls the Assignments until ``done(tally)``; that tally."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        with_errors = None
        try:
            now = tally(await assignments(client))
        except httpx.HTTPError as e:
            with_errors = e
        else:
            if done(now):
                return now
        await asyncio.sleep(POLL_SECONDS)
    raise RuntimeError(f"region loss: not done within {within:.0f} s ({with_errors})")


async def offline_marks(watch: OfflineWatch, count: int, started: float) -> dict[str, float]:
    """Seconds from ``started`` until ``watch`` has seen its first, half and all of
    ``count`` sites Offline (those not seen within 300 s are left out)."""
    marks = {"first": 1, "half": count // 2, "all": count}
    found: dict[str, float] = {}
    for _ in range(6000):
        seen = len(watch.seen or ())
        for name, needed in marks.items():
            if seen >= needed:
                found.setdefault(
                    f"lost_sites_offline_{name}_s", round(time.monotonic() - started, 3)
                )
        if len(found) == len(marks):
            break
        await asyncio.sleep(0.05)
    return found


async def measure(
    client: httpx.AsyncClient, lost: asyncio.subprocess.Process, args: Any
) -> dict[str, Any]:
    """Run the applications, kill the ``lost`` region's simulator, time the recovery."""
    total, per = args.region_apps * args.region_replicas, args.region_sites // len(REGIONS)
    for n in range(args.region_apps):
        app = spread_app(f"spread-{n}", args.region_replicas)
        (await client.post(f"{API}/applications", json=app)).raise_for_status()
    before = await until(client, lambda t: t["running"] == total, 600)
    watches = {r: OfflineWatch(client, f"region={r}") for r in REGIONS}
    tasks = [asyncio.create_task(w.run()) for w in watches.values()]
    try:
        await asyncio.sleep(2)  # the watches' first LIST, before anything goes Offline
        for watch in watches.values():
            watch.begin()
        started = time.monotonic()
        lost.kill()
        offline = asyncio.create_task(offline_marks(watches[LOST], per, started))
        placed = await until(client, lambda t: t["at_lost"] == 0 and t["elsewhere"] == total, 300)
        placed_s = time.monotonic() - started
        await until(client, lambda t: t["running_elsewhere"] == total, 300)
        running_s = time.monotonic() - started
        offline_s = await offline if offline.done() else {}
        offline.cancel()
        survivors_offline = len(await watches["rb"].end())
    finally:
        for task in tasks:
            await cancel(task)
    return {
        "replicas": total,
        "displaced": before["at_lost"],
        "kept": before["elsewhere"],
        **offline_s,
        "placed_s": round(placed_s, 3),
        "region_loss_s": round(running_s, 3),
        "placed_tally": placed,
        "surviving_sites_marked_offline": survivors_offline,
    }


async def fleet_and_loss(hub: Any, args: Any, tmp: Path) -> dict[str, Any]:
    per = args.region_sites // len(REGIONS)
    sims = {}
    for region in REGIONS:
        argv = [*sim_against(hub), "--sites", str(per), "--prefix", region]
        argv += ["--labels", f"region={region}", "--start-delay", "0:0"]
        argv += ["--heartbeat-seconds", str(args.region_period)]
        sims[region] = LoadProcess(f"sim-{region}", argv, tmp / f"sim-{region}.log", cpu=1)
        await sims[region].start()
    client = httpx.AsyncClient(base_url=hub.url, headers=hub.headers(), timeout=120)
    try:
        for sim in sims.values():
            if not await sim.wait_joined(per, 600):
                raise RuntimeError(f"{sim.name} did not join {per} sites:\n{sim.tail()}")
        # Each new site's history assumes a lossy link for 30 intervals (docs/failover.md).
        await asyncio.sleep(args.warmup_periods * args.region_period)
        lost = sims[LOST].process
        assert lost is not None
        return await measure(client, lost, args)
    finally:
        await client.aclose()
        for sim in sims.values():
            await sim.stop()


def region_loss(args: Any, tmp: Path) -> dict[str, Any]:
    """A fresh hub and simulators; the region-loss figures."""
    tmp.mkdir(parents=True, exist_ok=True)
    period = str(args.region_period)
    with pinned_hub(tmp / "hub", "--heartbeat-seconds", period, cpu=0) as hub:
        found = asyncio.run(fleet_and_loss(hub, args, tmp))
    return {
        "sites": args.region_sites,
        "regions": len(REGIONS),
        "heartbeat_seconds": args.region_period,
        **found,
    }
