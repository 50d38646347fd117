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
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from edgeplane.api.kinds import API_VERSION, KindInfo
from edgeplane.api.selectors import Selector
from edgeplane.store.errors import Gone
from edgeplane.store.protocol import EventType, Object, Store, WatchEvent


@dataclass(frozen=True)
class WatchRequest:
    info: KindInfo
    selector: Selector
    since: int | None
    bookmark_seconds: float


def line(event_type: str, obj: Object | dict[str, Any]) -> bytes:
    return json.dumps({"type": event_type, "object": obj}, separators=(",", ":")).encode() + b"\n"


def bookmark(info: KindInfo, rv: int) -> bytes:
    marker = {
        "kind": info.kind,
        "apiVersion": API_VERSION,
        "metadata": {"resourceVersion": str(rv)},
    }
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
) -> AsyncIterator[bytes]:
    """The NDJSON lines of one watch; ends on shutdown, store close or Gone."""
    matching: set[str] = set()
    since = request.since
    if not since:
        items, since = await initial_state(store, request)
        for obj in items:
            matching.add(obj["metadata"]["name"])
            yield line(EventType.ADDED.value, obj)
    events = aiter(store.watch(request.info.kind, since))
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
                yield line(
                    "ERROR", {"reason": "Gone", "message": str(e), "field": "resourceVersion"}
                )
                return
            pending, last = None, event.resource_version
            if out := _filtered(event, request.selector, matching):
                yield out
    finally:
        stopping.cancel()
        if pending is not None:
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration, Gone):
                await pending
        with contextlib.suppress(Exception):
            await events.aclose()  # type: ignore[attr-defined]


def _filtered(event: WatchEvent, selector: Selector, matching: set[str]) -> bytes | None:
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


def _departed(obj: Object) -> dict[str, Any]:
    """An object that stopped matching, as a watcher that saw it may still be told of
    it: its identity and the version it left at, none of its new content."""
    metadata = obj["metadata"]
    return {
        "apiVersion": obj.get("apiVersion", API_VERSION),
        "kind": obj.get("kind"),
        "metadata": {
            key: metadata[key] for key in ("name", "uid", "resourceVersion") if key in metadata
        },
    }
