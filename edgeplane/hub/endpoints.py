"""Where each application can be reached, healthy instances first: the hub's side of
health-aware traffic (``edgeplane.traffic``, docs/traffic.md).

* ``EndpointIndex`` keeps a ``traffic.TableIndex`` current from the informer's changes
  (every hub runs it: any of them may answer a site). A Site's heartbeat costs nothing
  here; a Site going Offline or an instance turning unhealthy marks only the
  applications at that site.
* ``GET /sites/{site}/endpoints``: a site's agent learns the endpoints of the
  applications it runs, at every site, so its local DNS answers for them
  (``agent.naming``), site-local first, even while the hub is away. A site's
  credential reaches only its own (``hub.authz``).
* ``GET /applications/{name}/endpoints?region=&site=&lat=&lon=``: what a client
  placed there would be answered (``edgeplane endpoints``), and every endpoint with
  its health and tier.
"""

from __future__ import annotations

import asyncio
import logging
import math
from typing import Any

from fastapi import APIRouter, Query, Request, Response

from edgeplane.api.labels import check_dns1123_subdomain
from edgeplane.hub.errors import ApiError, bad_request
from edgeplane.hub.informer import RELIST, Change, Informer
from edgeplane.hub.resources import ObjectResponse
from edgeplane.traffic.answers import rank, srv_records
from edgeplane.traffic.index import TableIndex
from edgeplane.traffic.locality import Place
from edgeplane.traffic.table import Table
from edgeplane.traffic.wire import to_wire

router = APIRouter(prefix="/api/v1alpha1")
log = logging.getLogger("edgeplane.hub.endpoints")
SITE_APPLICATIONS_MAX = 1000
"""Applications one site's answer covers (a site runs far fewer)."""


class EndpointIndex:
    def __init__(self, informer: Informer) -> None:
        self._informer = informer
        self.index = TableIndex()
        self.ready = False

    def table(self) -> Table:
        return self.index.table()

    async def run(self, stop: asyncio.Event) -> None:
        """Follow the informer until ``stop``: a full list first, then its changes."""
        queue = self._informer.subscribe()
        try:
            await self._informer.synced()
            self._reset()
            while not stop.is_set():
                self._apply(await queue.get())
        finally:
            self._informer.unsubscribe(queue)

    def _reset(self) -> None:
        items = self._informer.items
        self.index.reset(items("Site").values(), items("Assignment").values())
        self.ready = True

    def _apply(self, change: Change) -> None:
        if change.type == RELIST:
            self._reset()
        elif change.kind == "Site":
            if change.new is None:
                self.index.drop_site(change.name)
            else:
                self.index.put_site(change.new)
        elif change.kind == "Assignment":
            if change.new is None:
                self.index.drop_assignment(change.name)
            else:
                self.index.put_assignment(change.new)


def _index(request: Request) -> EndpointIndex:
    index: EndpointIndex | None = getattr(request.app.state, "endpoints", None)
    if index is None or not index.ready:
        raise ApiError(503, "Unavailable", "the hub is starting: ask again in a moment")
    return index


@router.get("/sites/{site}/endpoints", response_model=None)
async def site_endpoints(request: Request, site: str) -> Response:
    index = _index(request)
    table = index.table()
    apps = index.index.applications_at(site)[:SITE_APPLICATIONS_MAX]
    labels = ((request.app.state.informer.get("Site", site) or {}).get("metadata") or {}).get(
        "labels"
    ) or {}
    found = {a: [to_wire(t) for t in table.of(a)] for a in apps}
    return ObjectResponse({"region": labels.get("region"), "applications": found})


@router.get("/applications/{name}/endpoints", response_model=None)
async def application_endpoints(
    request: Request,
    name: str,
    region: str | None = Query(None, max_length=63),
    site: str | None = Query(None, max_length=63),
    lat: float | None = Query(None, ge=-90, le=90),
    lon: float | None = Query(None, ge=-180, le=180),
) -> Response:
    _check_name(name)
    if (lat is None) != (lon is None) or not all(map(_finite, (lat, lon))):
        raise bad_request("lat and lon go together: give both (degrees) or neither", "lat")
    if request.app.state.informer.get("Application", name) is None:
        raise ApiError(404, "NotFound", f"Application {name!r} not found", "name")
    place = Place(region=region, site=site, lat=lat, lon=lon)
    return ObjectResponse(answer_for(name, _index(request).table(), place))


def answer_for(name: str, table: Table, place: Place) -> dict[str, Any]:
    """What a client at ``place`` is answered for ``name``, and why."""
    targets = table.of(name)
    ranked = rank(targets, place)
    best = min((r.tier for r in ranked), default=None)
    answer = [r for r in ranked if r.tier == best]
    srv = srv_records(targets, place)
    shown = {"region": place.region, "site": place.site, "lat": place.lat, "lon": place.lon}
    return {
        "application": name,
        "client": {k: v for k, v in shown.items() if v is not None},
        "answer": [_ranked(r) for r in answer],
        "srv": [{**to_wire(t), "priority": p, "weight": w} for p, w, t in srv],
        "endpoints": [to_wire(t) for t in sorted(targets, key=_order)],
    }


def _ranked(ranked: Any) -> dict[str, Any]:
    found = {**to_wire(ranked.target), "tier": ranked.tier}
    if ranked.distance_km is not None:
        found["distanceKm"] = round(ranked.distance_km, 1)
    return found


def _order(target: Any) -> tuple[str, str, int]:
    return (target.site, target.address, target.port)


def _finite(value: float | None) -> bool:
    return value is None or math.isfinite(value)


def _check_name(name: str) -> None:
    if problem := check_dns1123_subdomain(name):
        raise ApiError(404, "NotFound", f"Application {name!r} not found: its name {problem}")
