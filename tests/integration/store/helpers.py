"""Objects and watch helpers shared by the store tests."""

from __future__ import annotations

import asyncio

from edgeplane.api.wire import Object
from edgeplane.store.memory import MemoryStore
from edgeplane.store.protocol import WatchEvent
from edgeplane.store.sql import SqlStore
from tests.support import builders

AnyStore = MemoryStore | SqlStore


def site(name: str, **labels: str) -> Object:
    return builders.site(name, spec={"runtime": "process"}, labels=labels)


def group(name: str) -> Object:
    return {**site(name), "kind": "SiteGroup"}


def rv_of(obj: Object) -> int:
    return int(obj["metadata"]["resourceVersion"])


async def collect(store: AnyStore, kind: str | None, since: int, count: int) -> list[WatchEvent]:
    """The first ``count`` events of a watch, failing after 20 s instead of hanging."""
    events: list[WatchEvent] = []
    async with asyncio.timeout(20):
        async for event in store.watch(kind, since):
            events.append(event)
            if len(events) == count:
                break
    return events
