"""The placement controller: turns placement decisions into Assignments and tells each
Application where it runs and how much of it is ready.

Each pass reads Applications, Sites, SiteGroups and Assignments, asks
``edgeplane.placement`` where each application goes, and writes only the difference:
new assignments, changed ones (a new revision, an override), and deletions. Then it
writes each Application's status when it changed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

from edgeplane.api.validation import InvalidObject
from edgeplane.hub.controllers.governed import PolicyGate
from edgeplane.hub.controllers.loading import MAX_PROBLEM, Loaded, list_all
from edgeplane.hub.controllers.naming import name_collision
from edgeplane.hub.controllers.offloop import PASS_SECONDS, Worker
from edgeplane.hub.controllers.rendering import (
    ResolveArtifact,
    render,
    resolved_workload,
    unchanged,
)
from edgeplane.hub.overrides import OverrideError
from edgeplane.placement.model import AppView, Decision, SiteView, Snapshot
from edgeplane.placement.planner import PLACEMENT_FAILED, PlacementOverdue, Planner
from edgeplane.placement.views import app_view, devices_by_site, group_selectors, site_view
from edgeplane.store.errors import AlreadyExists, Conflict, NotFound
from edgeplane.store.protocol import Object, Store

log = logging.getLogger("edgeplane.hub.placement")
__all__ = [
    "PlacementController",
    "ResolveArtifact",
    "list_all",
    "render",
    "resolved_workload",
    "unchanged",
]


def placed_condition(
    decision: Decision | None, problem: str | None, reason: str = "ArtifactMissing"
) -> dict[str, Any]:
    """Never silence: whether the application is fully placed, and if not, why."""
    if problem:
        return {"type": "Placed", "status": "False", "reason": reason, "message": problem}
    if decision is None or decision.unplaced or not decision.sites:
        message = decision.message() if decision else "not placed yet"
        failed = decision is not None and any(
            r.startswith(PLACEMENT_FAILED) for r in decision.reasons
        )
        reason = "PlacementFailed" if failed else "Unplaced"
        return {"type": "Placed", "status": "False", "reason": reason, "message": message}
    return {"type": "Placed", "status": "True", "reason": "Placed", "message": decision.message()}


def ready_condition(ready: int, wanted: int) -> dict[str, Any]:
    """Whether every wanted instance is ready at the current revision."""
    message = f"{ready}/{wanted} ready"
    if wanted and ready >= wanted:
        return {"type": "Ready", "status": "True", "reason": "AllReady", "message": message}
    reason = "NotReady" if wanted else "NothingWanted"
    return {"type": "Ready", "status": "False", "reason": reason, "message": message}


MAX_EVENTS = 10


def preemption_events(app: Object, decision: Decision | None) -> list[dict[str, Any]]:
    """The application's events, with this pass's preemptions added (the last few)."""
    kept = list((app.get("status") or {}).get("events") or [])
    if decision is None:
        return kept
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    for site, by in decision.preempted:
        message = f"its replica at {site} was displaced by {by}, of higher priority"
        kept.append({"time": now, "reason": "Preempted", "message": message})
    for site, victim in decision.preempting:
        message = f"displaced a replica of {victim}, of lower priority, at {site}"
        kept.append({"time": now, "reason": "Preempting", "message": message})
    return kept[-MAX_EVENTS:]


def ready_replicas(assignment: Object) -> int:
    """How many of the application's replicas an assignment has ready. A kubernetes
    assignment reports ready pods (a Deployment of 3 is 3, two Deployments more), while
    the application counts replicas as placement does: one per site, or the site's share
    when Divided, ready only when every object of the assignment is (phase Running)."""
    status = assignment.get("status") or {}
    if (assignment["spec"].get("workload") or {}).get("kubernetes") is None:
        return int(status.get("ready") or 0)
    replicas = assignment["spec"].get("replicas")
    return (1 if replicas is None else int(replicas)) if status.get("phase") == "Running" else 0


def app_status(
    app: Object,
    decision: Decision | None,
    assignments: list[Object],
    problem: str | None,
    conditions: list[dict[str, Any]] | None = None,
    reason: str = "ArtifactMissing",
) -> dict[str, Any]:
    ready = sum(
        ready_replicas(a)
        for a in assignments
        if (a.get("status") or {}).get("observedGeneration") == a["metadata"]["generation"]
        and a["spec"]["revision"] == app["metadata"]["generation"]
    )
    wanted = decision.wanted if decision else 0
    status: dict[str, Any] = {
        "observedGeneration": app["metadata"]["generation"],
        "sites": sorted(a["spec"]["site"] for a in assignments),
        "replicas": wanted,
        "ready": ready,
        "unplaced": decision.unplaced if decision else 0,
        "message": problem or (decision.message() if decision else ""),
        "conditions": [
            placed_condition(decision, problem, reason),
            ready_condition(ready, wanted),
            *(conditions or []),
        ],
    }
    if events := preemption_events(app, decision):
        status["events"] = events
    return status


class ViewCache:
    """Views of objects by resourceVersion, so an unchanged object gives the same view
    from pass to pass (the planner compares views to find what changed)."""

    def __init__(self) -> None:
        self._sites: dict[str, tuple[object, SiteView]] = {}
        self._apps: dict[str, tuple[object, AppView]] = {}

    def site(self, obj: Object, devices: Sequence[Mapping[str, str]]) -> SiteView:
        name, version = obj["metadata"]["name"], (obj["metadata"].get("resourceVersion"), devices)
        found = self._sites.get(name)
        if found is None or found[0] != version:
            found = self._sites[name] = (version, site_view(obj, devices))
        return found[1]

    def app(self, obj: Object) -> AppView:
        name, version = obj["metadata"]["name"], obj["metadata"].get("resourceVersion")
        found = self._apps.get(name)
        if found is None or found[0] != version or version is None:
            found = self._apps[name] = (version, app_view(obj))
        return found[1]


Problem = tuple[str, str]
"""(reason, message): why an application is not placed as decided."""


class PlacementController:
    def __init__(
        self,
        store: Store,
        resolve: ResolveArtifact,
        worker: Worker | None = None,
        loaded: Loaded | None = None,
    ) -> None:
        self.store, self.resolve = store, resolve
        self.gate = PolicyGate(store)
        self.planner: Planner | None = None
        self.worker = worker or Worker("placement", PASS_SECONDS)
        self.invalid: dict[str, str] = {}
        """Applications left out of the last snapshot, and why."""
        self._views = ViewCache()
        self._loaded = loaded or Loaded()

    async def _list_valid(self, kind: str) -> list[Object]:
        objs = await list_all(self.store, kind)
        good, bad = await self.worker.run(self._loaded.valid, kind, objs)
        if kind == "Application":
            self.invalid = bad
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
        groups = await self._list_valid("SiteGroup")
        devices = devices_by_site(await self._list_valid("Device"))
        stored = {a["metadata"]["name"]: a for a in await self._list_valid("Assignment")}
        current: dict[str, dict[str, int]] = {}
        for a in stored.values():
            spec = a["spec"]
            current.setdefault(spec["application"], {})[spec["site"]] = spec.get("replicas", 1)
        await self.gate.refresh(apps)
        snapshot = Snapshot(
            tuple(self._views.app(a) for a in apps),
            tuple(self._views.site(s, devices.get(s["metadata"]["name"], ())) for s in sites),
            group_selectors(groups),
            current,
            self.gate,
        )
        return snapshot, apps, sites, stored

    def plan(self, snapshot: Snapshot, deadline: float | None = None) -> Mapping[str, Decision]:
        """Place incrementally from the last pass (the first places everything). Runs in
        the worker thread; PlacementOverdue past ``deadline``."""
        if self.planner is not None:
            try:
                self.planner.update(snapshot, deadline)
                return self.planner.decisions
            except PlacementOverdue:
                self.planner = None  # its state is partial: the next pass starts afresh
                raise
            except Exception:  # a fault in the increment must not stop placement
                log.exception("incremental placement failed; placing everything again")
        self.planner = None
        self.planner = Planner(snapshot, deadline=deadline)
        return self.planner.decisions

    async def reconcile(self) -> None:
        snapshot, apps, sites, stored = await self.snapshot()
        decisions = await self.worker.run(self.plan, snapshot, self.worker.deadline())
        by_site = {s["metadata"]["name"]: s for s in sites}
        desired, problems = await self.worker.run(self._desired, apps, decisions, by_site, stored)
        for name in self.invalid:  # what runs keeps running until it is fixed or deleted
            desired.update({k: v for k, v in stored.items() if v["spec"]["application"] == name})
        await self._apply(desired, stored)
        fresh = {a["metadata"]["name"]: a for a in await self._list_valid("Assignment")}
        statuses = await self.worker.run(
            self._statuses, apps, decisions, desired, problems, by_site, fresh
        )
        await self._write_statuses(statuses)
        await self._mark_invalid()

    def _desired(
        self,
        apps: list[Object],
        decisions: Mapping[str, Decision],
        sites: Mapping[str, Object],
        stored: Mapping[str, Object],
    ) -> tuple[dict[str, Object], dict[str, Problem]]:
        """Every application's Assignments; one that cannot be rendered (an override
        that makes an invalid Assignment, an artifact missing) keeps what runs and gets
        a problem, and the others are rendered all the same."""
        desired: dict[str, Object] = {}
        problems: dict[str, Problem] = {}
        for app in apps:
            name = app["metadata"]["name"]
            try:
                rendered, problem = self._rendered(app, decisions[name], sites)
            except Exception as e:  # this application's fault, reported on it
                rendered, problem = {}, ("RenderFailed", _render_failure(e))
            problem = problem or name_collision(rendered, desired, stored)
            if problem:  # keep what runs until it can be rendered
                problems[name] = problem
                rendered = {k: v for k, v in stored.items() if v["spec"]["application"] == name}
            desired.update(rendered)
        return desired, problems

    def _rendered(
        self, app: Object, decision: Decision, sites: Mapping[str, Object]
    ) -> tuple[dict[str, Object], Problem | None]:
        workload, missing = resolved_workload(app, self.resolve)
        if missing:
            return {}, ("ArtifactMissing", missing)
        rendered = {}
        allowed = self.gate.allowed_namespaces(app)
        for site, replicas in decision.parts():
            try:
                obj = render(app, sites[site], workload, replicas, allowed)
            except (InvalidObject, OverrideError) as e:
                why = f"its Assignment at site {site} is invalid (check spec.overrides): {e}"
                return {}, ("RenderFailed", why[:MAX_PROBLEM])
            rendered[obj["metadata"]["name"]] = obj
        return rendered, None

    async def _apply(self, desired: Mapping[str, Object], stored: Mapping[str, Object]) -> None:
        for name, obj in desired.items():
            old = stored.get(name)
            try:
                if old is None:
                    await self.store.create(obj)
                    log.info("assignment %s created", name)
                elif not unchanged(obj, old):
                    obj["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
                    await self.store.replace(obj)
                    log.info("assignment %s updated", name)
            except (AlreadyExists, Conflict, NotFound):
                log.info("assignment %s changed meanwhile; the next pass sees it", name)
        for name in stored.keys() - desired.keys():
            try:
                await self.store.delete("Assignment", name)
                log.info("assignment %s deleted", name)
            except NotFound:
                pass

    def _statuses(
        self,
        apps: list[Object],
        decisions: Mapping[str, Decision],
        desired: Mapping[str, Object],
        problems: Mapping[str, Problem],
        sites: Mapping[str, Object],
        fresh: Mapping[str, Object],
    ) -> list[tuple[Object, dict[str, Any]]]:
        """Each application with the status it should have (policy conditions evaluate
        CEL, so this runs in the worker thread)."""
        found = []
        for app in apps:
            name = app["metadata"]["name"]
            mine = [
                fresh[k]
                for k, v in desired.items()
                if v["spec"]["application"] == name and k in fresh
            ]
            placed_at = [sites[a["spec"]["site"]] for a in mine if a["spec"]["site"] in sites]
            reason, problem = problems.get(name, ("", None))
            try:
                conditions = self.gate.conditions(app, placed_at)
            except Exception as e:  # a policy's fault is reported on the application
                conditions = [_condition("PolicyWarning", "EvaluationFailed", str(e))]
            status = app_status(app, decisions.get(name), mine, problem, conditions, reason)
            found.append((app, status))
        return found

    async def _write_statuses(self, statuses: list[tuple[Object, dict[str, Any]]]) -> None:
        for app, status in statuses:
            if status != {k: (app.get("status") or {}).get(k) for k in status}:
                await self._write_status(app, {**(app.get("status") or {}), **status})

    async def _write_status(self, app: Object, status: dict[str, Any]) -> None:
        try:
            await self.store.replace_status({**app, "status": status})
        except (Conflict, NotFound):
            pass  # changed meanwhile: the event that made brings another pass
        except Exception:  # one application's status must not stop the others'
            log.exception("status of Application %s not written", app["metadata"].get("name"))

    async def _mark_invalid(self) -> None:
        """Tell each application left out why (once: unchanged objects are not read
        again), so ``edgeplane get`` shows it and the owner fixes or deletes it."""
        for name, why in self.invalid.items():
            try:
                app = await self.store.get("Application", name)
            except NotFound:
                continue
            condition = _condition("Placed", "Invalid", why)
            if (app.get("status") or {}).get("conditions") != [condition]:
                await self._write_status(app, {"message": why, "conditions": [condition]})


def _condition(kind: str, reason: str, message: str) -> dict[str, Any]:
    status = "True" if kind == "PolicyWarning" else "False"
    return {"type": kind, "status": status, "reason": reason, "message": message[:MAX_PROBLEM]}


def _render_failure(e: Exception) -> str:
    return f"its Assignments cannot be rendered: {type(e).__name__}: {e}"[:MAX_PROBLEM]
