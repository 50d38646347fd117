"""``edgeplane sim --locations`` against a real hub process: every joined site gets the
``spec.location`` and ``region`` label of its index (``sim.places``), on top of the
``--labels`` it joined with, and still comes Online (the site's own status writes and
the operator's patch do not undo each other)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from edgeplane.sim.fleet import SimFleet
from edgeplane.sim.options import SimOptions
from edgeplane.sim.places import place_of
from tests.support.hub import HubProcess, running_hub
from tests.support.waiting import wait_until_async

API = "/api/v1alpha1"
SITES = 24


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[HubProcess]:
    with running_hub(tmp_path / "hub") as hub:
        yield hub


async def test_joined_sites_are_placed_and_come_online(hub: HubProcess) -> None:
    options = SimOptions(
        hub=hub.url, token=hub.token, prefix="geo", heartbeat_seconds=1.0, report_seconds=1.0,
        source_addresses=4, labels={"tier": "edge"}, locations=True,
    )  # fmt: skip
    fleet = SimFleet(options)
    running = asyncio.create_task(fleet.run())
    try:
        await fleet.join(SITES)
        stats = fleet.stats()
        assert (stats.joined, stats.located, stats.locate_errors) == (SITES, SITES, 0)
        async with httpx.AsyncClient(base_url=hub.url + API, headers=hub.headers()) as admin:

            async def placed_and_online() -> dict[str, Any] | None:
                items = (await admin.get("/sites")).json()["items"]
                found = {s["metadata"]["name"]: s for s in items}
                online = {(s.get("status") or {}).get("phase") for s in found.values()}
                return found if len(found) == SITES and online == {"Online"} else None

            found = await wait_until_async(placed_and_online, "sites Online", within=60.0)
        for index in range(SITES):
            site = found[options.site_name(index)]
            place = place_of(index)
            assert site["spec"]["location"] == {"lat": place.lat, "lon": place.lon}
            assert site["metadata"]["labels"] == {"tier": "edge", "region": place.region}
    finally:
        await fleet.stop()
        await running
