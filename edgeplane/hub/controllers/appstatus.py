"""An Application's status as the placement controller writes it: where it runs, how
many replicas are wanted and ready, and the conditions saying why (Placed, Ready), with
the last few preemption, failover and rollout events, and the rollout's status.

Pure functions of the application, its decision and its Assignments; the controller
(``placement``) writes what they return, after a pass or after an Assignment's status
changed (a ready count, with no placement run).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from edgeplane.api.wire import Object
from edgeplane.hub.controllers.loading import MAX_PROBLEM
from edgeplane.placement.model import Decision
from edgeplane.placement.planner import PLACEMENT_FAILED


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


def with_failovers(
    status: dict[str, Any], events: Iterable[dict[str, str]], epoch: int | None
) -> None:
    """Add this pass's failover events (the last few kept) and the highest fencing
    epoch given (never lowered: a later replica's must be higher still)."""
    if added := list(events):
        status["events"] = [*(status.get("events") or []), *added][-MAX_EVENTS:]
    if epoch is not None:
        status["fencingEpoch"] = epoch


def with_rollout(
    status: dict[str, Any], rollout: dict[str, Any] | None, events: Iterable[dict[str, str]]
) -> None:
    """Add the rollout's status and this pass's rollout events (the last few kept)."""
    if rollout is not None:
        status["rollout"] = rollout
    if added := list(events):
        status["events"] = [*(status.get("events") or []), *added][-MAX_EVENTS:]


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
    """Ready replicas are those of sites that run what they are told (the revision a
    rollout gives each site, old or new, as a Deployment's ``readyReplicas``): a rollout
    that waits days for maintenance windows does not show the application unready, nor
    does one rolled back; ``status.rollout.revisions`` counts them per revision."""
    ready = sum(
        ready_replicas(a)
        for a in assignments
        if (a.get("status") or {}).get("observedGeneration") == a["metadata"]["generation"]
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


def problem_condition(kind: str, reason: str, message: str) -> dict[str, Any]:
    """A condition saying what is wrong (``PolicyWarning`` is True when it holds; any
    other kind, ``Placed`` say, is False), its message cut to ``MAX_PROBLEM``."""
    status = "True" if kind == "PolicyWarning" else "False"
    return {"type": kind, "status": status, "reason": reason, "message": message[:MAX_PROBLEM]}


def render_failure(e: Exception) -> str:
    """Why an application's Assignments could not be rendered."""
    return f"its Assignments cannot be rendered: {type(e).__name__}: {e}"[:MAX_PROBLEM]
