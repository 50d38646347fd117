"""The agent's heartbeats keep their beat while one is held up: a heartbeat whose
answer never comes (a packet lost, TCP backing off) does not hold up the next, and no
more than ``HEARTBEATS_IN_FLIGHT`` are on their way at once when the hub answers none.
Scripted hub answers (httpx's MockTransport); the real link's loss is in
tests/integration/failover/test_lossy_link.py."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import httpx

from edgeplane.agent.hublink import HubLink
from edgeplane.agent.inventory import Capacity
from edgeplane.agent.reconciler import Reconciler
from edgeplane.agent.reporter import HEARTBEATS_IN_FLIGHT, StatusReporter
from edgeplane.agent.runtimes.fake import FakeRuntime
from edgeplane.agent.state import LocalState
from tests.support.waiting import wait_until_async

PERIOD = 0.01


class StallingHub:
    """Holds the first ``stalled`` heartbeats until ``release`` is set; answers the rest
    (204) at once. Counts the heartbeats sent and those still held."""

    def __init__(self, stalled: int) -> None:
        self.stalled, self.sent, self.held, self.answered = stalled, 0, 0, 0
        self.release = asyncio.Event()

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/api/v1alpha1/sites/s/heartbeat", request.url.path
        self.sent += 1
        if self.sent <= self.stalled:
            self.held += 1
            try:
                await self.release.wait()
            finally:
                self.held -= 1
        self.answered += 1
        return httpx.Response(204)


async def beating(tmp_path: Path, hub: StallingHub) -> tuple[asyncio.Task[None], HubLink]:
    link = HubLink("http://hub", "ep_a_token", transport=httpx.MockTransport(hub))
    runtime, state = FakeRuntime(), LocalState(tmp_path / "state.db")
    rec = Reconciler(
        state, runtime, no_artifacts, Capacity.of("1", "1Gi"), asyncio.Event(), asyncio.Event()
    )
    reporter = StatusReporter(
        link, state, "s", runtime, rec, dict, "h", asyncio.Event(), heartbeat_seconds=PERIOD
    )
    return asyncio.create_task(reporter.run_heartbeats()), link


async def no_artifacts(*_: object) -> Path:
    raise AssertionError("no assignment here names an artifact")


async def stop(task: asyncio.Task[None], link: HubLink) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await link.close()


async def test_a_heartbeat_held_up_does_not_hold_up_the_next(tmp_path: Path) -> None:
    hub = StallingHub(stalled=1)
    task, link = await beating(tmp_path, hub)
    try:

        async def beats_answered_past_the_held_one() -> bool:
            return hub.answered >= 20 and hub.held == 1

        await wait_until_async(beats_answered_past_the_held_one, "20 beats past a held one")
    finally:
        await stop(task, link)
    assert hub.held == 0, "stopping the loop cancels the heartbeat still on its way"


async def test_a_hub_that_answers_none_gets_no_more_than_the_bound(tmp_path: Path) -> None:
    hub = StallingHub(stalled=10**6)
    task, link = await beating(tmp_path, hub)
    try:

        async def bound_reached() -> bool:
            return hub.held == HEARTBEATS_IN_FLIGHT

        await wait_until_async(bound_reached, f"{HEARTBEATS_IN_FLIGHT} heartbeats held")
        for _ in range(20):  # twenty more periods: still no more than the bound
            await asyncio.sleep(PERIOD)
            assert hub.sent == HEARTBEATS_IN_FLIGHT, hub.sent
        hub.stalled = 0
        hub.release.set()  # the hub answers again: the beat goes on

        async def beating_again() -> bool:
            return hub.answered >= HEARTBEATS_IN_FLIGHT + 5

        await wait_until_async(beating_again, "heartbeats answered again")
    finally:
        await stop(task, link)
