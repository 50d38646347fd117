"""The hub's controllers: loops that read the store and write what follows from it.

* ``placement``: Applications, Sites and SiteGroups -> Assignments, and each
  Application's status (where it runs, how much is ready);
* ``health``: sites without heartbeats -> Offline.

``run_controllers`` runs them until ``stop`` is set; the hub starts it beside the API,
tests can start it beside an in-process app.
"""

from __future__ import annotations

import asyncio
import logging

from edgeplane.hub.controllers.health import health_loop
from edgeplane.hub.controllers.offloop import Overdue
from edgeplane.hub.controllers.pacing import pause, retry_delay
from edgeplane.hub.controllers.placement import PlacementController, ResolveArtifact
from edgeplane.hub.leases import Leases
from edgeplane.placement.planner import PlacementOverdue
from edgeplane.store.errors import Gone, StoreError
from edgeplane.store.protocol import Store

log = logging.getLogger("edgeplane.hub.controllers")
DEBOUNCE_SECONDS = 0.1
STOP_SECONDS = 10.0


async def _placement_pass(controller: PlacementController, store: Store) -> None:
    """One pass, then wait for the next change to the store."""
    since = await store.current_resource_version()
    await controller.reconcile()
    async for _ in store.watch(None, since):
        # Let a burst of writes land, then decide once for all of them.
        await asyncio.sleep(DEBOUNCE_SECONDS)
        return


async def _placement_loop(store: Store, resolve: ResolveArtifact, stop: asyncio.Event) -> None:
    controller, failures = PlacementController(store, resolve), 0
    try:
        while not stop.is_set():
            try:
                await _placement_pass(controller, store)
                failures = 0
            except Gone:  # the events since the pass are compacted away: read all again
                continue
            except Exception as e:  # one bad pass must not end placement for the fleet
                failures += 1
                delay = retry_delay(failures)
                if isinstance(e, StoreError | Overdue | PlacementOverdue):
                    log.warning("placement: %s; retrying in %.1f s", e, delay)
                else:
                    log.exception("placement pass failed; retrying in %.1f s", delay)
                await pause(stop, delay)
    finally:
        controller.worker.close()


async def run_controllers(
    store: Store,
    resolve: ResolveArtifact,
    offline_after: float,
    stop: asyncio.Event,
    *,
    leases: Leases | None = None,
) -> None:
    health = health_loop(store, offline_after, stop, leases=leases)
    tasks = [
        asyncio.create_task(_placement_loop(store, resolve, stop), name="placement"),
        asyncio.create_task(health, name="health"),
    ]
    try:
        await stop.wait()
    finally:
        await stop_loops(tasks)


async def stop_loops(tasks: list[asyncio.Task[None]], seconds: float = STOP_SECONDS) -> None:
    """Cancel the loops and wait for them, at most ``seconds``: a loop that lost its
    cancellation must not keep the hub from stopping (the store closes next, which
    ends any watch it still waits in)."""
    for task in tasks:
        task.cancel()
    _, stuck = await asyncio.wait(tasks, timeout=seconds)
    for task in stuck:
        log.error("controller %s did not stop within %g s; leaving it", task.get_name(), seconds)
    for task in tasks:
        error = task.exception() if task.done() and not task.cancelled() else None
        if error is not None:
            log.error("controller %s ended with an error", task.get_name(), exc_info=error)
