"""The placement controller's loop, driven by the informer's changes.

It places everything once the informer has listed, then waits for changes, lets a
burst land (``DEBOUNCE_SECONDS``) and sorts the batch (``triggers``): a change of
meaning runs a pass, an Assignment's status alone updates its application's status,
anything else (a heartbeat, the controller's own writes) wakes nothing. After its
writes it waits until the informer holds them (``CATCH_UP_SECONDS`` at most), so the
next pass never reads an older world than it wrote.

Three things wake it that are no store change: a write that lost a race (placed again
at once), an application whose artifact is missing (a push is not a store event:
placed again after ``RETRY_SECONDS``, doubling to ``RETRY_MAX_SECONDS`` while it stays
missing), and the time a failover, failback or rollout step comes due (``failover``:
replicas that waited at an offline site move, a returned site takes its replicas back;
``rollouts``: a soak ends, a progress deadline passes, a maintenance window opens).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from edgeplane.hub.controllers.failover import doubt
from edgeplane.hub.controllers.offloop import Overdue
from edgeplane.hub.controllers.pacing import pause, retry_delay
from edgeplane.hub.controllers.placement import PlacementController
from edgeplane.hub.controllers.record import PlacementRecord
from edgeplane.hub.controllers.rendering import ResolveArtifact
from edgeplane.hub.controllers.triggers import Wake, sort_changes
from edgeplane.hub.healthterms import HealthTerms
from edgeplane.hub.informer import Change, Informer, resource_version
from edgeplane.hub.leases import Leases
from edgeplane.placement.planner import PlacementOverdue
from edgeplane.store.errors import StoreError
from edgeplane.store.protocol import Store

log = logging.getLogger("edgeplane.hub.controllers")
DEBOUNCE_SECONDS = 0.1
CATCH_UP_SECONDS = 5.0
RETRY_SECONDS, RETRY_MAX_SECONDS = 2.0, 30.0
MISSING = "an artifact was missing: placing again"
DUE = "a failover, failback or rollout step came due"
DUE_SLACK_SECONDS = 0.05
"""Woken this much after the time, so the pass finds it due (clocks tick coarsely)."""


def woken(why: str) -> Wake:
    wake = Wake()
    wake.due(why)
    return wake


async def placement_loop(
    store: Store,
    resolve: ResolveArtifact,
    stop: asyncio.Event,
    informer: Informer,
    record: PlacementRecord,
    terms: HealthTerms | None = None,
    leases: Leases | None = None,
) -> None:
    """``leases``: their failure detector's doubts keep replicas from going home."""
    detector = leases.detector if leases is not None else None
    controller = PlacementController(
        store,
        resolve,
        informer=informer,
        record=record,
        terms=terms,
        doubted=doubt(detector) if detector is not None else None,
    )
    changes = informer.subscribe()
    record.active, failures, retries = True, 0, 0
    wake = woken("the controller started")
    try:
        await informer.synced()
        while not stop.is_set():
            try:
                await carry_out(controller, wake)
                failures = 0
                wake = await next_wake(controller, changes, retries)
                retries = retries + 1 if wake.triggers == [MISSING] else 0
            except Exception as e:  # one bad pass must not end placement for the fleet
                failures += 1
                delay = retry_delay(failures)
                if isinstance(e, StoreError | Overdue | PlacementOverdue):
                    log.warning("placement: %s; retrying in %.1f s", e, delay)
                else:
                    log.exception("placement pass failed; retrying in %.1f s", delay)
                await pause(stop, delay)
                wake = woken("the last pass failed: placing again")
    finally:
        record.active = False
        informer.unsubscribe(changes)
        controller.worker.close()


async def carry_out(controller: PlacementController, wake: Wake) -> None:
    """A pass, or only the statuses the wake asks for; then wait for the informer to
    hold what was written."""
    record = controller.record
    if wake.full:
        await controller.reconcile(wake.trigger(), wake.apps)
        record.passes.inc()
    elif wake.statuses:
        await controller.update_statuses(wake.statuses)
        record.status_updates.inc()
    if controller.informer is not None:
        await controller.informer.caught_up(controller.writer.written, CATCH_UP_SECONDS)


async def next_wake(
    controller: PlacementController, changes: asyncio.Queue[Change], retries: int = 0
) -> Wake:
    """The next batch of changes that wakes something; ``retries``: how many passes in
    a row an artifact was missing."""
    while True:
        if controller.writer.lost:
            controller.writer.lost = False
            return woken("a write lost a race: placing again")
        retry, due = _retry_after(controller, retries), _due_in(controller)
        first = await _first(changes, _sooner(retry, due))
        if first is None:
            return woken(DUE if due is not None and (retry is None or due <= retry) else MISSING)
        # Let a burst of writes land, then decide once for all of them.
        await asyncio.sleep(DEBOUNCE_SECONDS)
        batch = [first, *_drain(changes)]
        wake = sort_changes(batch, controller.writer.own, controller.rollout.last.moving)
        controller.writer.seen_through(max(resource_version(c.new or c.old) for c in batch))
        if wake:
            return wake


def _retry_after(controller: PlacementController, retries: int) -> float | None:
    missing = any(r == "ArtifactMissing" for r, _ in controller.last.problems.values())
    return min(RETRY_MAX_SECONDS, RETRY_SECONDS * 2.0**retries) if missing else None


def _due_in(controller: PlacementController) -> float | None:
    """Seconds until a failover or failback comes due (``controller.moves``)."""
    at = controller.moves.next_at
    return None if at is None else max(0.0, at - time.time()) + DUE_SLACK_SECONDS


def _sooner(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else min(a, b)


async def _first(changes: asyncio.Queue[Change], seconds: float | None) -> Change | None:
    """The next change; None when ``seconds`` pass first."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            return await changes.get()
    return None


def _drain(changes: asyncio.Queue[Change]) -> list[Change]:
    found = []
    while not changes.empty():
        found.append(changes.get_nowait())
    return found
