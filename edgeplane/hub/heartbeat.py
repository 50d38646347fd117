"""``POST /api/v1alpha1/sites/{site}/heartbeat``: a site says it is alive, at no store write.

The most frequent request of a fleet (every site every 10 s) is answered by this raw
ASGI layer, placed outermost in front of FastAPI's routing and the generic middleware:
no request object, no route matching, no body model, one tiny JSON answer. It renews
the site's lease in memory (``hub.leases``) and answers what the site must act on:
``{"phase": <the Site's stored status.phase>, "rotation": <the credential-rotation
annotation or null>, "heartbeatSeconds": <its period>, "leaseSeconds": <its lease>}``
(its terms: ``hub.healthterms``), or 204 without a body when that would say Online,
nothing to rotate and the terms the agent already holds: it sends them in the query,
``?heartbeatSeconds=H&leaseSeconds=L`` (an idle fleet's traffic is mostly heartbeats:
every byte counts ten thousand times). A query value that is not a number in range is
taken as absent, never refused: an older agent sends none. The agent writes its status
when the phase is not Online (the health controller marked it Offline), takes a new
credential when asked, and renews its own lease (``agent.fencing``) by the answer.

It keeps what the generic path guarantees: the same ``Authenticator`` and
``FailedAuthGate`` as ``AuthMiddleware`` (a refused credential is 401 and counts), a
site's credential for its own site only (403), admins too; a rate per principal (the
role's ``--site-rate``/``--admin-rate``, in a bucket of its own); a body of at most
``BODY_MAX`` bytes that is empty or ``{}``; every answer counted in the request metrics
under the route's template. Any other path, or a name that is not a valid site name,
goes on to the application untouched.

Neighbours: ``hub.app`` (installs it), ``hub.middleware`` (the generic path it mirrors),
``hub.informer`` (the Site read from its cache when the hub has one).
"""

from __future__ import annotations

import json
import math
import re
import time
from typing import Any
from urllib.parse import parse_qsl

from edgeplane.api.labels import check_dns1123_subdomain
from edgeplane.api.leases import MIN_LEASE_SECONDS
from edgeplane.api.wire import Object
from edgeplane.hub.auth import Authenticator, Principal
from edgeplane.hub.authz import forbidden
from edgeplane.hub.errors import ApiError, bad_request, translate, unauthorized
from edgeplane.hub.healthterms import HealthTerms, SiteTerms
from edgeplane.hub.leases import Leases
from edgeplane.hub.limits import Limits, flag
from edgeplane.hub.metrics import HubMetrics
from edgeplane.hub.middleware import ASGIApp, Message, Receive, Scope, Send
from edgeplane.hub.roles import refused
from edgeplane.hub.throttle import Buckets, FailedAuthGate, TooMany, send_too_many, too_many
from edgeplane.store.errors import NotFound, StoreError
from edgeplane.store.protocol import Store

ROUTE = "/api/v1alpha1/sites/{site}/heartbeat"
PATH = re.compile(r"/api/v1alpha1/sites/([a-z0-9.-]{1,253})/heartbeat")
BODY_MAX = 64
ROTATION_ANNOTATION = "edgeplane.io/credential-rotation"
_JSON = [(b"content-type", b"application/json")]
PERIOD_BOUNDS = (0.5, 300.0)
LEASE_MAX = 3600.0
QUERY_MAX = 128
"""Bytes of query read: two numbers; a longer one is not an agent's."""
DEFAULT_TERMS = HealthTerms()
"""A hub whose state has no terms (an app made without them): everyone's default."""


