"""``hub.leadership`` over the in-memory store: who runs the controllers, and when it
stops. (Two real hubs on one PostgreSQL: tests/integration/hub/test_several_hubs.py.)"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable

import pytest
from prometheus_client import CollectorRegistry

from edgeplane.hub.leadership import Leadership, check_lease_seconds
from edgeplane.store.errors import StoreError
from edgeplane.store.memory import MemoryStore
from edgeplane.store.protocol import LeaderLease

LEASE = 3.0  # the shortest allowed: renewals every second


class Leading:
    """A stand-in for the controllers: records each term, runs until told to stop."""

    def __init__(self) -> None:
        self.terms = 0
        self.running = False

    async def __call__(self, stop: asyncio.Event) -> None:
        self.terms += 1
        self.running = True
        try:
            await stop.wait()
        finally:
            self.running = False


async def until(condition: Callable[[], bool], seconds: float = 20.0) -> None:
    async with asyncio.timeout(seconds):
        # Polling on purpose: the conditions are plain state of the objects under test.
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.02)


class Hub:
    """One Leadership running in a task, as a hub runs it."""

    def __init__(self, store: MemoryStore, name: str, **options: bool) -> None:
        self.registry = CollectorRegistry()
        self.leadership = Leadership(store, name, LEASE, registry=self.registry, **options)
        self.work, self.stop = Leading(), asyncio.Event()
        self.task = asyncio.create_task(self.leadership.run(self.stop, self.work))

    def gauge(self) -> float | None:
        return self.registry.get_sample_value("edgeplane_hub_leader")

    async def stopped(self) -> None:
        self.stop.set()
        async with asyncio.timeout(20):
            await self.task


async def test_one_hub_alone_on_sqlite_leads_at_once_without_a_lease() -> None:
    store = MemoryStore()
    hub = Hub(store, "solo", solo=True)
    await until(lambda: hub.work.running)
    assert hub.leadership.leading and hub.gauge() == 1.0
    assert (await store.claim_leader("other", 30)).held_by("other"), "it claimed nothing"
    await hub.stopped()
    assert not hub.work.running and not hub.leadership.leading and hub.gauge() == 0.0


async def test_of_two_hubs_one_leads_and_the_other_takes_over_when_it_stops() -> None:
    store = MemoryStore()
    first = Hub(store, "a")
    await until(lambda: first.work.running)
    second = Hub(store, "b")
    await until(lambda: second.leadership.holder == "a")
    assert not second.work.running and second.gauge() == 0.0
    await first.stopped()
    assert not first.work.running and first.gauge() == 0.0
    await until(lambda: second.work.running)
    assert second.leadership.leading and second.gauge() == 1.0
    await second.stopped()


class FailingStore(MemoryStore):
    """A store whose claims raise ``failing`` once it is set (the database went away)."""

    failing: Exception | None = None

    async def claim_leader(self, hub: str, seconds: float) -> LeaderLease:
        if self.failing is not None:
            raise self.failing
        return await super().claim_leader(hub, seconds)


class StolenStore(MemoryStore):
    """A store that answers renewals with another holder once ``stolen`` is set."""

    stolen = False

    async def claim_leader(self, hub: str, seconds: float) -> LeaderLease:
        if self.stolen:
            return LeaderLease("thief", seconds)
        return await super().claim_leader(hub, seconds)


@pytest.mark.parametrize(
    "error",
    [StoreError("the store could not claim the leader lease"), OSError("connection refused")],
    ids=["store-error", "untranslated-driver-error"],
)
async def test_a_failed_renewal_stops_the_controllers(error: Exception) -> None:
    store = FailingStore()
    hub = Hub(store, "a")
    await until(lambda: hub.work.running)
    store.failing = error
    await until(lambda: not hub.work.running)
    assert not hub.leadership.leading and hub.gauge() == 0.0
    store.failing = None
    await until(lambda: hub.work.running)  # the store is back: it claims the lease again
    assert hub.work.terms == 2
    await hub.stopped()


async def test_a_renewal_finding_another_holder_stops_the_controllers() -> None:
    store = StolenStore()
    hub = Hub(store, "a")
    await until(lambda: hub.work.running)
    store.stolen = True
    await until(lambda: not hub.work.running)
    assert hub.leadership.holder == "thief" and hub.gauge() == 0.0
    await hub.stopped()
    assert hub.work.terms == 1


@pytest.mark.parametrize(
    ("seconds", "ok"),
    [(3.0, True), (15.0, True), (300.0, True), (2.9, False), (300.1, False), (math.nan, False)],
    ids=["shortest", "default", "longest", "too-short", "too-long", "nan"],
)
def test_lease_seconds_are_bounded(seconds: float, ok: bool) -> None:
    if ok:
        assert check_lease_seconds(seconds) == seconds
    else:
        with pytest.raises(ValueError, match="use 3 to 300 seconds"):
            check_lease_seconds(seconds)
