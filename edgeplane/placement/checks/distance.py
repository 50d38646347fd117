"""The locality check: a site farther than ``max_km`` from the application's point or
SiteGroup (or without a location). ``distance_to`` is shared with the locality scorer."""

from __future__ import annotations

import numpy as np

from edgeplane.placement.checks.base import Check
from edgeplane.placement.context import Context, Scope
from edgeplane.placement.fleet import Floats, Ints
from edgeplane.placement.model import AppView, Locality


def distance_to(scope: Scope, locality: Locality) -> Floats:
    """Every site's distance from the point, or from the nearest site of the SiteGroup
    (NaN without a location; cached)."""

    def make() -> Floats:
        fleet = scope.fleet
        if locality.point is not None:
            return fleet.distance_km(*locality.point)
        inside = scope.matching(scope.groups.get(locality.site_group or ""))
        return fleet.distance_to_sites(np.flatnonzero(inside[fleet.label_set]))

    return scope.caches.get("locality", locality, make)


def locality_reason(app: AppView) -> str:
    assert app.locality is not None
    target = app.locality.site_group or "the location"
    return f"are farther than {app.locality.max_km:g} km from {target} (or have no location)"


class LocalityCheck(Check):
    name = "locality"
    order = 80

    def codes(self, ctx: Context, cand: Ints) -> Ints | None:
        locality = ctx.app.locality
        if locality is None or locality.max_km is None:
            return None
        # NaN (no location) compares False: too far.
        near = distance_to(ctx.scope, locality)[cand] <= locality.max_km
        found: Ints = np.where(near, 0, ctx.code(locality_reason(ctx.app)))
        return found
