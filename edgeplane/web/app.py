"""The dashboard's ASGI application, mounted by the hub at ``/ui``.

``create_dashboard`` wires the sessions (``web.sessions``), the fleet views
(``web.fleet``), the pages (``web.pages``), the actions (``web.actions``), the live
stream (``web.live``) and the vendored static files. It reaches the hub only over HTTP,
at ``hub_url``, with each session's own token: the hub's authentication, authorization
and limits apply to the dashboard exactly as to the CLI.

Every answer carries a strict Content-Security-Policy (scripts and styles from this
origin only, no inline script, no framing), ``nosniff`` and ``Referrer-Policy:
same-origin`` (not ``no-referrer``: a plain form POST from such a page carries ``Origin:
null``, which the origin check refuses); pages are never cached.
"""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import jinja2
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from edgeplane.client.errors import ClientError, HubUnreachable
from edgeplane.web import actions, live, pages, views
from edgeplane.web.context import PREFIX, BadForm, Dashboard, SignIn
from edgeplane.web.fleet import Fleet, TooManyViews
from edgeplane.web.sessions import LoginGate, Sessions

HERE = Path(__file__).parent
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
]


def templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,  # every name and label comes from someone who may be hostile
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["age"] = pages.age_filter
    env.filters["phase"] = views.phase_of
    return env


def create_dashboard(
    hub_url: str,
    verify: ssl.SSLContext | bool = True,
    shutdown: asyncio.Event | None = None,
    secure: bool | None = None,
) -> DashboardApp:
    """The dashboard, reading the hub at ``hub_url`` (its own loopback address)."""
    shutdown = shutdown or asyncio.Event()
    dashboard = Dashboard(
        Sessions(),
        Fleet(hub_url, verify, shutdown=shutdown),
        LoginGate(),
        templates(),
        shutdown,
        hub_url.startswith("https:") if secure is None else secure,
    )
    routes = [
        *pages.routes,
        *actions.routes,
        *live.routes,
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={
            SignIn: _sign_in,
            HubUnreachable: _unreachable,
            ClientError: _refused,
            TooManyViews: _too_many,
            BadForm: _bad_form,
        },
    )
    app.state.dashboard = dashboard
    return DashboardApp(app, dashboard)


class DashboardApp:
    """The dashboard's routes behind its security headers; ``aclose`` stops its views."""

    def __init__(self, app: ASGIApp, dashboard: Dashboard) -> None:
        self.app, self.dashboard = app, dashboard

    async def aclose(self) -> None:
        await self.dashboard.fleet.close()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *HEADERS]
            await send(message)

        await self.app(scope, receive, with_headers)


def _dashboard(request: Request) -> Dashboard:
    found: Dashboard = request.app.state.dashboard
    return found


async def _sign_in(request: Request, exc: Exception) -> Response:
    """Not signed in (or no longer): htmx is told to load the sign-in page; a browser is
    sent there, and back to what it asked for afterwards."""
    login = f"{PREFIX}/login"
    if request.headers.get("hx-request"):
        return Response(status_code=401, headers={"hx-redirect": login})
    if request.method != "GET" or request.url.path.startswith(f"{PREFIX}/live"):
        return JSONResponse({"reason": "Unauthorized", "message": str(exc)}, 401)
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"{login}?next={pages.quote(target)}", 303)


async def _unreachable(request: Request, exc: Exception) -> Response:
    return _dashboard(request).render(
        request, "error.html", 502, title="Hub unreachable", message=str(exc)
    )


async def _refused(request: Request, exc: Exception) -> Response:
    error = exc if isinstance(exc, ClientError) else ClientError(500, "Error", str(exc))
    status = error.status if 400 <= error.status < 600 else 502
    return _dashboard(request).render(
        request, "error.html", status, title=error.reason, message=error.message
    )


async def _too_many(request: Request, exc: Exception) -> Response:
    return _dashboard(request).render(
        request, "error.html", 503, title="Too many sign-ins", message=str(exc)
    )


async def _bad_form(request: Request, exc: Exception) -> Response:
    return _dashboard(request).render(request, "error.html", 403, title="Refused", message=str(exc))
