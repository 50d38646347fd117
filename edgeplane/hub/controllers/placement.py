"""The placement controller: turns placement decisions into Assignments and tells each
Application where it runs and how much of it is ready.

A pass reads Applications, Sites, SiteGroups, Devices and Assignments (from the
informer's cache when it has one, else by listing the store), asks
``edgeplane.placement`` where each application goes (incrementally: only what the
changes touch is placed again), and writes only the difference, many writes at once
(``writing``): new assignments, changed ones (a new revision, an override), and
deletions. Then it writes each Application's status when it changed, and records the
decisions and their story for ``explain`` (``record``).

``update_statuses`` is the cheap path: an Assignment whose status alone changed (a
replica became ready) rewrites its application's status from the last pass's
decision, with no planner run. ``hub.controllers.placing`` decides which path a batch
of changes takes.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from edgeplane.api.wire import Object
from edgeplane.hub.controllers.appstatus import (
    app_status,
    problem_condition,
    ready_condition,
    with_failovers,
    with_rollout,
)
from edgeplane.hub.controllers.desired import (
    bound_devices,
    by_application,
    desired_assignments,
    devices_condition,
)
from edgeplane.hub.controllers.failover import (
    Doubted,
    Moves,
    Unhealthy,
    carried_out,
    fencing_epoch,
    moves,
)
from edgeplane.hub.controllers.governed import PolicyGate
from edgeplane.hub.controllers.loading import Loaded, list_all
from edgeplane.hub.controllers.naming import Problem
from edgeplane.hub.controllers.offloop import PASS_SECONDS, Worker
from edgeplane.hub.controllers.record import PlacementRecord
from edgeplane.hub.controllers.rendering import (
    RenderCache,
    ResolveArtifact,
    render,
    render_revisions,
    resolved_workload,
    unchanged,
)
from edgeplane.hub.controllers.revisions import RevisionPlan
from edgeplane.hub.controllers.rollouts import RolloutKeeper, Rollouts
from edgeplane.hub.controllers.viewcache import ViewCache
from edgeplane.hub.controllers.writing import Writer, in_flight
from edgeplane.hub.healthterms import HealthTerms
from edgeplane.hub.informer import Informer
from edgeplane.placement.model import Decision, Snapshot
from edgeplane.placement.planner import PlacementOverdue, Planner
from edgeplane.placement.views import devices_by_site, group_selectors
from edgeplane.store.errors import NotFound
from edgeplane.store.protocol import Store

log = logging.getLogger("edgeplane.hub.placement")
__all__ = [
    "PlacementController",
    "ResolveArtifact",
    "app_status",
    "list_all",
    "ready_condition",
    "render",
    "resolved_workload",
    "unchanged",
]


RenderedApp = tuple[dict[str, Object], Problem | None]
"""(reason, message): why an application is not placed as decided."""


@dataclass
class LastPass:
    """What a status-only update needs of the last pass."""

    decisions: Mapping[str, Decision] = field(default_factory=dict)
    problems: Mapping[str, Problem] = field(default_factory=dict)
    mine: Mapping[str, list[str]] = field(default_factory=dict)
    """Each application's desired Assignments, by name."""
    generations: Mapping[str, int] = field(default_factory=dict)


