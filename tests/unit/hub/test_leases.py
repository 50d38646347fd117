"""``hub.leases`` alone: renewals only move forward, a failed flush keeps its renewals
for the next one, a stopping hub flushes once more, and the lastHeartbeat overlay."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import pytest

from edgeplane.api.wire import Object
from edgeplane.hub.leases import Leases, flush_loop, with_lease, with_leases
from edgeplane.store.errors import StoreError
from edgeplane.store.memory import MemoryStore

NOW = 1_800_000_000.0  # 2027-01-15T08:00:00Z


class FailingOnce(MemoryStore):
    """A store whose first lease write fails."""

    def __init__(self) -> None:
        super().__init__()
        self.failures = 1

    async def put_leases(self, leases: Mapping[str, float], hub: str) -> None:
        if self.failures:
            self.failures -= 1
            raise StoreError("the database went away")
        await super().put_leases(leases, hub)


async def test_a_failed_flush_keeps_its_renewals_for_the_next() -> None:
    store, leases = FailingOnce(), Leases("hub-1")
    leases.renew("a", now=NOW)
    leases.renew("b", now=NOW)
    with pytest.raises(StoreError):
        await leases.flush(store)
    leases.renew("a", now=NOW + 5)  # newer than the failed one: this is what goes
    assert leases.pending == 2
    await leases.flush(store)
    assert await store.get_leases() == {"a": NOW + 5, "b": NOW}
    assert leases.pending == 0


async def test_a_forgotten_site_is_not_flushed_after_a_failure() -> None:
    store, leases = FailingOnce(), Leases("hub-1")
    leases.renew("a", now=NOW)
    with pytest.raises(StoreError):
        await leases.flush(store)
    leases.forget("a")  # deleted meanwhile
    await leases.flush(store)
    assert await store.get_leases() == {}


async def test_the_flush_loop_flushes_once_more_when_stopped() -> None:
    store, leases, stop = MemoryStore(), Leases("hub-1"), asyncio.Event()
    looping = asyncio.create_task(flush_loop(leases, store, stop, seconds=3600))
    leases.renew("a", now=NOW)
    stop.set()
    async with asyncio.timeout(10):
        await looping
    assert await store.get_leases() == {"a": NOW}


def site(heartbeat: Any = None) -> Object:
    status = {"phase": "Online"} if heartbeat is None else {"lastHeartbeat": heartbeat}
    return {"metadata": {"name": "s"}, "status": status}


@pytest.mark.parametrize(
    ("stored", "lease", "shown"),
    [
        (None, NOW, "2027-01-15T08:00:00Z"),
        ("2027-01-15T07:59:59Z", NOW, "2027-01-15T08:00:00Z"),
        ("2027-01-15T08:00:01Z", NOW, "2027-01-15T08:00:01Z"),
        ("2027-01-15T08:00:00.500000+00:00", NOW, "2027-01-15T08:00:00.500000+00:00"),
        ("2027-01-15T07:00:00.5+00:00", NOW, "2027-01-15T08:00:00Z"),
        ("not a time", NOW, "2027-01-15T08:00:00Z"),
        (12, NOW, "2027-01-15T08:00:00Z"),
    ],
    ids=[
        "none-stored",
        "stored-older",
        "stored-newer",
        "stored-newer-other-form",
        "stored-older-other-form",
        "stored-unreadable",
        "stored-not-text",
    ],
)
def test_lastheartbeat_is_the_newer_of_lease_and_stored(
    stored: Any, lease: float, shown: str
) -> None:
    leases = Leases("hub-1")
    leases.renew("s", now=lease)
    given = site(stored)
    got = with_lease(given, leases)
    assert got["status"]["lastHeartbeat"] == shown
    assert given == site(stored), "the given object is not changed"


def test_a_site_without_a_lease_is_shown_as_stored() -> None:
    given: list[Object] = [site("2027-01-15T07:59:59Z"), {"metadata": {"name": "other"}}]
    assert with_leases(given, Leases("hub-1")) == given
