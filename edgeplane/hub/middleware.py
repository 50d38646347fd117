"""ASGI middleware of the hub: authentication, body size limit, request metrics.

Plain ASGI rather than ``BaseHTTPMiddleware`` so that watch streams pass through
untouched and end when the hub shuts down.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from edgeplane.hub.auth import Authenticator
from edgeplane.hub.authz import NARROWING, Check, SiteAuthorizer, site_requirement
from edgeplane.hub.errors import ApiError, bad_request, unauthorized
from edgeplane.hub.metrics import HubMetrics
from edgeplane.hub.roles import allows, refused
from edgeplane.hub.throttle import FailedAuthGate, send_too_many

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# The CA is public: a joining agent checks it against its token's fingerprint first.
ANONYMOUS = frozenset({"/healthz", "/readyz", "/api/v1alpha1/join", "/api/v1alpha1/ca"})
# Bodies their route reads itself, under its own limit: artifact uploads (256 MiB by
# default) and a site's answers to the hub's requests (log tails).
# \Z, not $: "/requests/x\n" must not skip the body limit as a relayed answer.
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
DASHBOARD = "/ui"
"""The dashboard's mount (``edgeplane.web``): it signs its users in itself, by session
cookie, and calls this API with each session's own token."""
SELF_LIMITED = re.compile(r"\A/api/v1alpha1/(artifacts/|sites/[^/]+/requests/[^/]+\Z)")


def is_dashboard(path: str) -> bool:
    return path == DASHBOARD or path.startswith(f"{DASHBOARD}/")


async def _send_error(error: ApiError, send: Send) -> None:
    body = error.response()
    await send(
        {"type": "http.response.start", "status": body.status_code, "headers": body.raw_headers}
    )
    await send({"type": "http.response.body", "body": body.body})


class AuthMiddleware:
    """Every path but the health probes and joining needs a valid bearer token, checked
    first; a site's token is then held to what ``authz`` allows it."""

    def __init__(
        self,
        app: ASGIApp,
        authenticator: Authenticator,
        authorizer: SiteAuthorizer,
        failures: FailedAuthGate | None = None,
    ) -> None:
        self.app, self.authenticator, self.authorizer = app, authenticator, authorizer
        self.failures = failures

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and CONTROL.search(scope["path"]):
            # No name holds one, and routes end in "$", which matches before a final
            # newline: "/tokens/rotate-admin%0A" rotated the admin token.
            return await _send_error(
                bad_request(
                    "the URL path holds a control character (percent-decoded): no name "
                    "holds one; check for a stray newline or tab",
                    "path",
                ),
                send,
            )
        if scope["type"] != "http" or scope["path"] in ANONYMOUS or is_dashboard(scope["path"]):
            return await self.app(scope, receive, send)
        if self.failures and (limited := self.failures.check(scope)):
            return await send_too_many(limited, send)
        headers = [v for k, v in scope["headers"] if k == b"authorization"]
        if len(headers) > 1:
            # Two headers read differently: this one takes the last, Starlette's
            # request.headers the first (the credential route read the other token).
            return await _send_error(
                bad_request(
                    "send one Authorization header, not several: each request carries "
                    "exactly one bearer token",
                    "Authorization",
                ),
                send,
            )
        principal = await self.authenticator.verify(headers[0].decode("latin-1") if headers else "")
        if principal is None:
            if self.failures:
                self.failures.failed(scope)
            return await _send_error(unauthorized(), send)
        scope.setdefault("state", {})["principal"] = principal  # the audit log's "who"
        if principal.role == "site":
            try:
                rule = await self.authorizer.check(
                    principal.subject, scope["method"], scope["path"]
                )
            except ApiError as e:
                return await _send_error(e, send)
            if rule.check is Check.NARROW_LIST:
                # A Requirement object, ANDed by the list handler: never re-parsed text.
                scope.setdefault("state", {})[NARROWING] = site_requirement(principal.subject)
        elif principal.role != "admin" and not allows(
            principal.role, scope["method"], scope["path"]
        ):
            return await _send_error(
                refused(principal.subject, principal.role, scope["method"], scope["path"]), send
            )
        return await self.app(scope, receive, send)


class BodyLimitMiddleware:
    """Answer 413 to a body over ``limit`` bytes, declared or streamed."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            return await self.app(scope, receive, send)
        if SELF_LIMITED.match(scope["path"]):
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            return await _send_error(self._too_large(), send)
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                return await _send_error(self._too_large(), send)
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        return await self.app(scope, replay, send)

    def _too_large(self) -> ApiError:
        return ApiError(
            413,
            "RequestEntityTooLarge",
            f"the request body is over the limit of {self.limit} bytes: split the objects "
            "into several requests or raise the hub's --max-body-bytes",
        )


class MetricsMiddleware:
    """Count requests and time them to the response headers, by route template."""

    def __init__(self, app: ASGIApp, metrics: HubMetrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()

        async def timed_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                route = scope.get("route")
                template = getattr(route, "path", None) or "unmatched"
                self.metrics.observe(
                    scope["method"], template, message["status"], time.perf_counter() - started
                )
            await send(message)

        return await self.app(scope, receive, timed_send)
