"""The hub's controllers: loops that read the store and write what follows from it.

* ``placement``: Applications, Sites and SiteGroups -> Assignments, and each
  Application's status (where it runs, how much is ready);
* ``health``: sites without heartbeats -> Offline.

``run_controllers`` runs them until ``stop`` is set; the hub starts it beside the API,
tests can start it beside an in-process app.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from edgeplane.hub.controllers.health import mark_offline
from edgeplane.hub.controllers.placement import PlacementController, ResolveArtifact, list_all
from edgeplane.store.errors import Gone, StoreError
from edgeplane.store.protocol import Store

log = logging.getLogger("edgeplane.hub.controllers")
DEBOUNCE_SECONDS = 0.1
RETRY_SECONDS = 1.0


async def _placement_loop(store: Store, resolve: ResolveArtifact, stop: asyncio.Event) -> None:
    controller = PlacementController(store, resolve)
    while not stop.is_set():
        try:
            since = await store.current_resource_version()
            await controller.reconcile()
            async for _ in store.watch(None, since):
                # Let a burst of writes land, then decide once for all of them.
                await asyncio.sleep(DEBOUNCE_SECONDS)
                break
        except Gone:
            continue
        except StoreError as e:
            log.warning("placement: %s; retrying", e)
            await asyncio.sleep(RETRY_SECONDS)
        except Exception:  # one bad pass must not end placement for the whole fleet
            log.exception("placement pass failed; retrying")
            await asyncio.sleep(RETRY_SECONDS)


async def _health_loop(store: Store, offline_after: float, stop: asyncio.Event) -> None:
    period = max(0.5, min(5.0, offline_after / 4))
    while not stop.is_set():
        try:
            await mark_offline(store, await list_all(store, "Site"), offline_after)
        except StoreError as e:
            log.warning("health: %s; retrying", e)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), period)


async def run_controllers(
    store: Store, resolve: ResolveArtifact, offline_after: float, stop: asyncio.Event
) -> None:
    tasks = [
        asyncio.create_task(_placement_loop(store, resolve, stop), name="placement"),
        asyncio.create_task(_health_loop(store, offline_after, stop), name="health"),
    ]
    try:
        await stop.wait()
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
