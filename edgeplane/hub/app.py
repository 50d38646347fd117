"""The hub's ASGI application: routes, middleware and shared state in one place."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from edgeplane import __version__
from edgeplane.api.artifacts.limits import ArtifactLimits
from edgeplane.api.kinds import KINDS
from edgeplane.api.wire import Object
from edgeplane.audit import AuditLog
from edgeplane.health.detector import Detector
from edgeplane.hub import (
    appmetrics,
    artifacts,
    auditing,
    data,
    devices,
    endpoints,
    explaining,
    joining,
    relay,
    rollouts,
    secrets,
    sitesecrets,
    stream,
    tokens,
    users,
)
from edgeplane.hub.admission import PolicyCache
from edgeplane.hub.artifacts import ArtifactStore
from edgeplane.hub.auditing import AuditMiddleware
from edgeplane.hub.auth import Authenticator
from edgeplane.hub.authz import SiteAuthorizer
from edgeplane.hub.controllers.record import PlacementRecord
from edgeplane.hub.datareach import Reach
from edgeplane.hub.datasinks import Sinks, SinkUrls
from edgeplane.hub.errors import ApiError, install_handlers
from edgeplane.hub.healthterms import DEFAULT_HEARTBEAT_SECONDS, HealthTerms
from edgeplane.hub.heartbeat import HeartbeatMiddleware
from edgeplane.hub.informer import INFORMED_KINDS, Informer
from edgeplane.hub.leases import Leases, hub_id
from edgeplane.hub.limits import Limits
from edgeplane.hub.metrics import HubMetrics
from edgeplane.hub.middleware import AuthMiddleware, BodyLimitMiddleware, MetricsMiddleware
from edgeplane.hub.oidc import OidcSettings, OidcVerifier
from edgeplane.hub.openapi import install_openapi
from edgeplane.hub.resources import router
from edgeplane.hub.throttle import FailedAuthGate, ThrottleMiddleware
from edgeplane.store.errors import StoreError
from edgeplane.store.protocol import Store


@dataclass(frozen=True)
class HubSettings:
    data_dir: Path = field(default_factory=lambda: Path(".edgeplane"))
    listen: str = "127.0.0.1:8080"
    database_url: str | None = None
    max_body_bytes: int = 1024 * 1024
    max_artifact_bytes: int = 256 * 1024 * 1024
    offline_after_seconds: float = 40.0
    heartbeat_seconds: float = DEFAULT_HEARTBEAT_SECONDS
    """How often sites heartbeat unless a SiteGroup says otherwise (``hub.healthterms``)."""
    bookmark_seconds: float = 10.0
    event_retention: int = 100_000
    autoscale_seconds: float = 15.0
    """How often autoscaled applications are sized again (``controllers.autoscaling``)."""
    lease_seconds: float = 15.0
    """The leader lease of several hubs on one PostgreSQL (``hub.leadership``)."""
    limits: Limits = field(default_factory=Limits)
    artifact_limits: ArtifactLimits = field(default_factory=ArtifactLimits)
    sinks: SinkUrls = field(default_factory=SinkUrls)
    oidc: OidcSettings | None = None
    """Accept OIDC bearer tokens of this issuer (``hub.oidc``); None: only our own."""
    secret_keys: Path | None = None
    """The keyring Secrets are sealed with (``hub.sealing``); None: in the data dir."""
    audit_log: Path | None = None
    """The audit log's file (``hub.auditing``); None: no audit log (unit tests)."""
    """The external DataStream sinks (``--nats-url``, ``--mqtt-url``): ``hub.datasinks``."""


