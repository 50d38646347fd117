"""The fleet simulator against a real hub process: 50 virtual sites join and are Online,
an EverySite application becomes Running at every one of them (the application counts
50 ready), heartbeats keep them Online past ``--offline-after-seconds``, a relay request
is answered, an override that sets ``EDGEPLANE_SIM_FAIL=1`` at one site makes exactly
that site crash-loop, and halting half of them makes exactly those Offline. Once over the
protocol the hub offers (``auto``) and once over the older one (watch + poll, PATCH
heartbeats), which an older hub still needs."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from edgeplane.sim.fleet import SimFleet
from edgeplane.sim.options import SimOptions
from tests.support.fleet import DEMO_SERVICE, demo_app, tarball
from tests.support.hub import HubProcess, running_hub
from tests.support.waiting import wait_until_async

API = "/api/v1alpha1"
SITES = 50
OFFLINE_AFTER = 5.0
"""Ten heartbeats: a noisy machine stalling the test a few seconds marks none Offline."""
BEAT_SECONDS = 0.5


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[HubProcess]:
    with running_hub(tmp_path / "hub", "--offline-after-seconds", str(OFFLINE_AFTER)) as hub:
        yield hub


@pytest.fixture
async def admin(hub: HubProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=hub.url + API, headers=hub.headers(), timeout=30) as c:
        yield c


async def sites(admin: httpx.AsyncClient, prefix: str) -> dict[str, dict[str, Any]]:
    answer = await admin.get("/sites")
    assert answer.status_code == 200, answer.text
    found = {s["metadata"]["name"]: s for s in answer.json()["items"]}
    return {name: s for name, s in found.items() if name.startswith(f"{prefix}-")}


def phases(found: dict[str, dict[str, Any]]) -> dict[str, str | None]:
    return {name: (s.get("status") or {}).get("phase") for name, s in found.items()}


@pytest.mark.parametrize("protocol", ["auto", "v1"])
async def test_a_simulated_fleet_joins_runs_beats_and_goes_offline(
    hub: HubProcess, admin: httpx.AsyncClient, protocol: str
) -> None:
    options = SimOptions(
        hub=hub.url, token=hub.token, prefix="sim", heartbeat_seconds=BEAT_SECONDS,
        report_seconds=1.0, start_delay=(0.1, 0.5), source_addresses=8, hub_protocol=protocol,
    )  # fmt: skip
    fleet = SimFleet(options)
    running = asyncio.create_task(fleet.run())
    try:
        await fleet.join(SITES)
        assert len(fleet.sites) == SITES and fleet.join_errors == 0
        await all_online(admin)
        await every_site_runs_the_app(admin)
        await online_past_offline_after(admin)
        await a_log_request_is_answered(admin, fleet)
        stats = fleet.stats()
        assert stats.hb_sent > 0 and stats.hb_p50_ms is not None
        assert (stats.assignments, stats.running, stats.connected) == (SITES, SITES, SITES)
        await a_site_told_to_fail_crash_loops(admin)
        await halting_half_makes_exactly_those_offline(admin, fleet)
    finally:
        await fleet.stop()
        await running


async def all_online(admin: httpx.AsyncClient) -> None:
    async def check() -> bool:
        seen = phases(await sites(admin, "sim"))
        return len(seen) == SITES and set(seen.values()) == {"Online"}

    await wait_until_async(check, f"{SITES} simulated sites Online", within=60.0, every=0.2)


async def every_site_runs_the_app(admin: httpx.AsyncClient) -> None:
    put = await admin.put(
        "/artifacts/demo-service/1.0.0",
        content=tarball(DEMO_SERVICE),
        headers={"Content-Type": "application/gzip"},
    )
    assert put.status_code in (200, 201), put.text
    created = await admin.post("/applications", json=demo_app("simapp"))
    assert created.status_code == 201, created.text

    async def check() -> bool:
        app = (await admin.get("/applications/simapp")).json()
        return (app.get("status") or {}).get("ready") == SITES

    async def seen() -> Any:
        app = (await admin.get("/applications/simapp")).json()
        items = (await admin.get("/assignments")).json()["items"]
        return app.get("status"), [(i["metadata"], i.get("status")) for i in items][:3]

    await wait_until_async(
        check, f"simapp ready at {SITES} sites", seen=seen, within=60.0, every=0.2
    )
    selector = {"labelSelector": "edgeplane.io/application=simapp"}
    listed = await admin.get("/assignments", params=selector)
    items = listed.json()["items"]
    assert len(items) == SITES
    assert {i["status"]["phase"] for i in items} == {"Running"}
    assert {i["status"]["observedGeneration"] for i in items} == {1}


async def online_past_offline_after(admin: httpx.AsyncClient) -> None:
    """Every site stays Online (checked at every poll) until all have been known to the
    hub for longer than ``--offline-after-seconds``."""
    since = time.time()

    async def check() -> bool:
        seen = phases(await sites(admin, "sim"))
        assert set(seen.values()) == {"Online"}, {n: p for n, p in seen.items() if p != "Online"}
        return time.time() > since + 2 * OFFLINE_AFTER

    await wait_until_async(check, "twice --offline-after-seconds to pass", within=60.0, every=0.2)


async def a_log_request_is_answered(admin: httpx.AsyncClient, fleet: SimFleet) -> None:
    answer = await admin.get("/sites/sim-00007/logs", params={"application": "simapp", "tail": 2})
    assert answer.status_code == 200, answer.text
    assert answer.text.splitlines()[0].startswith("sim sim-00007: simapp.sim-00007.")

    async def counted() -> bool:  # counted once the hub has answered the sim's POST
        return fleet.sites["sim-00007"].requests_answered == 1

    await wait_until_async(counted, "the answer counted", within=60.0, every=0.2)


async def a_site_told_to_fail_crash_loops(admin: httpx.AsyncClient) -> None:
    """The override changes every site's Assignment; only sim-00003's fails."""
    env = {"process": {"env": {"EDGEPLANE_SIM_FAIL": "1"}}}
    patch = {"spec": {"overrides": [{"site": "sim-00003", "values": env}]}}
    answer = await admin.patch(
        "/applications/simapp",
        content=orjson.dumps(patch),
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert answer.status_code == 200, answer.text
    selector = {"labelSelector": "edgeplane.io/application=simapp"}

    async def settled() -> dict[str, dict[str, Any]] | None:
        items = (await admin.get("/assignments", params=selector)).json()["items"]
        now = {i["spec"]["site"]: i for i in items if observed(i)}
        failing = now.get("sim-00003", {}).get("status", {}).get("phase") != "Running"
        return now if len(now) == SITES and failing else None

    async def seen() -> Any:
        items = (await admin.get("/assignments", params=selector)).json()["items"]
        return [(i["spec"]["site"], i["metadata"]["generation"], i.get("status")) for i in items]

    found = await wait_until_async(settled, "the override seen", seen=seen, within=60.0, every=0.2)
    assert phases_of(found) == {"CrashLoopBackOff": ["sim-00003"]} | {
        "Running": sorted(set(found) - {"sim-00003"})
    }
    status = found["sim-00003"]["status"]
    assert (status["reason"], status["ready"]) == ("Error", 0)
    assert status["restarts"] >= 1  # one more each 1, 2, 4 ... s it is left crashing


def observed(item: dict[str, Any]) -> bool:
    """Whether the site reports on the Assignment's current spec, past Starting."""
    status = item.get("status") or {}
    current = status.get("observedGeneration") == item["metadata"]["generation"]
    return current and status.get("phase") != "Starting"


def phases_of(found: dict[str, dict[str, Any]]) -> dict[str, list[str]]:
    by_phase: dict[str, list[str]] = {}
    for site, item in sorted(found.items()):
        by_phase.setdefault(item["status"]["phase"], []).append(site)
    return by_phase


async def halting_half_makes_exactly_those_offline(
    admin: httpx.AsyncClient, fleet: SimFleet
) -> None:
    halted = {fleet.options.site_name(i) for i in range(0, SITES, 2)}
    await fleet.halt(halted)

    async def check() -> dict[str, str | None] | None:
        seen = phases(await sites(admin, "sim"))
        return seen if all(seen[name] == "Offline" for name in halted) else None

    seen = await wait_until_async(check, "the halted sites Offline", within=60.0, every=0.2)
    assert {name for name, phase in seen.items() if phase == "Offline"} == halted
    assert {name for name, phase in seen.items() if phase == "Online"} == set(seen) - halted
