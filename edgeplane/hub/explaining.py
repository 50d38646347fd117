"""``GET /applications/<name>/explain[?site=S]``: why an application is where it is
(and, when it is autoscaled, why it has the replicas it has: ``autoscaling``).

For a stored application, the answer is the decision the placement controller
recorded on its last pass (``source: recorded``, with ``decidedAt``), and its story: a
bounded history of what changed and why (``controllers.record``). The answer is worked
out now instead (``source: fresh``, with a ``note`` saying why), from the same snapshot
and checks the controller uses, when:

* this hub runs no placement controller (several hubs: another one leads);
* the controller has not placed the application's current generation yet;
* one site's verdict from every check is asked for (``?site=``: the checks are
  evaluated against the room left when the application's turn came).

A fresh plan runs in a worker thread, within ``REQUEST_SECONDS``, else 503. A dry run
(``POST /applications/dry-run``: a candidate, not stored) always plans fresh.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request, Response

from edgeplane.api.validation import to_wire, validate_object
from edgeplane.api.wire import Object
from edgeplane.hub.admission import warning_headers
from edgeplane.hub.controllers.loading import Loaded
from edgeplane.hub.controllers.offloop import REQUEST_SECONDS, Overdue, Worker
from edgeplane.hub.controllers.placement import PlacementController
from edgeplane.hub.controllers.record import PlacementRecord
from edgeplane.hub.errors import ApiError
from edgeplane.hub.informer import Informer, resource_version
from edgeplane.hub.resources import ObjectResponse, json_body
from edgeplane.placement.model import Decision, Snapshot
from edgeplane.placement.planner import PlacementOverdue
from edgeplane.placement.planner import explain as explain_placement
from edgeplane.store.errors import NotFound

router = APIRouter(prefix="/api/v1alpha1")


_WORKER = Worker("explain", REQUEST_SECONDS)
"""One thread for every explain and dry-run: a flood of them waits its turn (and is
answered 503 at the deadline) instead of taking every core."""
_LOADED = Loaded()
"""What explain and dry-run have judged (only ever used in ``_WORKER``'s thread)."""


@router.get("/applications/{name}/explain", response_model=None)
async def explain(request: Request, name: str, site: str | None = Query(None)) -> Response:
    record: PlacementRecord | None = getattr(request.app.state, "placement_record", None)
    stored = await _stored(request, name)
    recorded, note = _recorded(record, stored, site)
    story = [e.to_wire() for e in record.story(name)] if record and stored else []
    scaling = _autoscaling(stored)
    if recorded is not None:
        return ObjectResponse({**recorded, "story": story, **scaling})
    controller = _controller(request, stored)
    snapshot, *_ = await controller.snapshot()
    if name in controller.invalid:  # stored, but left out of placement: say why
        raise ApiError(422, "Invalid", controller.invalid[name], "spec")
    body = await _explained(snapshot, name, site)
    return ObjectResponse({**body, "source": "fresh", "note": note, "story": story, **scaling})


@router.post("/applications/dry-run", response_model=None)
async def dry_run(request: Request) -> Response:
    """The placement an application would get (and its admission warnings), storing
    nothing: the body is validated and admitted like a create or replace."""
    obj = to_wire(validate_object(await json_body(request), expected_kind="Application"))
    warnings = await request.app.state.admission.admit(obj)
    name = obj["metadata"]["name"]
    try:
        stored = await request.app.state.store.get("Application", name)
        obj["metadata"]["generation"] = stored["metadata"]["generation"] + 1
    except NotFound:
        obj["metadata"]["generation"] = 1
    snapshot, *_ = await _controller(request).snapshot(candidate=obj)
    response = ObjectResponse(await _explained(snapshot, name, None))
    response.headers.update(warning_headers(warnings))
    return response


def _controller(request: Request, stored: Object | None = None) -> PlacementController:
    """A controller to plan with, reading the informer's cache when this hub has it
    filled and holding ``stored`` as read (else the store)."""
    informer: Informer | None = getattr(request.app.state, "informer", None)
    source = informer if informer is not None and informer.ready else None
    if source is not None and stored is not None and source.version < resource_version(stored):
        source = None  # it has not seen the application as stored yet
    store = request.app.state.store
    return PlacementController(store, lambda n, v: None, _WORKER, _LOADED, informer=source)


async def _stored(request: Request, name: str) -> Object | None:
    try:
        found: Object = await request.app.state.store.get("Application", name)
        return found
    except NotFound:
        return None


def _autoscaling(stored: Object | None) -> dict[str, Any]:
    """The autoscaler's last decision (``controllers.autoscaling``): the count it wants,
    why, the metrics it read; without the history its windows keep."""
    held = ((stored or {}).get("status") or {}).get("autoscaling")
    if not held or not (stored or {}).get("spec", {}).get("autoscaling"):
        return {}
    shown = ("desiredReplicas", "currentReplicas", "reason", "message", "lastScaleTime")
    found = {k: held[k] for k in shown if k in held}
    found["metrics"] = held.get("currentMetrics") or []
    found["externalMetrics"] = held.get("externalMetrics") or []
    return {"autoscaling": found}


def _recorded(
    record: PlacementRecord | None, stored: Object | None, site: str | None
) -> tuple[dict[str, Any] | None, str]:
    """The recorded answer for ``stored``; else None and why it is planned now."""
    if stored is None:
        return None, "not stored: planned now"
    if site is not None:
        return None, "one site's checks are evaluated now"
    if record is None or not record.active:
        return None, "this hub runs no placement controller (another hub leads): planned now"
    name, generation = stored["metadata"]["name"], stored["metadata"].get("generation") or 1
    found = record.decision(name)
    uid = str(stored["metadata"].get("uid") or "")
    if found is None or (found.generation, found.uid) != (generation, uid):
        return None, f"the controller has not placed generation {generation} yet: planned now"
    body = _decision_body(name, found.decision)
    return {**body, "source": "recorded", "decidedAt": found.time, "generation": generation}, ""


def _decision_body(name: str, decision: Decision) -> dict[str, Any]:
    body: dict[str, Any] = {
        "application": name,
        "sites": list(decision.sites),
        "wanted": decision.wanted,
        "unplaced": decision.unplaced,
        "reasons": list(decision.reasons),
    }
    if decision.counts:
        body["replicas"] = dict(zip(decision.sites, decision.counts, strict=True))
    return body


async def _explained(snapshot: Snapshot, name: str, site: str | None) -> dict[str, Any]:
    """The placement of ``name`` worked out in the worker thread, within its deadline."""
    try:
        found = await _WORKER.run(explain_placement, snapshot, name, site, _WORKER.deadline())
    except KeyError as e:
        what = "site" if site and str(e.args[0]) == site else "application"
        raise ApiError(404, "NotFound", f"no {what} {e.args[0]!r}", what) from None
    except (Overdue, PlacementOverdue) as e:
        raise ApiError(
            503,
            "Overdue",
            f"working out the placement {e}: try again when the hub is less busy",
        ) from None
    body = _decision_body(name, found.decision)
    if found.site:
        body["site"] = {
            "name": found.site,
            "feasible": all(why is None for _, why in found.checks),
            "checks": [
                {"check": c, "passed": why is None, "reason": why} for c, why in found.checks
            ],
        }
    return body