class HeartbeatMiddleware:
    """The heartbeat route as plain ASGI; everything else passes to ``app``."""

    def __init__(
        self,
        app: ASGIApp,
        state: Any,
        failures: FailedAuthGate | None,
        limits: Limits,
    ) -> None:
        self.app, self.state, self.failures = app, state, failures
        self._rates = {
            "site": Buckets(limits.site_rate, limits.site_burst),
            "admin": Buckets(limits.admin_rate, limits.admin_burst),
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = PATH.fullmatch(scope["path"]) if scope["type"] == "http" else None
        if match is None or check_dns1123_subdomain(match.group(1)) is not None:
            return await self.app(scope, receive, send)
        started, status = time.perf_counter(), 500
        try:
            status = await self._answer(match.group(1), scope, receive, send)
        finally:
            self._metrics().observe(scope["method"], ROUTE, status, time.perf_counter() - started)

    async def _answer(self, site: str, scope: Scope, receive: Receive, send: Send) -> int:
        """Check, renew, answer; the status sent."""
        if self.failures and (limited := self.failures.check(scope)):
            await send_too_many(limited, send)
            return 429
        try:
            principal = await self._principal(scope)
            self._admit(site, scope, principal)
            await _read_body(scope, receive)
            answer = await self._renew(site)
        except ApiError as e:
            return await _send_error(e, send)
        except StoreError as e:  # a token or Site read failed: as the API says it
            return await _send_error(translate(e), send)
        if _nothing_to_do(answer, scope):  # the common case: 27 bytes on the wire, not 150
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return 204
        await _send(send, 200, answer)
        return 200

    async def _principal(self, scope: Scope) -> Principal:
        headers = [v for k, v in scope["headers"] if k == b"authorization"]
        if len(headers) > 1:  # as AuthMiddleware: two could be read differently
            raise bad_request(
                "send one Authorization header, not several: each request carries exactly "
                "one bearer token",
                "Authorization",
            )
        authenticator: Authenticator = self.state.authenticator
        principal = None
        if headers:
            principal = await authenticator.verify(headers[0].decode("latin-1"))
        if principal is None:
            if self.failures:
                self.failures.failed(scope)
            raise unauthorized()
        scope.setdefault("state", {})["principal"] = principal  # for the audit log
        if principal.role not in ("site", "admin"):
            raise refused(principal.subject, principal.role, scope["method"], scope["path"])
        return principal

    def _admit(self, site: str, scope: Scope, principal: Principal) -> None:
        if principal.role == "site" and principal.subject != site:
            raise forbidden(principal.subject, scope["method"], scope["path"])
        if scope["method"] != "POST":
            raise ApiError(
                405, "MethodNotAllowed", f"{ROUTE} takes POST only (with an empty body or {{}})"
            )
        buckets = self._rates[principal.role]
        if wait := buckets.take(f"{principal.role}/{principal.subject}"):
            setting = f"{principal.role}_rate"
            self._metrics().limited.labels(setting).inc()
            raise too_many(
                f'{principal.role} "{principal.subject}" is over its limit of '
                f"{buckets.rate:g} heartbeats per second (bursts of {buckets.burst}): retry "
                f"after the Retry-After seconds; the hub's operator can raise {flag(setting)}",
                wait,
                setting,
            )

    async def _renew(self, site: str) -> dict[str, Any]:
        obj = await self._site(site)
        leases: Leases = self.state.leases
        leases.renew(site)
        annotations = obj.get("metadata", {}).get("annotations") or {}
        terms = self._terms(obj)
        return {
            "phase": (obj.get("status") or {}).get("phase"),
            "rotation": annotations.get(ROTATION_ANNOTATION) or None,
            "heartbeatSeconds": terms.heartbeat_seconds,
            "leaseSeconds": terms.lease_seconds,
        }

    def _terms(self, site: Object) -> SiteTerms:
        terms: HealthTerms = getattr(self.state, "health_terms", None) or DEFAULT_TERMS
        return terms.of(site)

    async def _site(self, site: str) -> Object:
        """The Site from the informer's cache when the hub has one, else the store (a
        site the cache does not hold yet is read from the store before it is 404)."""
        informer = getattr(self.state, "informer", None)
        cached: Object | None = informer.get("Site", site) if informer is not None else None
        if cached is not None:
            return cached
        store: Store = self.state.store
        try:
            return await store.get("Site", site)
        except NotFound:
            raise ApiError(
                404,
                "NotFound",
                f'Site "{site}" not found: it was deleted or never joined; join it again with '
                "a join token from `edgeplane site token`",
                "metadata.name",
            ) from None

    def _metrics(self) -> HubMetrics:
        metrics: HubMetrics = self.state.metrics
        return metrics


def _nothing_to_do(answer: dict[str, Any], scope: Scope) -> bool:
    """Online, nothing to rotate, and the query holds the terms answered: a 204."""
    if answer["phase"] != "Online" or answer["rotation"] is not None:
        return False
    held = held_terms(scope.get("query_string", b""))
    return held == (answer["heartbeatSeconds"], answer["leaseSeconds"])


def held_terms(query: bytes) -> tuple[float | None, float | None]:
    """The period and lease a heartbeat's query says the agent holds; None for one
    absent or unreadable (not a number, out of range)."""
    if len(query) > QUERY_MAX:
        return None, None
    try:
        params = dict(parse_qsl(query.decode("latin-1")))
    except ValueError:
        return None, None
    period = _number(params.get("heartbeatSeconds"), *PERIOD_BOUNDS)
    return period, _number(params.get("leaseSeconds"), MIN_LEASE_SECONDS, LEASE_MAX)


def _number(text: str | None, low: float, high: float) -> float | None:
    try:
        value = float(text) if text is not None else math.nan
    except ValueError:
        return None
    return value if low <= value <= high else None  # NaN is in no range


async def _read_body(scope: Scope, receive: Receive) -> None:
    """The body, at most ``BODY_MAX`` bytes: empty or ``{}`` (a heartbeat says nothing)."""
    declared = dict(scope["headers"]).get(b"content-length", b"0")
    if not declared.isdigit() or int(declared) > BODY_MAX:
        raise _too_large()
    chunks, size, more = [], 0, True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > BODY_MAX:
            raise _too_large()
        chunks.append(chunk)
        more = message.get("more_body", False)
    _check_body(b"".join(chunks))


def _too_large() -> ApiError:
    return ApiError(
        413,
        "RequestEntityTooLarge",
        f"a heartbeat's body is at most {BODY_MAX} bytes: send no body, or {{}}",
        "body",
    )


def _check_body(body: bytes) -> None:
    if not body.strip():
        return
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = None
    if parsed != {}:
        raise bad_request("a heartbeat's body is empty or {}: send no body", "body")


async def _send_error(error: ApiError, send: Send) -> int:
    headers = [(b"www-authenticate", b"Bearer")] if error.status == 401 else []
    if isinstance(error, TooMany):
        headers.append((b"retry-after", str(error.retry_after).encode()))
    await _send(send, error.status, error.body(), headers)
    return error.status


async def _send(
    send: Send, status: int, body: Any, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    content = json.dumps(body, separators=(",", ":")).encode()
    length = [(b"content-length", str(len(content)).encode())]
    start: Message = {
        "type": "http.response.start",
        "status": status,
        "headers": [*_JSON, *length, *(headers or [])],
    }
    await send(start)
    await send({"type": "http.response.body", "body": content})