def create_app(store: Store, settings: HubSettings) -> FastAPI:
    app = FastAPI(
        title="edgeplane hub",
        version=__version__,
        description="One control plane for fleets from the cloud to the edge.",
    )
    app.state.store = store
    app.state.settings = settings
    app.state.metrics = metrics = HubMetrics()
    app.state.shutdown = asyncio.Event()
    app.state.relay = relay.Relay()
    app.state.streams = stream.Streams()
    app.state.admission = PolicyCache(store, settings.sinks)
    app.state.data_sinks = Sinks(settings.sinks)
    external = OidcVerifier(settings.oidc) if settings.oidc is not None else None
    app.state.authenticator = authenticator = Authenticator(store, external=external)
    # The controllers' cache (run by hub.server) and what placement decided, for explain.
    app.state.informer = informer = Informer(store, INFORMED_KINDS)
    app.state.health_terms = terms = HealthTerms(settings.heartbeat_seconds, informer)
    # Every renewal feeds the failure detector, which the health controller reads.
    app.state.detector = detector = Detector()
    app.state.leases = Leases(hub_id(), detector, period_reader(terms, informer))
    # Every hub answers sites for their applications' endpoints (``hub.endpoints``).
    app.state.endpoints = endpoints.EndpointIndex(informer)
    # Which streams each site reaches, remembering applications that left it (hub.data).
    app.state.data_reach = Reach(informer)
    app.state.placement_record = PlacementRecord(metrics.placement_passes, metrics.status_updates)
    app.state.artifacts = ArtifactStore(settings.data_dir / "artifacts")
    install_handlers(app)
    # The fixed paths first: the generic /{plural}/{name} routes would take them.
    specials = (
        joining.router,
        tokens.router,
        users.router,
        auditing.router,
        secrets.router,
        sitesecrets.router,
        artifacts.router,
        relay.router,
        explaining.router,
        endpoints.router,
        appmetrics.router,
    )
    for special in (*specials, rollouts.router, stream.router, data.router, devices.router):
        app.include_router(special)
    app.include_router(router)
    _add_probes(app)
    install_openapi(app)
    # Added last runs first: metrics see every answer, auth is checked before the body.
    app.add_middleware(BodyLimitMiddleware, limit=settings.max_body_bytes)
    # After authentication (it throttles by principal), before the body is read.
    app.add_middleware(ThrottleMiddleware, limits=settings.limits, metrics=metrics)
    limits = settings.limits
    failures = FailedAuthGate(limits.auth_failure_rate, limits.auth_failure_burst)
    app.add_middleware(
        AuthMiddleware,
        authenticator=authenticator,
        authorizer=SiteAuthorizer(store),
        failures=failures,
    )
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    # Outermost but one: a fleet's most frequent request skips routing and the layers above.
    app.add_middleware(HeartbeatMiddleware, state=app.state, failures=failures, limits=limits)
    if settings.audit_log is not None:  # outermost: it sees every answer, refusals too
        app.state.audit = AuditLog(settings.audit_log)
        app.add_middleware(AuditMiddleware, log=app.state.audit)
    return app


class CachedSites(Protocol):
    """What ``period_reader`` reads of the informer: a cached Site by name."""

    def get(self, kind: str, name: str) -> Object | None: ...


def period_reader(terms: HealthTerms, informer: CachedSites) -> Callable[[str], float]:
    """Each site's heartbeat period by name, read at every heartbeat: the cached Site's
    terms (the hub's default for a site the cache does not hold yet)."""
    default = terms.default.heartbeat_seconds

    def period_of(site: str) -> float:
        obj = informer.get("Site", site)
        return default if obj is None else terms.of(obj).heartbeat_seconds

    return period_of


def _add_probes(app: FastAPI) -> None:
    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz(request: Request) -> JSONResponse:
        if request.app.state.shutdown.is_set():
            return ApiError(503, "ShuttingDown", "the hub is shutting down").response()
        try:
            await request.app.state.store.current_resource_version()
        except StoreError as e:
            return ApiError(
                503, "ServiceUnavailable", f"the store is not reachable: {e}"
            ).response()
        leadership = getattr(request.app.state, "leadership", None)
        if leadership is None:  # an app without the server's controllers (tests)
            return JSONResponse({"status": "ready"})
        return JSONResponse({"status": "ready", "leader": leadership.leading})

    @app.get("/metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        request.app.state.metrics.data_from(request.app.state.informer.items("Site").values())
        body = await request.app.state.metrics.render(
            request.app.state.store, [k.kind for k in KINDS]
        )
        return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")
