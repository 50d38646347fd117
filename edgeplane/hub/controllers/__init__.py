"""The hub's controllers: loops that read the hub's informer and write what follows.

* ``placement``: Applications, Sites, SiteGroups, Devices and Policies ->
  Assignments, and each Application's status (where it runs, how much is ready),
  woken only by changes of meaning (``placing``, ``triggers``);
* ``autoscaling``: metrics reported by sites and to the API -> each autoscaled
  Application's desired replica count (``status.autoscaling``), which placement divides;
* ``health``: sites the failure detector suspects, or silent past the hard bound ->
  Offline, with the ``Reachable`` condition saying why.

``run_controllers`` runs them until ``stop`` is set; the hub starts it beside the API
(on the leader only, with the hub's informer, leases and their detector, health terms,
metrics and placement record), tests can
start it beside an in-process app (it then makes and runs its own informer).
"""

from __future__ import annotations

import asyncio
import logging

from edgeplane.hub.controllers.autoscaling import PERIOD_SECONDS, Autoscaler
from edgeplane.hub.controllers.health import Terms, health_loop
from edgeplane.hub.controllers.pacing import pause, retry_delay
from edgeplane.hub.controllers.placing import placement_loop
from edgeplane.hub.controllers.record import PlacementRecord
from edgeplane.hub.controllers.rendering import ResolveArtifact
from edgeplane.hub.informer import Informer
from edgeplane.hub.leases import Leases
from edgeplane.hub.metrics import HubMetrics
from edgeplane.store.protocol import Store

__all__ = ["pause", "retry_delay", "run_controllers", "stop_loops"]
log = logging.getLogger("edgeplane.hub.controllers")
STOP_SECONDS = 10.0


async def run_controllers(
    store: Store,
    resolve: ResolveArtifact,
    offline_after: float,
    stop: asyncio.Event,
    *,
    leases: Leases | None = None,
    informer: Informer | None = None,
    record: PlacementRecord | None = None,
    terms: Terms | None = None,
    metrics: HubMetrics | None = None,
    autoscale_seconds: float = PERIOD_SECONDS,
) -> None:
    """``informer``: the hub's, already running (else one is made and run here);
    ``record``: where placement's decisions and counts go (``app.state``'s); ``terms``:
    each site's health terms (``app.state.health_terms``); ``metrics``: the hub's."""
    tasks = []
    if informer is None:
        informer = Informer(store)
        tasks.append(asyncio.create_task(informer.run(stop), name="informer"))
    placement = placement_loop(
        store, resolve, stop, informer, record or PlacementRecord(), leases=leases
    )
    health = health_loop(
        store, offline_after, stop, leases=leases, informer=informer, terms=terms, metrics=metrics
    )
    autoscaling = Autoscaler(store, informer).run(stop, autoscale_seconds)
    tasks += [
        asyncio.create_task(placement, name="placement"),
        asyncio.create_task(health, name="health"),
        asyncio.create_task(autoscaling, name="autoscaling"),
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
