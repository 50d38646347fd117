"""The controllers as the hub runs them (``run_controllers``), over each store backend:
they follow the store's events, mark silent sites Offline, report readiness, survive a
failing store and a compacted event log, and stop when asked."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from edgeplane.hub.controllers import run_controllers
from edgeplane.hub.controllers.placement import list_all
from edgeplane.store.errors import Gone, StoreError
from edgeplane.store.memory import MemoryStore
from edgeplane.store.protocol import ListResult, WatchEvent
from tests.conftest import AnyStore
from tests.integration.hub.controller_fleet import (
    add_site,
    app,
    placed,
    resolve,
    set_replicas,
    site,
    update,
)
from tests.support.waiting import wait_until_async


@contextlib.asynccontextmanager
async def controllers(store: AnyStore, offline_after: float = 40.0) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(run_controllers(store, resolve, offline_after, stop))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)  # stops cleanly, promptly


@pytest.fixture
async def hub(store: AnyStore) -> AsyncIterator[AnyStore]:
    """A store with the controllers running over it."""
    async with controllers(store):
        yield store


async def application_status(store: AnyStore, name: str) -> dict[str, Any]:
    return (await store.get("Application", name)).get("status") or {}


async def test_a_silent_site_turns_offline(store: AnyStore) -> None:
    silent = site("silent")
    silent["status"]["lastHeartbeat"] = "2020-01-01T00:00:00Z"
    await add_site(store, silent)
    await add_site(store, site("talking"))

    async def phases() -> dict[str, str]:
        return {s["metadata"]["name"]: s["status"]["phase"] for s in await list_all(store, "Site")}

    # A short limit checks often (every second), so the test does not wait 5 s.
    async with controllers(store, offline_after=4.0):
        found = await wait_until_async(phases, accept=lambda found: found["silent"] == "Offline")
    assert found["talking"] == "Online"


async def test_ready_assignments_make_the_application_ready(hub: AnyStore) -> None:
    for name in ("s1", "s2"):
        await add_site(hub, site(name))
    await hub.create(app("web"))
    assignments = await wait_until_async(lambda: placed(hub), accept=lambda found: len(found) == 2)
    for assignment in assignments.values():
        running = {"phase": "Running", "ready": 1, "observedGeneration": 1}
        await hub.replace_status({**assignment, "status": running})

    status = await wait_until_async(
        lambda: application_status(hub, "web"), accept=lambda found: found.get("ready") == 2
    )
    conditions = {c["type"]: c for c in status["conditions"]}
    assert conditions["Ready"] == {
        "type": "Ready",
        "status": "True",
        "reason": "AllReady",
        "message": "2/2 ready",
    }


async def test_deleting_the_application_deletes_its_assignments(hub: AnyStore) -> None:
    await add_site(hub, site("s1"))
    await hub.create(app("web"))
    await wait_until_async(lambda: placed(hub))
    await hub.delete("Application", "web")

    await wait_until_async(lambda: placed(hub), accept=lambda found: not found)


class FlakyStore(MemoryStore):
    """Fails the controllers' first few lists of Applications, as a database that
    restarts would, and says its event log is compacted on the first few watches."""

    def __init__(self, failed_lists: int = 0, gone_watches: int = 0) -> None:
        super().__init__()
        self.failed_lists, self.gone_watches = failed_lists, gone_watches

    async def list(self, kind: str, *args: Any, **kwargs: Any) -> ListResult:
        if kind == "Application" and self.failed_lists > 0:
            self.failed_lists -= 1
            raise StoreError("database restarting")
        return await super().list(kind, *args, **kwargs)

    async def watch(
        self, kind: str | None, since: int, *, site: str | None = None
    ) -> AsyncIterator[WatchEvent]:
        if self.gone_watches > 0:
            self.gone_watches -= 1
            raise Gone(since, since + 1)
        async for event in super().watch(kind, since, site=site):
            yield event


@pytest.mark.parametrize(
    "faults",
    [{"failed_lists": 3}, {"gone_watches": 3}],
    ids=["store-errors", "compacted-event-log"],
)
async def test_the_controllers_recover(faults: dict[str, int]) -> None:
    store = FlakyStore(**faults)
    await store.open()
    for name in ("s1", "s2", "s3"):
        await add_site(store, site(name))
    await store.create(app("web", mode="Replicas", replicas=1))
    async with controllers(store):
        await wait_until_async(lambda: placed(store), accept=lambda found: len(found) == 1)
        await update(store, "Application", "web", set_replicas(3))
        await wait_until_async(lambda: placed(store), accept=lambda found: len(found) == 3)
    assert (store.failed_lists, store.gone_watches) == (0, 0)
