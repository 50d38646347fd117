"""``GET /applications/<name>/explain[?site=S]``: why an application is where it is.

The same snapshot and checks the placement controller uses, evaluated now: the sites
it would get, the histogram of reasons for the others, and, for one site, the verdict
of every check.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request, Response

from edgeplane.hub.controllers.placement import PlacementController
from edgeplane.hub.errors import ApiError
from edgeplane.hub.resources import ObjectResponse
from edgeplane.placement.simple import explain as explain_placement

router = APIRouter(prefix="/api/v1alpha1")


@router.get("/applications/{name}/explain", response_model=None)
async def explain(request: Request, name: str, site: str | None = Query(None)) -> Response:
    controller = PlacementController(request.app.state.store, lambda n, v: None)
    snapshot, *_ = await controller.snapshot()
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
    if found.site:
        body["site"] = {
            "name": found.site,
            "feasible": all(why is None for _, why in found.checks),
            "checks": [
                {"check": c, "passed": why is None, "reason": why} for c, why in found.checks
            ],
        }
    return ObjectResponse(body)
