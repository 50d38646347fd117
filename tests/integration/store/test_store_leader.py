"""The leader lease (``claim_leader``/``release_leader``) on memory, SQLite and PostgreSQL:
one holder at a time, renewals, expiry by the database's clock, stealing refused."""

from __future__ import annotations

import asyncio

from edgeplane.store.factory import open_store
from edgeplane.store.protocol import LeaderLease
from tests.integration.store.helpers import AnyStore


async def _claim_until_held(store: AnyStore, hub: str, seconds: float = 20.0) -> LeaderLease:
    """Claim again and again (polling, with a deadline) until ``hub`` holds the lease."""
    async with asyncio.timeout(seconds):
        # Polling on purpose: the lease ends by the database's clock, nothing to await on.
        while not (lease := await store.claim_leader(hub, 30)).held_by(hub):  # noqa: ASYNC110
            await asyncio.sleep(0.02)
    return lease


async def test_a_free_lease_is_taken_and_renewed_by_its_holder(store: AnyStore) -> None:
    first = await store.claim_leader("hub-a", 30)
    assert first.held_by("hub-a") and 0 < first.seconds_left <= 30
    again = await store.claim_leader("hub-a", 30)
    assert again.held_by("hub-a") and 0 < again.seconds_left <= 30


async def test_another_hub_cannot_take_a_held_lease(store: AnyStore) -> None:
    await store.claim_leader("hub-a", 30)
    refused = await store.claim_leader("hub-b", 30)
    assert refused.holder == "hub-a" and not refused.held_by("hub-b")
    assert 0 < refused.seconds_left <= 30, "the refusal says how long the holder has left"
    assert (await store.claim_leader("hub-a", 30)).held_by("hub-a")


async def test_an_expired_lease_goes_to_the_next_claimant(store: AnyStore) -> None:
    await store.claim_leader("hub-a", 0.2)
    taken = await _claim_until_held(store, "hub-b")
    assert taken.holder == "hub-b" and taken.seconds_left > 0
    lost = await store.claim_leader("hub-a", 30)
    assert lost.holder == "hub-b" and not lost.held_by("hub-a"), "the old holder lost it"


async def test_a_released_lease_is_free_at_once(store: AnyStore) -> None:
    await store.claim_leader("hub-a", 30)
    await store.release_leader("hub-b")  # not the holder: changes nothing
    assert (await store.claim_leader("hub-b", 30)).holder == "hub-a"
    await store.release_leader("hub-a")
    assert (await store.claim_leader("hub-b", 30)).held_by("hub-b")


async def test_of_hubs_racing_on_one_database_exactly_one_leads(store_url: str) -> None:
    stores = [open_store(store_url, poll_interval=0.05) for _ in range(2)]
    for store in stores:
        await store.open()
    try:
        claims = [stores[i % 2].claim_leader(f"hub-{i}", 30) for i in range(10)]
        leases = await asyncio.gather(*claims)
        winners = {f"hub-{i}" for i, lease in enumerate(leases) if lease.held_by(f"hub-{i}")}
        assert len(winners) == 1
        assert {lease.holder for lease in leases} == winners, "every loser saw the winner"
    finally:
        for store in stores:
            await store.close()
