"""The autoscaling controller: every ``period`` seconds, each Application with
``spec.autoscaling`` gets a desired replica count, which placement then divides
(``placement.views.app_view`` reads ``status.autoscaling.desiredReplicas``).

A pass reads, from the informer's cache:

* the metrics each site's agent reports in its Assignment's ``status.metrics`` (an
  average over its Ready instances, and how many): Online sites only, since an Offline
  site's last word is stale;
* the External metrics reported to ``POST /applications/{name}/metrics`` (kept in
  ``status.autoscaling.externalMetrics``), fresh for ``EXTERNAL_FRESH_SECONDS``;

then asks ``edgeplane.scaling`` for HPA's recommendation (tolerance, per metric, the
highest) and its behaviour (stabilisation windows, rate policies, min/max), and
writes ``status.autoscaling`` (the decision, the metrics, the history the windows
need) with an event when the count changes. The history lives in the status, so a
restarted hub (or a new leader) keeps its windows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from edgeplane.api.wire import Object
from edgeplane.hub.controllers.appstatus import MAX_EVENTS
from edgeplane.hub.controllers.pacing import pause, retry_delay
from edgeplane.hub.informer import Informer
from edgeplane.scaling.behavior import decide
from edgeplane.scaling.hpa import MetricRecommendation, recommend
from edgeplane.scaling.readings import Reading, combine, site_readings
from edgeplane.scaling.view import ScalingSpec, scaling_spec
from edgeplane.store.errors import Conflict, NotFound, StoreError
from edgeplane.store.protocol import Store

log = logging.getLogger("edgeplane.hub.controllers.autoscaling")
PERIOD_SECONDS = 15.0
"""HPA's default sync period."""
EXTERNAL_FRESH_SECONDS = 120.0
"""An External metric not reported again for this long no longer counts."""


def initial_replicas(app: Object, spec: ScalingSpec) -> int:
    """Where an autoscaled application starts: ``placement.replicas`` within bounds."""
    wanted = int(((app.get("spec") or {}).get("placement") or {}).get("replicas") or 0)
    return max(spec.min_replicas, min(spec.max_replicas, wanted))


def readings_of(assignments: Iterable[Object], sites: Mapping[str, Object]) -> dict[str, Reading]:
    """The application's metrics across its Online sites (``scaling.readings.combine``)."""
    per_site = []
    for a in assignments:
        site = sites.get(a["spec"]["site"]) or {}
        if (site.get("status") or {}).get("phase") != "Online":
            continue
        per_site.append(site_readings(a.get("status")))
    return combine(per_site)


def external_of(status: Mapping[str, Any], now: float) -> dict[str, float]:
    return {
        m["name"]: float(m["value"])
        for m in status.get("externalMetrics") or ()
        if now - float(m.get("time") or 0) <= EXTERNAL_FRESH_SECONDS
    }


def autoscaled(
    app: Object, assignments: Iterable[Object], sites: Mapping[str, Object], now: float
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The application's new ``status.autoscaling``, and an event when the count moved."""
    spec = scaling_spec(app["spec"]["autoscaling"])
    held = dict((app.get("status") or {}).get("autoscaling") or {})
    current = int(held.get("desiredReplicas", initial_replicas(app, spec)))
    readings = readings_of(assignments, sites)
    recommendation = recommend(spec, current, readings, external_of(held, now))
    history = [(float(r["time"]), int(r["replicas"])) for r in held.get("recommendations") or ()]
    events = [
        (float(e["time"]), int(e["replicas"]), int(e["change"]))
        for e in held.get("scaleEvents") or ()
    ]
    decision = decide(spec, current, recommendation, history, events, now)
    status = {
        **held,
        "desiredReplicas": decision.desired,
        "currentReplicas": current,
        "reason": str(decision.reason),
        "message": decision.message,
        "currentMetrics": [_shown(m, spec) for m in recommendation.per_metric],
        "recommendations": [{"time": t, "replicas": r} for t, r in decision.history],
        "scaleEvents": [{"time": t, "replicas": r, "change": c} for t, r, c in decision.events],
    }
    if decision.desired == current:
        return status, None
    status["lastScaleTime"] = _rfc3339(now)
    reason = "ScaledUp" if decision.desired > current else "ScaledDown"
    return status, {"time": _rfc3339(now), "reason": reason, "message": decision.message}


class Autoscaler:
    def __init__(self, store: Store, informer: Informer, clock: Callable[[], float] = time.time):
        self.store, self.informer, self.clock = store, informer, clock

    async def run(self, stop: asyncio.Event, period: float = PERIOD_SECONDS) -> None:
        failures = 0
        await self.informer.synced()
        while not stop.is_set():
            try:
                await self.pass_once()
                failures = 0
                await pause(stop, period)
            except StoreError as e:
                failures += 1
                log.warning("autoscaling pass failed: %s", e)
                await pause(stop, retry_delay(failures))

    async def pass_once(self) -> None:
        apps = [a for a in self.informer.items("Application").values() if _autoscaled(a)]
        if not apps:
            return
        by_app: dict[str, list[Object]] = {}
        for a in self.informer.items("Assignment").values():
            by_app.setdefault(a["spec"]["application"], []).append(a)
        sites = self.informer.items("Site")
        now = self.clock()
        for app in apps:
            name = app["metadata"]["name"]
            try:
                status, event = autoscaled(app, by_app.get(name, ()), sites, now)
            except Exception:  # one application's bad numbers must not stop the others
                log.exception("autoscaling %s failed", name)
                continue
            await self._write(app, status, event)

    async def _write(
        self, app: Object, status: dict[str, Any], event: dict[str, Any] | None
    ) -> None:
        held = app.get("status") or {}
        if held.get("autoscaling") == status and event is None:
            return
        new = {**held, "autoscaling": status}
        if event is not None:
            new["events"] = [*(held.get("events") or []), event][-MAX_EVENTS:]
        # Changed or gone since the cache read it: the next pass sees it.
        with contextlib.suppress(Conflict, NotFound):
            await self.store.replace_status({**app, "status": new})


def _shown(metric: MetricRecommendation, spec: ScalingSpec) -> dict[str, Any]:
    """One metric as ``status.autoscaling.currentMetrics`` shows it (no value: none came)."""
    kind = next((m.kind.value for m in spec.metrics if m.name == metric.name), None)
    found = {
        "name": metric.name,
        "type": kind,
        "value": metric.value,
        "target": metric.target,
        "replicas": metric.replicas,
    }
    return {k: v for k, v in found.items() if v is not None}


def _autoscaled(app: Object) -> bool:
    return bool((app.get("spec") or {}).get("autoscaling"))


def _rfc3339(at: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))
