"""The simulator's status reports against a scripted hub: one report of an assignment
at a time, so each patch is the difference from what the hub has acknowledged. Two at
once raced: a Running patch made while the Starting one was on its way left out the
phase, the Starting one landed last, and the site stayed Starting at the hub."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from edgeplane.api.wire import Object
from edgeplane.sim.fleet import SimFleet
from edgeplane.sim.options import SimOptions
from tests.support.waiting import wait_until_async


class HoldingHub:
    """Merges assignment status patches as the hub does; holds the first one until
    ``release`` is set, so later ones could overtake it."""

    def __init__(self) -> None:
        self.status: dict[str, Any] = {}
        self.release = asyncio.Event()
        self.calls = 0
        self.in_flight = self.most_in_flight = 0

    async def assignment_status(
        self, address: str, token: str, name: str, status: Mapping[str, Any]
    ) -> None:
        self.calls += 1
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if self.calls == 1:
                await self.release.wait()
            for key, value in status.items():
                if value is None:
                    self.status.pop(key, None)
                else:
                    self.status[key] = value
        finally:
            self.in_flight -= 1

    async def site_status(
        self, address: str, site: str, token: str, patch: Mapping[str, Any]
    ) -> dict[str, Any]:
        return {}

    def close(self) -> None:
        pass


def assignment(generation: int) -> Object:
    return {
        "metadata": {"name": "a", "generation": generation},
        "spec": {"replicas": 1, "resources": {"cpu": "10m", "memory": "1Mi"}},
    }


async def test_a_status_waits_for_the_one_on_its_way_and_the_hub_ends_at_running() -> None:
    options = SimOptions(hub="http://127.0.0.1:9", token="t", start_delay=(0.0, 0.0))
    fleet = SimFleet(options)
    hub = HoldingHub()
    fleet.hub = hub  # type: ignore[assignment]
    fleet._add(0, "s-0", "127.0.0.1", "token")
    fleet._start()
    site = fleet.sites["s-0"]
    try:
        site.work.apply("ADDED", assignment(1))  # Starting, then Running at once
        await wait_until_async(lambda: hub.calls >= 1, "the first report on its way")
        await asyncio.sleep(0.05)  # Running is made meanwhile; its report must wait
        assert site.work.works["a"].status["phase"] == "Running"
        assert hub.calls == 1, "a second report went while the first was on its way"
        hub.release.set()
        await wait_until_async(
            lambda: hub.status.get("phase") == "Running", "the hub holds Running", within=5
        )
    finally:
        await fleet.stop()
    assert hub.most_in_flight == 1
    assert hub.status["observedGeneration"] == 1 and hub.status["ready"] == 1
