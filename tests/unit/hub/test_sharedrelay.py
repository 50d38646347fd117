"""``hub.sharedrelay``: two hubs' relays over one in-memory store. A request reaches the
site's agent through whichever hub it polls. (Real hubs on PostgreSQL:
tests/integration/hub/test_several_hubs.py.)"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from edgeplane.hub.relay import MAX_PENDING, Relay, SiteUnreachable, TooManyPending
from edgeplane.hub.sharedrelay import SharedRelay
from edgeplane.store.memory import MemoryStore

LOGS = {"type": "logs", "assignment": "web.a", "tail": 5}


@dataclass
class Hubs:
    a: SharedRelay
    b: SharedRelay
    shutdown: asyncio.Event


@pytest.fixture
async def hubs() -> AsyncIterator[Hubs]:
    store, shutdown = MemoryStore(), asyncio.Event()
    a, b = SharedRelay(Relay(), store, "hub-a"), SharedRelay(Relay(), store, "hub-b")
    serving = [asyncio.create_task(hub.serve(shutdown)) for hub in (a, b)]
    yield Hubs(a, b, shutdown)
    shutdown.set()
    async with asyncio.timeout(10):
        await asyncio.gather(*serving)


async def agent(relay: Relay, answer: str, shutdown: asyncio.Event) -> dict[str, object]:
    """Site a's agent polling one hub: answers the first request it gets."""
    async with asyncio.timeout(10):
        while not (items := await relay.take("a", 1, shutdown)):
            pass
    (request,) = items
    assert relay.answer("a", str(request["id"]), answer, None)
    return request


async def test_an_agent_on_the_other_hub_answers(hubs: Hubs) -> None:
    polling = asyncio.create_task(agent(hubs.b.relay, "from b\n", hubs.shutdown))
    assert await hubs.a.ask("a", LOGS, 10, hubs.shutdown) == ("from b\n", None)
    request = await polling
    assert {k: v for k, v in request.items() if k != "id"} == LOGS
    assert await hubs.a.store.pending_relay_requests("hub-b", 10) == (), "the asker cleaned up"


async def test_an_agent_on_the_asked_hub_answers_there(hubs: Hubs) -> None:
    polling = asyncio.create_task(agent(hubs.a.relay, "from a\n", hubs.shutdown))
    assert await hubs.a.ask("a", LOGS, 10, hubs.shutdown) == ("from a\n", None)
    await polling


async def test_no_agent_anywhere_is_unreachable(hubs: Hubs) -> None:
    with pytest.raises(SiteUnreachable):
        await hubs.a.ask("a", LOGS, 0.3, hubs.shutdown)


async def test_a_full_queue_is_refused_at_once(hubs: Hubs) -> None:
    waiting = [
        asyncio.create_task(hubs.a.relay.ask("a", LOGS, 30, hubs.shutdown))
        for _ in range(MAX_PENDING)
    ]
    await asyncio.sleep(0)  # let them queue (no wait for a result: one loop turn)
    with pytest.raises(TooManyPending):
        await hubs.a.ask("a", LOGS, 30, hubs.shutdown)
    for task in waiting:
        task.cancel()
    await asyncio.gather(*waiting, return_exceptions=True)
