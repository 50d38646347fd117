"""One stream per site: its Assignments, the hub's requests to it, and bookmarks.

``GET /sites/{site}/stream?resourceVersion=<rv>&bookmarkSeconds=<s>`` (the site's own
credential or an admin) answers NDJSON lines, so that an idle agent holds one
connection instead of a watch, a relay long poll re-sent every 25 s, and their
bookmarks:

* ``ADDED`` / ``MODIFIED`` / ``DELETED`` with the site's Assignments (without a
  resourceVersion, every current one as ADDED first, then what follows);
* ``BOOKMARK`` after ``bookmarkSeconds`` (default 60, 1 to 300) without a line;
* ``REQUEST`` with a relay request the moment it is queued (answered through the
  existing ``POST /sites/{site}/requests/{id}``);
* ``ERROR`` 410 Gone when the version is older than the event log holds; then it ends.

A site's second stream ends its first (``Streams``), so a reconnecting agent never
holds two. Every stream ends when the hub shuts down.

Neighbours: ``watch`` (line format, initial list, selector filtering), ``relay`` (the
request queue), ``authz`` (the site rule), ``listing`` (resourceVersion checks).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from edgeplane.api.kinds import kind_info
from edgeplane.api.selectors import Selector
from edgeplane.api.wire import Status
from edgeplane.hub.authz import site_requirement
from edgeplane.hub.errors import ApiError, bad_request
from edgeplane.hub.listing import check_not_future, parse_resource_version
from edgeplane.hub.relay import Relay
from edgeplane.hub.watch import (
    WatchRequest,
    bookmark,
    filtered,
    initial_state,
    line,
    site_events,
)
from edgeplane.store.errors import Gone, NotFound
from edgeplane.store.protocol import Store, WatchEvent

router = APIRouter(prefix="/api/v1alpha1")
ASSIGNMENT = kind_info("Assignment")
BOOKMARK_SECONDS = 60.0
MIN_BOOKMARK_SECONDS, MAX_BOOKMARK_SECONDS = 1.0, 300.0


class Streams:
    """The open stream of each site; claiming a site's stream ends the one before."""

    def __init__(self) -> None:
        self._open: dict[str, asyncio.Event] = {}

    def claim(self, site: str) -> asyncio.Event:
        """The event that ends the new stream: set when a later one claims the site."""
        if (earlier := self._open.get(site)) is not None:
            earlier.set()
        replaced = self._open[site] = asyncio.Event()
        return replaced

    def release(self, site: str, replaced: asyncio.Event) -> None:
        if self._open.get(site) is replaced:
            del self._open[site]

    def __len__(self) -> int:
        return len(self._open)


@dataclass(frozen=True)
class SiteStream:
    site: str
    since: int | None
    bookmark_seconds: float


def request_line(request: dict[str, Any]) -> bytes:
    encoded = json.dumps({"type": "REQUEST", "request": request}, separators=(",", ":"))
    return encoded.encode() + b"\n"


def gone_line(message: str) -> bytes:
    return line("ERROR", Status(code=410, reason="Gone", message=message))


