"""``GET /applications/<name>/explain[?site=S]``: why an application is where it is.

The same snapshot and checks the placement controller uses, evaluated now: the sites
it would get, the histogram of reasons for the others, and, for one site, the verdict
of every check.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request, Response

from edgeplane.api.validation import to_wire, validate_object
from edgeplane.hub.admission import warning_headers
from edgeplane.hub.controllers.placement import PlacementController
from edgeplane.hub.errors import ApiError
from edgeplane.hub.resources import ObjectResponse, json_body
from edgeplane.placement.model import Snapshot
from edgeplane.placement.planner import explain as explain_placement
from edgeplane.store.errors import NotFound

router = APIRouter(prefix="/api/v1alpha1")


@router.get("/applications/{name}/explain", response_model=None)
async def explain(request: Request, name: str, site: str | None = Query(None)) -> Response:
    controller = PlacementController(request.app.state.store, lambda n, v: None)
    snapshot, *_ = await controller.snapshot()
    return _explained(snapshot, name, site)


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
    controller = PlacementController(request.app.state.store, lambda n, v: None)
    snapshot, *_ = await controller.snapshot(candidate=obj)
    response = _explained(snapshot, name, None)
    response.headers.update(warning_headers(warnings))
    return response


def _explained(snapshot: Snapshot, name: str, site: str | None) -> Response:
    try:
        found = explain_placement(snapshot, name, site)
    except KeyError as e:
        what = "site" if site and str(e.args[0]) == site else "application"
        raise ApiError(404, "NotFound", f"no {what} {e.args[0]!r}", what) from None
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
