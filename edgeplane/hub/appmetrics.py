"""``POST /applications/{name}/metrics``: External metrics for an application's
autoscaler (a queue's depth, a load balancer's request rate), reported by whatever
measures them: ``{"metrics": [{"name": "queue_depth", "value": 420}]}``.

Only names the application's ``spec.autoscaling`` lists as External are taken (400
names the one that is not, and nothing is kept). The values go to
``status.autoscaling.externalMetrics`` with the hub's time, where the autoscaler
(``controllers.autoscaling``) reads them while they are fresh. They are stored, so any
hub may take them and the leader's autoscaler sees them; the writer's rate is the
API's per-principal rate.
"""

from __future__ import annotations

import math
import time
from typing import Any

from fastapi import APIRouter, Request, Response

from edgeplane.api.labels import check_dns1123_subdomain
from edgeplane.api.wire import Object
from edgeplane.hub.errors import ApiError, bad_request
from edgeplane.hub.resources import ObjectResponse, json_body
from edgeplane.store.errors import Conflict, NotFound
from edgeplane.store.protocol import Store

router = APIRouter(prefix="/api/v1alpha1")
ATTEMPTS = 5
"""Writes tried when the application changes under us (the controllers write it too)."""


@router.post("/applications/{name}/metrics", response_model=None)
async def report(request: Request, name: str) -> Response:
    body = await json_body(request)
    store: Store = request.app.state.store
    for _ in range(ATTEMPTS):
        app = await _application(store, name)
        names = _external_names(app)
        values = _values(body, names)
        status = dict(app.get("status") or {})
        scaling = dict(status.get("autoscaling") or {})
        held = [m for m in scaling.get("externalMetrics") or () if m.get("name") in names]
        scaling["externalMetrics"] = _merged(held, values)
        status["autoscaling"] = scaling
        try:
            await store.replace_status({**app, "status": status})
        except Conflict:
            continue
        return ObjectResponse({"externalMetrics": scaling["externalMetrics"]})
    raise ApiError(409, "Conflict", f"Application {name!r} kept changing: send the metrics again")


async def _application(store: Store, name: str) -> Object:
    if problem := check_dns1123_subdomain(name):
        raise ApiError(404, "NotFound", f"Application {name!r} not found: its name {problem}")
    try:
        return await store.get("Application", name)
    except NotFound:
        raise ApiError(404, "NotFound", f"Application {name!r} not found") from None


def _external_names(app: Object) -> set[str]:
    metrics = (app["spec"].get("autoscaling") or {}).get("metrics") or ()
    names = {m["external"]["metric"]["name"] for m in metrics if m.get("type") == "External"}
    if not names:
        raise ApiError(
            409,
            "NotAutoscaled",
            f"Application {app['metadata']['name']!r} has no External metric in "
            "spec.autoscaling.metrics: add one (type: External) to report it",
            "spec.autoscaling.metrics",
        )
    return names


def _values(body: Any, names: set[str]) -> dict[str, float]:
    metrics = body.get("metrics") if isinstance(body, dict) else None
    if not isinstance(metrics, list) or not 1 <= len(metrics) <= len(names):
        raise bad_request(
            f"metrics must be a list of 1 to {len(names)} {{name, value}}: one per External "
            f"metric of the application ({', '.join(sorted(names))})",
            "metrics",
        )
    found: dict[str, float] = {}
    for i, m in enumerate(metrics):
        name = m.get("name") if isinstance(m, dict) else None
        value = m.get("value") if isinstance(m, dict) else None
        if not isinstance(name, str) or name not in names or name in found:
            raise bad_request(
                f"metrics[{i}].name {name!r} is not an External metric of the application "
                f"(or is given twice): use one of {', '.join(sorted(names))}",
                f"metrics[{i}].name",
            )
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise bad_request(f"metrics[{i}].value must be a finite number", f"metrics[{i}].value")
        if value < 0:
            raise bad_request(
                f"metrics[{i}].value {value} is negative: report 0 or more", f"metrics[{i}].value"
            )
        found[str(name)] = float(value)
    return found


def _merged(held: list[dict[str, Any]], values: dict[str, float]) -> list[dict[str, Any]]:
    now = time.time()
    kept = [m for m in held if m.get("name") not in values]
    return [*kept, *({"name": k, "value": v, "time": now} for k, v in sorted(values.items()))]


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
