"""Relay requests shared by hubs (``put_relay_request`` ... ``delete_relay_request``) on
memory, SQLite and PostgreSQL: offered to other hubs only, taken once, answered back."""

from __future__ import annotations

import asyncio

from edgeplane.store.factory import open_store
from edgeplane.store.protocol import RelayAnswer, RelayRequest
from tests.integration.store.helpers import AnyStore

LOGS = RelayRequest("r1", "shop-1", '{"type":"logs","assignment":"web.shop-1","tail":10}')


async def test_a_request_is_offered_to_the_other_hubs_only(store: AnyStore) -> None:
    await store.put_relay_request(LOGS, "hub-a")
    assert await store.pending_relay_requests("hub-b", 10) == (LOGS,)
    assert await store.pending_relay_requests("hub-a", 10) == (), "not to its asker"
    await store.put_relay_request(RelayRequest("r2", "shop-2", "{}"), "hub-a")
    assert len(await store.pending_relay_requests("hub-b", 1)) == 1, "at most the limit"


async def test_a_request_is_taken_once_then_offered_no_more(store: AnyStore) -> None:
    await store.put_relay_request(LOGS, "hub-a")
    assert await store.take_relay_request("r1", "hub-b") is True
    assert await store.take_relay_request("r1", "hub-c") is False
    assert await store.take_relay_request("absent", "hub-c") is False
    assert await store.pending_relay_requests("hub-c", 10) == ()


async def test_the_answer_reaches_the_asker_until_it_deletes_the_request(store: AnyStore) -> None:
    await store.put_relay_request(LOGS, "hub-a")
    assert await store.relay_answer("r1") is None, "no answer yet"
    text = "a log line\n" * 200_000  # 2.2 MB: answers may be up to 16 MiB
    await store.answer_relay_request("r1", RelayAnswer(text))
    assert await store.relay_answer("r1") == RelayAnswer(text)
    await store.delete_relay_request("r1")
    assert await store.relay_answer("r1") is None
    await store.answer_relay_request("r1", RelayAnswer("late"))  # the asker is gone: nothing
    assert await store.relay_answer("r1") is None


async def test_an_agent_error_is_answered_as_such(store: AnyStore) -> None:
    await store.put_relay_request(LOGS, "hub-a")
    await store.answer_relay_request("r1", RelayAnswer("", "no log yet"))
    assert await store.relay_answer("r1") == RelayAnswer("", "no log yet")


async def test_of_hubs_racing_to_take_a_request_one_wins(store_url: str) -> None:
    stores = [open_store(store_url, poll_interval=0.05) for _ in range(2)]
    for store in stores:
        await store.open()
    try:
        await stores[0].put_relay_request(LOGS, "hub-a")
        takes = [stores[i % 2].take_relay_request("r1", f"hub-{i}") for i in range(10)]
        assert sorted(await asyncio.gather(*takes)) == [False] * 9 + [True]
    finally:
        for store in stores:
            await store.close()