@router.get("/sites/{site}/stream", response_model=None)
async def site_stream(
    request: Request,
    site: str,
    resource_version: str | None = Query(None, alias="resourceVersion"),
    bookmark_seconds: str | None = Query(None, alias="bookmarkSeconds"),
) -> StreamingResponse:
    wanted = SiteStream(
        site, parse_resource_version(resource_version), _bookmark_seconds(bookmark_seconds)
    )
    store: Store = request.app.state.store
    await _check_site(store, site)
    await check_not_future(store, wanted.since)
    state = request.app.state

    async def body() -> AsyncIterator[bytes]:
        replaced = state.streams.claim(site)
        state.metrics.watches.inc()
        try:
            async for chunk in lines(store, state.relay, wanted, state.shutdown, replaced):
                yield chunk
        finally:
            state.metrics.watches.dec()
            state.streams.release(site, replaced)

    return StreamingResponse(
        body(),
        media_type="application/x-ndjson",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _check_site(store: Store, site: str) -> None:
    try:
        await store.get("Site", site)
    except NotFound:
        raise ApiError(
            404,
            "NotFound",
            f"site {site!r} is not known: join it first (`edgeplane site token`), or check "
            "the name with `edgeplane get sites`",
            "site",
        ) from None


def _bookmark_seconds(value: str | None) -> float:
    if value is None or value == "":
        return BOOKMARK_SECONDS
    try:
        seconds = float(value) if value.isascii() and len(value) <= 20 else None
    except ValueError:
        seconds = None
    if seconds is None or not MIN_BOOKMARK_SECONDS <= seconds <= MAX_BOOKMARK_SECONDS:
        raise bad_request(
            f"bookmarkSeconds {value[:40]!r} is not a number of seconds from "
            f"{MIN_BOOKMARK_SECONDS:g} to {MAX_BOOKMARK_SECONDS:g}: give one (or leave it out "
            f"for {BOOKMARK_SECONDS:g})",
            "bookmarkSeconds",
        )
    return seconds


async def lines(
    store: Store, relay: Relay, wanted: SiteStream, shutdown: asyncio.Event, replaced: asyncio.Event
) -> AsyncIterator[bytes]:
    """The NDJSON lines of one site's stream; ends on shutdown, replacement, store close
    or Gone (after its ERROR line)."""
    selector = Selector((site_requirement(wanted.site),))
    matching: set[str] = set()
    since = wanted.since
    if since is None:
        request = WatchRequest(ASSIGNMENT, selector, None, wanted.bookmark_seconds)
        items, since = await initial_state(store, request)
        for obj in items:
            matching.add(obj["metadata"]["name"])
            yield line("ADDED", obj)
    sources = _Sources(site_events(store, ASSIGNMENT.kind, since, wanted.site), relay, wanted.site)
    follow = _Follow(selector, matching, since, wanted.bookmark_seconds)
    try:
        async for chunk in follow.run(sources, (shutdown, replaced)):
            yield chunk
    finally:
        await sources.close()


class _Sources:
    """What one stream waits on: the site's next event and its next relay requests."""

    def __init__(self, events: AsyncIterator[WatchEvent], relay: Relay, site: str) -> None:
        self._events, self._relay, self._site = events, relay, site
        self.event: asyncio.Future[WatchEvent] | None = None
        self.requests: asyncio.Future[list[dict[str, Any]]] | None = None

    def waiting(self) -> set[asyncio.Future[Any]]:
        self.event = self.event or asyncio.ensure_future(anext(self._events))
        self.requests = self.requests or asyncio.ensure_future(
            self._relay.next_requests(self._site)
        )
        return {self.event, self.requests}

    def take_event(self) -> WatchEvent:
        """The event (or the watch's end or Gone, raised)."""
        assert self.event is not None
        event, self.event = self.event, None
        return event.result()

    def take_requests(self) -> list[dict[str, Any]]:
        assert self.requests is not None
        requests, self.requests = self.requests, None
        return requests.result()

    async def close(self) -> None:
        for future in (self.event, self.requests):
            if future is not None:
                future.cancel()
                with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration, Gone):
                    await future
        with contextlib.suppress(Exception):
            await self._events.aclose()  # type: ignore[attr-defined]


@dataclass
class _Follow:
    """The loop of one stream: events and requests as they come, a bookmark after
    ``every`` seconds without a line (other sites' events, filtered out, do not count)."""

    selector: Selector
    matching: set[str]
    last: int
    every: float

    async def run(self, sources: _Sources, ends: tuple[asyncio.Event, ...]) -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        ending = {asyncio.ensure_future(end.wait()) for end in ends}
        quiet_until = loop.time() + self.every
        try:
            while True:
                done, _ = await asyncio.wait(
                    sources.waiting() | ending,
                    timeout=max(0.0, quiet_until - loop.time()),
                    return_when=asyncio.FIRST_COMPLETED,
                )
                out = self._requests(sources, done)
                if done & ending:
                    for chunk in out:
                        yield chunk
                    return
                if sources.event in done:
                    try:
                        out += self._event(sources.take_event())
                    except StopAsyncIteration:
                        return
                    except Gone as e:
                        yield gone_line(f"{e}: list again and stream from the list's version")
                        return
                if not out and loop.time() >= quiet_until:
                    out.append(bookmark(ASSIGNMENT, self.last))
                if out:
                    quiet_until = loop.time() + self.every
                for chunk in out:
                    yield chunk
        finally:
            for future in ending:
                future.cancel()

    def _requests(self, sources: _Sources, done: set[asyncio.Future[Any]]) -> list[bytes]:
        if sources.requests not in done:
            return []
        return [request_line(r) for r in sources.take_requests()]

    def _event(self, event: WatchEvent) -> list[bytes]:
        self.last = event.resource_version
        chunk = filtered(event, self.selector, self.matching)
        return [chunk] if chunk else []