class PlacementController:
    def __init__(
        self,
        store: Store,
        resolve: ResolveArtifact,
        worker: Worker | None = None,
        loaded: Loaded | None = None,
        *,
        informer: Informer | None = None,
        record: PlacementRecord | None = None,
        terms: HealthTerms | None = None,
        doubted: Doubted | None = None,
    ) -> None:
        """``doubted``: the failure detector's doubt of a site (no failback to it)."""
        self.doubted = doubted
        self.store, self.resolve, self.informer = store, resolve, informer
        self.gate = PolicyGate(store, informer)
        self.planner: Planner | None = None
        self.worker = worker or Worker("placement", PASS_SECONDS)
        self.writer = Writer(store)
        self.record = record or PlacementRecord()
        self.invalid: dict[str, str] = {}
        """Applications left out of the last snapshot, and why."""
        self.changed: set[str] = set()
        """Applications whose decision the last pass changed."""
        self.last = LastPass()
        self._views = ViewCache()
        self.terms = terms or HealthTerms(informer=informer)
        self.moves = Moves()
        self.device_objects: list[Object] = []
        self.devices_missing: dict[str, list[str]] = {}
        """Application -> devices its instances should have and could not get, by site."""
        self.unhealthy = Unhealthy()
        """This pass's failovers and failbacks (``failover``)."""
        self._renders = RenderCache()
        self._loaded = loaded or Loaded()
        self.rollout = RolloutKeeper(store, self.writer, self.worker)

    def _lease_of(self, site: Object) -> float:
        return self.terms.of(site).lease_seconds

    async def _objects(self, kind: str) -> list[Object]:
        if self.informer is not None:
            return sorted(self.informer.items(kind).values(), key=_name)
        return await list_all(self.store, kind)

    async def _list_valid(self, kind: str) -> list[Object]:
        objs = await self._objects(kind)
        good, bad = await self.worker.run(self._loaded.valid, kind, objs)
        if kind == "Application":
            self.invalid = self.rollout.invalid = bad
        return good

    async def snapshot(
        self, candidate: Object | None = None
    ) -> tuple[Snapshot, list[Object], list[Object], dict[str, Object]]:
        """The fleet as placement sees it, with the objects it came from; with a
        ``candidate``, as if that application were stored (a dry run). Objects that do
        not validate are left out (``invalid`` says which applications, and why)."""
        apps = await self._list_valid("Application")
        if candidate is not None:
            name = candidate["metadata"]["name"]
            apps = [a for a in apps if a["metadata"]["name"] != name] + [candidate]
        sites = await self._list_valid("Site")
        self.rollout.groups = groups = await self._list_valid("SiteGroup")
        self.device_objects = await self._list_valid("Device")
        devices = devices_by_site(self.device_objects)
        stored = {a["metadata"]["name"]: a for a in await self._list_valid("Assignment")}
        current: dict[str, dict[str, int]] = {}
        for a in stored.values():
            spec = a["spec"]
            current.setdefault(spec["application"], {})[spec["site"]] = spec.get("replicas", 1)
        await self.gate.refresh(apps)
        by_site = {s["metadata"]["name"]: s for s in sites}
        self.moves = moves(
            apps, by_site, stored, current, self._lease_of, None, self.unhealthy, self.doubted
        )
        snapshot = Snapshot(
            tuple(self._views.app(a) for a in apps),
            tuple(self._views.site(s, devices.get(s["metadata"]["name"], ())) for s in sites),
            group_selectors(groups),
            self.moves.current,
            self.gate,
            self.moves.waiting,
            self.moves.avoiding,
        )
        return snapshot, apps, sites, stored

    def plan(self, snapshot: Snapshot, deadline: float | None = None) -> Mapping[str, Decision]:
        """Place incrementally from the last pass (the first places everything). Runs in
        the worker thread; PlacementOverdue past ``deadline``."""
        if self.planner is not None:
            try:
                self.changed = self.planner.update(snapshot, deadline)
                return self.planner.decisions
            except PlacementOverdue:
                self.planner = None  # its state is partial: the next pass starts afresh
                raise
            except Exception:  # a fault in the increment must not stop placement
                log.exception("incremental placement failed; placing everything again")
        self.planner = None
        self.planner = Planner(snapshot, deadline=deadline)
        self.changed = set(self.planner.decisions)
        return self.planner.decisions

    async def reconcile(
        self, trigger: str = "a pass", own: Mapping[str, str] | None = None
    ) -> None:
        """One pass. ``trigger`` says what woke it and ``own`` each application's own
        change (for the story ``explain`` tells)."""
        snapshot, apps, sites, stored = await self.snapshot()
        decisions = await self.worker.run(self.plan, snapshot, self.worker.deadline())
        by_site = {s["metadata"]["name"]: s for s in sites}
        revisions = await self.rollout.revisions(apps, await self._objects("Revision"))
        rolled = await self.worker.run(self.rollout.roll, apps, decisions, by_site, stored)

        def render(app: Object, held: Mapping[str, Object]) -> RenderedApp:
            name = _name(app)
            return self._rendered(app, decisions[name], by_site, rolled, revisions, held)

        desired, problems = await self.worker.run(desired_assignments, apps, stored, render)
        self._renders.done()
        desired, self.devices_missing = await self.worker.run(
            bound_devices, apps, desired, stored, self.device_objects
        )
        for name in self.invalid:  # what runs keeps running until it is fixed or deleted
            desired.update({k: v for k, v in stored.items() if v["spec"]["application"] == name})
        events = carried_out(desired, stored, apps, self.moves)
        fresh = await self.writer.apply(desired, stored)
        mine = by_application(desired)
        await self.rollout.prune(apps, fresh)
        self.last = LastPass(decisions, problems, mine, {_name(a): _generation(a) for a in apps})
        self.moves.later(rolled.wake_at)
        statuses = await self.worker.run(
            self._statuses, apps, decisions, mine, problems, by_site, fresh, events, rolled
        )
        await self._write_statuses(statuses)
        await self._mark_invalid()
        moved = {app: "; ".join(e["message"] for e in told) for app, told in events.items()}
        self._tell(apps, decisions, trigger, {**(own or {}), **moved})
        self.record.noted_all(rolled.events)

    async def update_statuses(self, names: Iterable[str]) -> None:
        """Rewrite the status of these applications from the last pass's decisions and
        their Assignments as they are now: a ready count changed, nothing to place."""
        last = self.last
        apps = [a for a in [await self._current("Application", n) for n in names] if a]
        apps = [a for a in apps if last.generations.get(_name(a)) == _generation(a)]
        mine = {_name(a): last.mine.get(_name(a), []) for a in apps}
        names = [k for held in mine.values() for k in held]
        fresh = {k: a for k in names if (a := await self._current("Assignment", k))}
        self._watch_health(apps, fresh.values())
        sites = (
            self.informer.items("Site")
            if self.informer is not None
            else {_name(s): s for s in await self._objects("Site")}
        )
        statuses = await self.worker.run(
            self._statuses, apps, last.decisions, mine, last.problems, sites, fresh
        )
        await self._write_statuses(statuses)

    def _watch_health(self, apps: Iterable[Object], assignments: Iterable[Object]) -> None:
        """A status update: wake a pass when an instance that turned unhealthy may have
        stayed so for too long (application-level failover)."""
        self.moves.later(self.unhealthy.noted(apps, assignments, time.time()))

    async def _current(self, kind: str, name: str) -> Object | None:
        if self.informer is not None:
            return self.informer.get(kind, name)
        try:
            return await self.store.get(kind, name)
        except NotFound:
            return None

    def _tell(
        self,
        apps: list[Object],
        decisions: Mapping[str, Decision],
        trigger: str,
        own: Mapping[str, str],
    ) -> None:
        """Record each application's decision when it changed (or its object or
        generation did)."""
        for app in apps:
            name = _name(app)
            if name not in decisions:
                continue
            key = (_generation(app), str(app["metadata"].get("uid") or ""))
            recorded = self.record.decision(name)
            if (
                name in self.changed
                or recorded is None
                or (recorded.generation, recorded.uid) != key
            ):
                why = own.get(name) or trigger
                self.record.decided(name, key[0], decisions[name], why, uid=key[1])
        self.record.keep_only(_name(a) for a in apps)

    def _rendered(
        self,
        app: Object,
        decision: Decision,
        sites: Mapping[str, Object],
        rolled: Rollouts,
        revisions: RevisionPlan,
        held: Mapping[str, Object],
    ) -> RenderedApp:
        name = app["metadata"]["name"]
        runs = rolled.revisions.get(name)
        if runs is None:
            return {}, ("RolloutPending", "its revision is not settled yet: placing again")
        templates, allowed = revisions.templates.get(name, {}), self.gate.allowed_namespaces(app)
        parts = decision.parts()
        return render_revisions(
            self._renders, app, parts, sites, runs, templates, held, self.resolve, allowed
        )

    def _statuses(
        self,
        apps: list[Object],
        decisions: Mapping[str, Decision],
        mine: Mapping[str, list[str]],
        problems: Mapping[str, Problem],
        sites: Mapping[str, Object],
        fresh: Mapping[str, Object],
        events: Mapping[str, list[dict[str, str]]] | None = None,
        rolled: Rollouts | None = None,
    ) -> list[tuple[Object, dict[str, Any]]]:
        """Each application with the status it should have (policy conditions evaluate
        CEL, so this runs in the worker thread); ``events``: this pass's failovers;
        ``rolled``: its rollouts (a status-only update keeps ``status.rollout``)."""
        found = []
        for app in apps:
            name = app["metadata"]["name"]
            held = [fresh[k] for k in mine.get(name, ()) if k in fresh]
            placed_at = [sites[a["spec"]["site"]] for a in held if a["spec"]["site"] in sites]
            reason, problem = problems.get(name, ("", None))
            try:
                conditions = self.gate.conditions(app, placed_at)
            except Exception as e:  # a policy's fault is reported on the application
                conditions = [problem_condition("PolicyWarning", "EvaluationFailed", str(e))]
            if short := self.devices_missing.get(name):
                conditions.append(devices_condition(short))
            status = app_status(app, decisions.get(name), held, problem, conditions, reason)
            with_failovers(status, (events or {}).get(name, ()), fencing_epoch(held))
            if rolled is not None:
                with_rollout(status, rolled.statuses.get(name), rolled.events.get(name, ()))
            found.append((app, status))
        return found

    async def _write_statuses(self, statuses: list[tuple[Object, dict[str, Any]]]) -> None:
        """The statuses that changed, written many at once (as the Assignments are)."""
        jobs = [
            functools.partial(self.writer.status, app, {**(app.get("status") or {}), **status})
            for app, status in statuses
            if status != {k: (app.get("status") or {}).get(k) for k in status}
        ]
        await in_flight(jobs)

    async def _mark_invalid(self) -> None:
        """Tell each application left out why (once: unchanged objects are not read
        again), so ``edgeplane get`` shows it and the owner fixes or deletes it."""
        for name, why in self.invalid.items():
            app = await self._current("Application", name)
            if app is None:
                continue
            condition = problem_condition("Placed", "Invalid", why)
            if (app.get("status") or {}).get("conditions") != [condition]:
                await self.writer.status(app, {"message": why, "conditions": [condition]})


def _name(obj: Object) -> str:
    return str(obj["metadata"]["name"])


def _generation(obj: Object) -> int:
    return int(obj["metadata"].get("generation") or 1)
