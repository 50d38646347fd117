"""The dashboard's pages: sign-in, the fleet map, sites, applications, policies, data
streams and devices.

Sites and Applications come from the session's ``FleetView`` (memory, filtered and
paged here); everything else is asked of the hub per page, with bounded pages of its
own (``limit``/``continue``). Names from the URL are checked before they are used, and
only ever passed to the client as whole path segments.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote as _quote
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from edgeplane.api.labels import check_dns1123_subdomain
from edgeplane.api.wellknown import APPLICATION_LABEL, SITE_LABEL
from edgeplane.client.errors import ClientError, HubUnreachable
from edgeplane.web import views
from edgeplane.web.context import (
    PREFIX,
    BadForm,
    User,
    checked_form,
    dashboard_of,
    form_of,
    signed_in,
)
from edgeplane.web.maps import aggregate, parse_bounds
from edgeplane.web.sessions import COOKIE, IDLE_SECONDS, MAX_TOKEN_CHARS
from edgeplane.web.views import FilterError

DEVICE_PAGE = 100
SITE_DEVICES = 200
STREAMS_MAX = 500
POLICIES_MAX = 500
SITE_CHOICES = 300
"""Sites offered by name in "Why not this site?" (any other can still be typed)."""


def quote(text: str) -> str:
    return _quote(text, safe="/")


def age_filter(stamp: object) -> str:
    return views.age(stamp)


def application_name(request: Request) -> str:
    return _name(request, "application")


def _name(request: Request, what: str) -> str:
    name = str(request.path_params["name"])
    if check_dns1123_subdomain(name) is not None:
        raise ClientError(404, "NotFound", f"no {what} named {name[:80]!r}", what)
    return name


def _safe_next(target: str | None) -> str:
    """Only a path of this dashboard: never another site (``//evil``, ``https:``)."""
    if not target:
        return f"{PREFIX}/"
    unsafe = "\\" in target or "//" in target or not target.isprintable()
    return f"{PREFIX}/" if unsafe or not target.startswith(f"{PREFIX}/") else target


async def login_page(request: Request) -> Response:
    return dashboard_of(request).render(
        request, "login.html", next=_safe_next(request.query_params.get("next"))
    )


async def login(request: Request) -> Response:
    dashboard = dashboard_of(request)
    peer = request.client.host if request.client else "?"
    target = _safe_next(request.query_params.get("next"))
    if wait := dashboard.logins.wait(peer):
        message = f"too many failed sign-ins from {peer}: wait {wait:.0f} s, then retry"
        return dashboard.render(request, "login.html", 429, next=target, error=message)
    try:
        form = await form_of(request)
    except BadForm as e:
        return dashboard.render(request, "login.html", 400, next=target, error=str(e))
    token = form.get("token", "").strip()
    error = _token_problem(token)
    if error is None:
        try:
            await dashboard.fleet.check(token)
        except ClientError as e:
            error = f"the hub refused this token ({e.reason}): paste a valid API token"
        except HubUnreachable as e:
            return dashboard.render(request, "login.html", 502, next=target, error=str(e))
    if error is not None:
        dashboard.logins.failed(peer)
        return dashboard.render(request, "login.html", 401, next=target, error=error)
    session = dashboard.sessions.start(token)
    response = RedirectResponse(target, 303)
    response.set_cookie(
        COOKIE,
        session.id,
        max_age=int(IDLE_SECONDS),
        path=PREFIX,
        secure=dashboard.secure,
        httponly=True,
        samesite="strict",
    )
    return response


def _token_problem(token: str) -> str | None:
    if not token:
        return "token: paste an API token (edgeplane's admin token, or one made for you)"
    if len(token) > MAX_TOKEN_CHARS or not token.isascii() or not token.isprintable():
        return "token: that is not an API token (printable ASCII, at most 4096 characters)"
    return None


async def logout(request: Request) -> Response:
    user = await signed_in(request, ready=False)
    await checked_form(request, user)
    user.dashboard.sessions.end(user.session.id)
    response = RedirectResponse(f"{PREFIX}/login", 303)
    response.delete_cookie(COOKIE, path=PREFIX, secure=user.dashboard.secure, httponly=True)
    return response


async def fleet_map(request: Request) -> Response:
    user = await signed_in(request)
    sites = user.view.sites
    located = sum(1 for _ in views.map_sites(sites.values()))
    return user.render(request, "map.html", total=len(sites), located=located)


async def map_points(request: Request) -> Response:
    user = await signed_in(request)
    try:
        zoom = int(request.query_params.get("zoom", "2"))
        bounds = parse_bounds(request.query_params.get("bbox"))
    except ValueError as e:
        return JSONResponse({"reason": "BadRequest", "message": str(e), "field": "bbox"}, 400)
    points = aggregate(views.map_sites(user.view.sites.values()), zoom, bounds)
    return JSONResponse(points, headers={"cache-control": "no-store"})


async def sites_page(request: Request) -> Response:
    user = await signed_in(request)
    all_sites = user.view.sites
    try:
        chosen = views.SiteFilter.of(request.query_params)
        number = views.page_number(request.query_params.get("page"))
    except FilterError as e:
        return user.render(request, "sites.html", 400, error=str(e), **_sites(all_sites, None, 1))
    return user.render(request, "sites.html", error=None, **_sites(all_sites, chosen, number))


def _sites(
    all_sites: dict[str, Any], chosen: views.SiteFilter | None, number: int
) -> dict[str, Any]:
    chosen = chosen or views.SiteFilter()
    found = chosen.apply(all_sites[n] for n in sorted(all_sites))
    page = views.page_of(found, number)
    query = chosen.query()
    return {
        "page": page,
        "filter": chosen,
        "regions": views.regions(all_sites.values()),
        "phases": views.PHASES,
        "query": urlencode(query),
        "watched": [views.name_of(s) for s in page.items],
    }


async def site_page(request: Request) -> Response:
    user = await signed_in(request)
    name = _name(request, "site")
    client = user.view.client
    site = await client.get("sites", name)  # the hub's, with the lease's heartbeat
    assignments = await client.list("assignments", f"{SITE_LABEL}={name}", limit=500)
    devices = await client.list("devices", f"{SITE_LABEL}={name}", limit=SITE_DEVICES)
    events = _site_events(name, user.view.applications.values())
    return user.render(
        request,
        "site.html",
        site=site,
        phase=views.phase_of(site),
        assignments=assignments.get("items", []),
        devices=devices.get("items", []),
        more_devices=bool(devices.get("metadata", {}).get("continue")),
        events=events,
        watched=[name],
    )


def _site_events(site: str, apps: Any) -> list[dict[str, str]]:
    """The applications' recent events that name this site, newest first."""
    found = []
    for app in apps:
        for event in (app.get("status") or {}).get("events") or []:
            if views.mentions(event.get("message"), site):
                found.append({"application": views.name_of(app), **event})
    return sorted(found, key=lambda e: str(e.get("time", "")), reverse=True)[:50]


async def applications_page(request: Request) -> Response:
    user = await signed_in(request)
    apps = [user.view.applications[n] for n in sorted(user.view.applications)]
    number = views.page_number(request.query_params.get("page"))
    page = views.page_of(apps, number)
    return user.render(request, "applications.html", page=page)


async def application_page(request: Request) -> Response:
    user = await signed_in(request)
    name = _name(request, "application")
    app = user.view.applications.get(name) or await user.view.client.get("applications", name)
    context = await _application(user, name)
    may = await user.may_roll()
    return user.render(request, "application.html", app=app, may_roll=may, **context)


async def _application(user: User, name: str) -> dict[str, Any]:
    client = user.view.client
    placed = await client.list("assignments", f"{APPLICATION_LABEL}={name}", limit=500)
    try:
        explained: dict[str, Any] | None = await client.explain(name)
    except ClientError as e:
        explained, why = None, e.message
    else:
        why = ""
    revisions = await client.list_revisions(name)
    return {
        "assignments": sorted(placed.get("items", []), key=views.name_of),
        "explained": explained,
        "explain_error": why,
        "histogram": views.reason_histogram((explained or {}).get("reasons") or []),
        "revisions": revisions[:20],
        "sites": sorted(user.view.sites)[:SITE_CHOICES],
    }


async def explain_site(request: Request) -> Response:
    """One site's verdict from every check (an htmx fragment)."""
    user = await signed_in(request)
    name = _name(request, "application")
    site = request.query_params.get("site", "")
    if check_dns1123_subdomain(site) is not None:
        return user.render(request, "explain_site.html", 400, one=None, error="site: pick a site")
    answer = await user.view.client.explain(name, site)
    return user.render(request, "explain_site.html", one=answer.get("site"), error=None)


async def policies_page(request: Request) -> Response:
    user = await signed_in(request)
    listed = await user.view.client.list("policies", limit=POLICIES_MAX)
    apps = list(user.view.applications.values())
    policies = [
        {"policy": p, "verdicts": views.policy_verdicts(views.name_of(p), apps)}
        for p in listed.get("items", [])
    ]
    return user.render(request, "policies.html", policies=policies)


async def datastreams_page(request: Request) -> Response:
    user = await signed_in(request)
    listed = await user.view.client.list("datastreams", limit=STREAMS_MAX)
    totals = views.stream_totals(user.view.sites.values())
    return user.render(request, "datastreams.html", streams=listed.get("items", []), totals=totals)


async def devices_page(request: Request) -> Response:
    user = await signed_in(request)
    site, kind = (request.query_params.get(k, "").strip() for k in ("site", "class"))
    terms, error = [], None
    for label, value in ((SITE_LABEL, site), ("class", kind)):
        if value and check_dns1123_subdomain(value) is not None:
            error = f"{'site' if label == SITE_LABEL else 'class'}: {value[:40]!r} is not a name"
        elif value:
            terms.append(f"{label}={value}")
    after = request.query_params.get("continue") or None
    listed: Any = {"items": []}
    if error is None:
        listed = await user.view.client.list("devices", ",".join(terms) or None, DEVICE_PAGE, after)
    query = urlencode({k: v for k, v in (("site", site), ("class", kind)) if v})
    return user.render(
        request,
        "devices.html",
        400 if error else 200,
        devices=listed.get("items", []),
        next_page=listed.get("metadata", {}).get("continue"),
        site=site,
        kind=kind,
        query=query,
        error=error,
    )


routes = [
    Route("/login", login_page, methods=["GET"]),
    Route("/login", login, methods=["POST"]),
    Route("/logout", logout, methods=["POST"]),
    Route("/", fleet_map, methods=["GET"]),
    Route("/map/points", map_points, methods=["GET"]),
    Route("/sites", sites_page, methods=["GET"]),
    Route("/sites/{name}", site_page, methods=["GET"]),
    Route("/applications", applications_page, methods=["GET"]),
    Route("/applications/{name}", application_page, methods=["GET"]),
    Route("/applications/{name}/explain", explain_site, methods=["GET"]),
    Route("/policies", policies_page, methods=["GET"]),
    Route("/datastreams", datastreams_page, methods=["GET"]),
    Route("/devices", devices_page, methods=["GET"]),
]
