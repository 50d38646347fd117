"""Watch streams: store events as NDJSON lines, with bookmarks and a clean shutdown.

Without a starting resourceVersion the stream first sends every current object as
ADDED (from one consistent list), then follows the store from that list's version.
With a label selector, an object that stops matching is sent as DELETED, carrying only
its name, uid and resourceVersion (its new content is outside the selector).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from typing import Any, Final, Literal

from edgeplane.api.kinds import API_VERSION, KindInfo
from edgeplane.api.selectors import Operator, Selector
from edgeplane.api.wellknown import SITE_LABEL
from edgeplane.api.wire import Meta, Object, Status
from edgeplane.store.errors import Gone
from edgeplane.store.protocol import EventType, Store, WatchEvent


@dataclass(frozen=True)
class WatchRequest:
    info: KindInfo
    selector: Selector
    since: int | None
    bookmark_seconds: float


def line(event_type: str, obj: Object | Status) -> bytes:
    return json.dumps({"type": event_type, "object": obj}, separators=(",", ":")).encode() + b"\n"


def bookmark(info: KindInfo, rv: int) -> bytes:
    marker = Object(kind=info.kind, apiVersion=API_VERSION, metadata=Meta(resourceVersion=str(rv)))
    return line("BOOKMARK", marker)


async def initial_state(store: Store, request: WatchRequest) -> tuple[list[Object], int]:
    items, token, rv = [], None, None
    while True:
        page = await store.list(request.info.kind, request.selector, 1000, token)
        items += page.items
        rv = page.resource_version if rv is None else rv
        if not (token := page.continue_token):
            return items, rv


async def stream(
    store: Store, request: WatchRequest, shutdown: asyncio.Event
) -> AsyncGenerator[bytes, None]:
    """The NDJSON lines of one watch; ends on shutdown, store close or Gone."""
    matching: set[str] = set()
    since = request.since
    if not since:
        items, since = await initial_state(store, request)
        for obj in items:
            matching.add(obj["metadata"]["name"])
            yield line(EventType.ADDED.value, obj)
    site = single_site(request.selector)
    if site is None:
        events = aiter(store.watch(request.info.kind, since))
    else:
        events = aiter(site_events(store, request.info.kind, since, site))
    last = since
    stopping = asyncio.ensure_future(shutdown.wait())
    pending: asyncio.Future[WatchEvent] | None = None
    try:
        while True:
            pending = pending or asyncio.ensure_future(anext(events))
            waiters: set[asyncio.Future[Any]] = {pending, stopping}
            done, _ = await asyncio.wait(
                waiters,
                timeout=request.bookmark_seconds,
                return_when=asyncio.FIRST_COMPLETED,
            )
            if stopping in done:
                return
            if pending not in done:
                yield bookmark(request.info, last)
                continue
            try:
                event = pending.result()
            except StopAsyncIteration:
                return
            except Gone as e:
                error = Status(code=410, reason="Gone", message=str(e), field="resourceVersion")
                yield line("ERROR", error)
                return
            pending, last = None, event.resource_version
            if out := filtered(event, request.selector, matching):
                yield out
    finally:
        stopping.cancel()
        if pending is not None:
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration, Gone):
                await pending
        with contextlib.suppress(Exception):
            await events.aclose()  # type: ignore[attr-defined]


def single_site(selector: Selector) -> str | None:
    """The one site ``selector`` limits objects to (``edgeplane.io/site=X``, as an agent
    of protocol v1 watches, narrowed or not), else None."""
    sites = {
        r.values[0]
        for r in selector.requirements
        if r.key == SITE_LABEL and r.operator is Operator.IN and len(r.values) == 1
    }
    return sites.pop() if len(sites) == 1 else None


def site_events(store: Store, kind: str, since: int, site: str) -> AsyncIterator[WatchEvent]:
    """The store's events of ``kind`` for one site's objects, and of those that just
    left it: routed by the store (10,000 sites' watches cost an event four lookups, not
    10,000 tests). Callers filter by their selector all the same."""
    return store.watch(kind, since, site=site)


def filtered(event: WatchEvent, selector: Selector, matching: set[str]) -> bytes | None:
    obj = event.object
    name = obj["metadata"]["name"]
    if selector.empty:
        return line(event.type.value, obj)
    labels = obj["metadata"].get("labels") or {}
    if event.type is EventType.DELETED and selector.matches(labels):
        matching.discard(name)
        return line(EventType.DELETED.value, obj)
    if event.type is EventType.DELETED or not selector.matches(labels):
        if name in matching:
            matching.discard(name)
            # What the object is now is outside the selector (a site's narrowing, too):
            # an Assignment moved to another site reached the old one whole, secrets
            # and all. The watcher learns only which object left.
            return line(EventType.DELETED.value, _departed(obj))
        return None
    matching.add(name)
    return line(event.type.value, obj)


IDENTITY: Final[tuple[Literal["name", "uid", "resourceVersion"], ...]] = (
    "name",
    "uid",
    "resourceVersion",
)


def _departed(obj: Object) -> Object:
    """An object that stopped matching, as a watcher that saw it may still be told of
    it: its identity and the version it left at, none of its new content."""
    metadata, identity = obj["metadata"], Meta()
    for key in IDENTITY:
        if key in metadata:
            identity[key] = metadata[key]
    return Object(
        apiVersion=obj.get("apiVersion", API_VERSION), kind=obj["kind"], metadata=identity
    )
