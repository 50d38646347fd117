"""The relay's queues: a request reaches only its site's poll, answers only from that
site count, and time-outs and the hub's shutdown end every wait."""

from __future__ import annotations

import asyncio

import pytest

from edgeplane.hub.relay import Relay, ShuttingDown, SiteUnreachable

LOGS = {"type": "logs", "assignment": "web.a", "tail": 5}


async def until_queued(relay: Relay, site: str) -> dict[str, object]:
    """The next request of ``site``, taken as its agent would (polls with a deadline)."""
    async with asyncio.timeout(5):
        while not (items := await relay.take(site, 0.05, asyncio.Event())):
            pass
    (request,) = items
    return request


async def test_a_request_is_answered_by_its_site() -> None:
    relay, shutdown = Relay(), asyncio.Event()
    asked = asyncio.create_task(relay.ask("a", LOGS, 5, shutdown))
    request = await until_queued(relay, "a")
    assert {k: v for k, v in request.items() if k != "id"} == LOGS
    assert not relay.answer("b", str(request["id"]), "wrong site", None)
    assert relay.answer("a", str(request["id"]), "l1\n", None)
    assert not relay.answer("a", str(request["id"]), "twice", None)
    assert await asked == ("l1\n", None)


async def test_a_poll_waiting_is_woken_by_a_request() -> None:
    relay, shutdown = Relay(), asyncio.Event()
    poll = asyncio.create_task(relay.take("a", 30, shutdown))
    other = asyncio.create_task(relay.take("b", 30, shutdown))
    asked = asyncio.create_task(relay.ask("a", LOGS, 5, shutdown))
    async with asyncio.timeout(5):
        (request,) = await poll
    assert not other.done()
    relay.answer("a", request["id"], "", "no such workload")
    assert await asked == ("", "no such workload")
    shutdown.set()
    assert await other == []


async def test_an_unanswered_request_times_out_and_is_withdrawn() -> None:
    relay = Relay()
    with pytest.raises(SiteUnreachable):
        await relay.ask("a", LOGS, 0.05, asyncio.Event())
    assert await relay.take("a", 0, asyncio.Event()) == []


async def test_shutdown_ends_a_waiting_request() -> None:
    relay, shutdown = Relay(), asyncio.Event()
    asked = asyncio.create_task(relay.ask("a", LOGS, 30, shutdown))
    request = await until_queued(relay, "a")  # the ask is waiting now
    shutdown.set()
    with pytest.raises(ShuttingDown):
        async with asyncio.timeout(5):
            await asked
    assert not relay.answer("a", str(request["id"]), "too late", None)


async def test_a_poll_without_requests_ends_after_its_wait() -> None:
    assert await Relay().take("a", 0.01, asyncio.Event()) == []
