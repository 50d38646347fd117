"""``GET /applications/<name>/explain[?site=S]``: why an application is where it is.

The same snapshot and checks the placement controller uses, evaluated now (in a worker
thread, within ``REQUEST_SECONDS``, else 503): the sites it would get, the histogram of
reasons for the others, and, for one site, the verdict of every check.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request, Response

from edgeplane.api.validation import to_wire, validate_object
from edgeplane.hub.admission import warning_headers
from edgeplane.hub.controllers.loading import Loaded
from edgeplane.hub.controllers.offloop import REQUEST_SECONDS, Overdue, Worker
from edgeplane.hub.controllers.placement import PlacementController
from edgeplane.hub.errors import ApiError
from edgeplane.hub.resources import ObjectResponse, json_body
from edgeplane.placement.model import Snapshot
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
    controller = PlacementController(request.app.state.store, lambda n, v: None, _WORKER, _LOADED)
    snapshot, *_ = await controller.snapshot()
    if name in controller.invalid:  # stored, but left out of placement: say why
        raise ApiError(422, "Invalid", controller.invalid[name], "spec")
    return await _explained(snapshot, name, site)


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
    controller = PlacementController(request.app.state.store, lambda n, v: None, _WORKER, _LOADED)
    snapshot, *_ = await controller.snapshot(candidate=obj)
    response = await _explained(snapshot, name, None)
    response.headers.update(warning_headers(warnings))
    return response


async def _explained(snapshot: Snapshot, name: str, site: str | None) -> Response:
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
    decision = found.decision
    body: dict[str, Any] = {
        "application": name,
        "sites": list(decision.sites),
        "wanted": decision.wanted,
        "unplaced": decision.unplaced,
        "reasons": list(decision.reasons),
    }
    if decision.counts:
        body["replicas"] = dict(zip(decision.sites, decision.counts, strict=True))
    if found.site:
        body["site"] = {
            "name": found.site,
            "feasible": all(why is None for _, why in found.checks),
            "checks": [
                {"check": c, "passed": why is None, "reason": why} for c, why in found.checks
            ],
        }
    return ObjectResponse(body)
