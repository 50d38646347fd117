"""The site stream's parts over the in-memory store: the lines one site sees (its own
Assignments, requests as queued, bookmarks while quiet, Gone as an ERROR line), one
stream a site, the bookmark period's bounds, and which selectors name one site."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from edgeplane.api.selectors import parse_selector
from edgeplane.hub.errors import ApiError
from edgeplane.hub.relay import Relay
from edgeplane.hub.stream import SiteStream, Streams, _bookmark_seconds, lines
from edgeplane.hub.watch import single_site
from edgeplane.store.memory import MemoryStore
from tests.support.builders import assignment


class Opened:
    """One stream of site ``a`` read in the background."""

    def __init__(self, store: MemoryStore, relay: Relay, since: int | None = None) -> None:
        self.shutdown, self.replaced = asyncio.Event(), asyncio.Event()
        self.got: list[dict[str, Any]] = []
        self.more = asyncio.Event()
        wanted = SiteStream("a", since, 1.0)
        self.task = asyncio.create_task(
            self._read(lines(store, relay, wanted, self.shutdown, self.replaced))
        )

    async def _read(self, chunks: AsyncIterator[bytes]) -> None:
        async for chunk in chunks:
            self.got.append(json.loads(chunk))
            self.more.set()

    async def until(self, count: int) -> list[dict[str, Any]]:
        async with asyncio.timeout(10):
            while len(self.got) < count:
                self.more.clear()
                await self.more.wait()
        return self.got


@pytest.fixture
async def store() -> AsyncIterator[MemoryStore]:
    store = MemoryStore()
    await store.open()
    yield store
    await store.close()


async def test_a_site_sees_its_own_assignments_then_requests_then_bookmarks(
    store: MemoryStore,
) -> None:
    relay = Relay()
    await store.create(assignment("web", "a"))
    await store.create(assignment("web", "b"))
    stream = Opened(store, relay)
    await stream.until(1)
    await store.create(assignment("api", "b"))
    await store.create(assignment("api", "a"))
    await stream.until(2)
    asked = asyncio.create_task(relay.ask("a", {"type": "logs"}, 5, asyncio.Event()))
    got = await stream.until(4)
    stream.shutdown.set()
    await stream.task
    asked.cancel()
    names = [g["object"]["metadata"]["name"] for g in got[:2]]
    assert [g["type"] for g in got] == ["ADDED", "ADDED", "REQUEST", "BOOKMARK"]
    assert names == ["web.a", "api.a"]
    assert got[2]["request"]["type"] == "logs"
    assert got[3]["object"]["metadata"]["resourceVersion"] == "4"


async def test_a_compacted_version_is_one_error_line() -> None:
    store = MemoryStore(event_retention=1)
    await store.open()
    for app in ("web", "api", "db"):
        await store.create(assignment(app, "a"))
    await store.compact()
    stream = Opened(store, Relay(), since=1)
    async with asyncio.timeout(10):
        await stream.task
    await store.close()
    (error,) = stream.got
    assert error["type"] == "ERROR"
    assert (error["object"]["code"], error["object"]["reason"]) == (410, "Gone")


async def test_a_replaced_stream_ends_and_leaves_no_queue_behind(store: MemoryStore) -> None:
    relay = Relay()
    stream = Opened(store, relay, since=await store.current_resource_version())
    await asyncio.sleep(0)
    stream.replaced.set()
    async with asyncio.timeout(10):
        await stream.task
    assert relay._sites == {}, "the request wait is withdrawn with the stream"


def test_a_second_claim_ends_the_first() -> None:
    streams = Streams()
    first = streams.claim("a")
    other = streams.claim("b")
    second = streams.claim("a")
    assert first.is_set() and not second.is_set() and not other.is_set()
    streams.release("a", first)  # the first ends after the second began: keeps the second
    assert len(streams) == 2
    streams.release("a", second)
    streams.release("b", other)
    assert len(streams) == 0


@pytest.mark.parametrize(
    ("given", "seconds"),
    [(None, 60.0), ("", 60.0), ("1", 1.0), ("2.5", 2.5), ("300", 300.0)],
    ids=["absent", "empty", "least", "fraction", "most"],
)
def test_bookmark_seconds(given: str | None, seconds: float) -> None:
    assert _bookmark_seconds(given) == seconds


@pytest.mark.parametrize(
    "given", ["0", "0.5", "301", "nan", "inf", "-5", "soon", "1e400", "١٢", "9" * 30]
)
def test_bookmark_seconds_refused(given: str) -> None:
    with pytest.raises(ApiError) as refused:
        _bookmark_seconds(given)
    assert (refused.value.status, refused.value.field) == (400, "bookmarkSeconds")


@pytest.mark.parametrize(
    ("selector", "site"),
    [
        ("edgeplane.io/site=a", "a"),
        ("edgeplane.io/site=a,edgeplane.io/application=web", "a"),
        ("edgeplane.io/site in (a)", "a"),
        ("edgeplane.io/site in (a,b)", None),
        ("edgeplane.io/site!=a", None),
        ("edgeplane.io/site=a,edgeplane.io/site=b", None),
        ("edgeplane.io/application=web", None),
        ("", None),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_single_site(selector: str, site: str | None) -> None:
    assert single_site(parse_selector(selector)) == site
