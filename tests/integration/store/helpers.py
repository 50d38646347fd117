"""Objects and watch helpers shared by the store tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from edgeplane.store.memory import MemoryStore
from edgeplane.store.protocol import WatchEvent
from edgeplane.store.sql import SqlStore

AnyStore = MemoryStore | SqlStore


def site(name: str, **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "edgeplane.io/v1alpha1",
        "kind": "Site",
        "metadata": {"name": name, "labels": labels},
        "spec": {"runtime": "process"},
    }


def group(name: str) -> dict[str, Any]:
    return {**site(name), "kind": "SiteGroup"}


def rv_of(obj: dict[str, Any]) -> int:
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


async def until(condition: Callable[[], bool], seconds: float = 20.0) -> None:
    """Poll ``condition()`` until true, failing after ``seconds``."""
    async with asyncio.timeout(seconds):
        # Polling on purpose: the condition is plain test state, nothing to await on.
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.01)
