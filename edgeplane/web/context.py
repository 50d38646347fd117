"""What every dashboard route needs: its shared state, the signed-in user, forms.

``signed_in`` is the one door: it finds the session behind the cookie, the fleet view
of its token, and asks the hub (at most every few seconds) whether the token still
works; anything else raises ``SignIn``, which ``web.app`` answers with the sign-in
page. ``checked_form`` reads a small urlencoded form and checks its CSRF token and
origin, for every request that changes something.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from edgeplane import __version__
from edgeplane.web.fleet import Fleet, FleetView, Refused
from edgeplane.web.sessions import COOKIE, CSRF_FIELD, CSRF_HEADER, LoginGate, Session, Sessions
from edgeplane.web.views import phase_counts

PREFIX = "/ui"
MAX_FORM_BYTES = 16 * 1024
READY_SECONDS = 20.0
"""How long a page waits for a new view's first listing before it says so."""


class SignIn(Exception):
    """The request needs a signed-in session it does not have."""


class BadForm(Exception):
    """A form the dashboard refuses (too big, no CSRF token, another origin)."""


@dataclass
class Dashboard:
    """The dashboard's state, shared by its routes (``request.app.state.dashboard``)."""

    sessions: Sessions
    fleet: Fleet
    logins: LoginGate
    templates: jinja2.Environment
    shutdown: asyncio.Event
    secure: bool
    """Cookies are Secure: the hub serves HTTPS."""

    def render(self, request: Request, name: str, status: int = 200, **context: Any) -> Response:
        body = self.templates.get_template(name).render(
            ui=PREFIX, version=__version__, request=request, **context
        )
        return HTMLResponse(body, status, headers={"cache-control": "no-store"})


@dataclass
class User:
    session: Session
    view: FleetView
    dashboard: Dashboard

    async def may_roll(self) -> bool:
        """Whether the rollout buttons show (an operator's or admin's token)."""
        return await self.view.may("create", "applications/rollout")

    def render(self, request: Request, name: str, status: int = 200, **context: Any) -> Response:
        counts = phase_counts(self.view.sites.values())
        return self.dashboard.render(
            request, name, status, csrf=self.session.csrf, counts=counts, **context
        )


def dashboard_of(request: Request) -> Dashboard:
    found: Dashboard = request.app.state.dashboard
    return found


async def signed_in(request: Request, ready: bool = True) -> User:
    """The signed-in user, with its fleet view listed (``ready``); else ``SignIn``."""
    dashboard = dashboard_of(request)
    session = dashboard.sessions.get(request.cookies.get(COOKIE))
    if session is None:
        raise SignIn("sign in with an API token")
    view = await dashboard.fleet.view(session.key, session.token)
    try:
        await view.verify()
    except Refused as e:
        dashboard.sessions.end_token(session.key)
        await dashboard.fleet.drop(session.key)
        raise SignIn(f"the hub refused this session's token: {e}") from e
    if ready and not view.ready.is_set():
        try:
            async with asyncio.timeout(READY_SECONDS):
                await view.ready.wait()
        except TimeoutError:
            raise SignIn("the fleet took too long to list; sign in again") from None
    return User(session, view, dashboard)


async def form_of(request: Request) -> dict[str, str]:
    """A urlencoded form of at most ``MAX_FORM_BYTES`` (the last value of each field)."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise BadForm(f"the form is over {MAX_FORM_BYTES} bytes: send less")
    try:
        return dict(parse_qsl(body.decode(), keep_blank_values=True, max_num_fields=32))
    except (UnicodeDecodeError, ValueError) as e:
        raise BadForm(f"the form cannot be read: {e}") from e


def same_origin(request: Request) -> bool:
    """A browser's Origin (sent with every POST) must be this dashboard's own."""
    origin = request.headers.get("origin")
    if origin is None:
        return True  # not a browser's cross-site request: browsers send Origin on POST
    host = request.headers.get("host", "")
    return origin in (f"http://{host}", f"https://{host}")


async def checked_form(request: Request, user: User) -> dict[str, str]:
    form = await form_of(request)
    sent = request.headers.get(CSRF_HEADER) or form.get(CSRF_FIELD)
    if not same_origin(request):
        raise BadForm("the request came from another site's page: use the dashboard itself")
    if not user.session.csrf_ok(sent):
        raise BadForm("the form's CSRF token is missing or stale: reload the page and retry")
    return form
