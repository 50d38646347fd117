"""Who did what, when, and how it went: every write and every denied request, into
the hub's audit log (``edgeplane.audit``: a hash chain, ``edgeplane audit verify``).

Kept: every request that is not a read (POST, PUT, PATCH, DELETE), and every request
answered 401 or 403, reads included, and every read of a Secret's values by a site
(``hub.sitesecrets``). Left out unless denied: a site's routine traffic on
its own channel (heartbeats, status, record batches, device reports, answers to the hub's
requests: thousands a second in a large fleet, and all of it in the Site's and
assignments' status already). Each entry: ``time``, ``subject`` and ``role`` (None
and "anonymous" when no valid token came), ``peer``, ``method``, ``path``, ``query``,
``status`` and ``outcome`` (allowed, denied, refused, failed).

The entry is written before the answer's first byte is sent: a client that saw the
answer has its entry in the file. ``GET /api/v1alpha1/audit/head`` (admin) answers the
last entry's number and hash, to compare with the file.
"""

from __future__ import annotations

import re
import time
from typing import Any

from fastapi import APIRouter, Request, Response

from edgeplane.audit import AuditLog
from edgeplane.hub.joining import rfc3339
from edgeplane.hub.middleware import ASGIApp, Message, Receive, Scope, Send
from edgeplane.hub.resources import ObjectResponse

READS = frozenset({"GET", "HEAD", "OPTIONS"})
DENIED = frozenset({401, 403})
MAX_FIELD = 1024
"""Paths and queries are cut to this many characters (an entry stays small)."""
_ROUTINE = re.compile(
    r"/api/v1alpha1/(?:sites/[^/]+/(?:heartbeat|status|data|devices|requests/[^/]+)"
    r"|assignments/[^/]+/status)\Z"
)
_SECRET_READ = re.compile(r"/api/v1alpha1/sites/[^/]+/secrets/[^/]+\Z")
"""A site reading a Secret's values: a read, recorded all the same."""
router = APIRouter(prefix="/api/v1alpha1")


def outcome(status: int) -> str:
    if status in DENIED:
        return "denied"
    if status >= 500:
        return "failed"
    return "refused" if status >= 400 else "allowed"


def kept(method: str, path: str, status: int, role: str | None) -> bool:
    """Whether a request goes into the log."""
    if status in DENIED:
        return True
    if method in READS:
        return bool(_SECRET_READ.match(path))
    return not (role == "site" and _ROUTINE.match(path))


class AuditMiddleware:
    """Outermost: sees the heartbeats' fast path and every refusal."""

    def __init__(self, app: ASGIApp, log: AuditLog) -> None:
        self.app, self.log = app, log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = False

        async def audited_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start" and not started:
                started = True
                self._record(scope, int(message["status"]))
            await send(message)

        try:
            await self.app(scope, receive, audited_send)
        finally:
            if not started:  # the request died before any answer: a failure all the same
                self._record(scope, 500)

    def _record(self, scope: Scope, status: int) -> None:
        principal = scope.get("state", {}).get("principal")
        role = principal.role if principal is not None else None
        method, path = scope["method"], scope["path"]
        if not kept(method, path, status, role):
            return
        query = scope.get("query_string", b"").decode("latin-1")
        client = scope.get("client")
        self.log.append(
            {
                "time": rfc3339(time.time()),
                "subject": principal.subject if principal is not None else None,
                "role": role or "anonymous",
                "peer": client[0] if client else None,
                "method": method,
                "path": path[:MAX_FIELD],
                "query": query[:MAX_FIELD],
                "status": status,
                "outcome": outcome(status),
            }
        )


@router.get("/audit/head", response_model=None)
async def head(request: Request) -> Response:
    log: AuditLog | None = getattr(request.app.state, "audit", None)
    if log is None:
        body: dict[str, Any] = {"enabled": False}
    else:
        body = {"enabled": True, "seq": log.head.seq, "hash": log.head.hash}
    return ObjectResponse(body)
