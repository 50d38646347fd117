"""``GET /ui/live``: one server-sent event stream per open page, fed by its fleet view.

The events (htmx's SSE extension swaps the HTML ones by name):

* ``summary``: the fleet's count of sites by phase (HTML, in every page's header);
* ``phases``: JSON ``[{"name", "phase"}]`` of sites whose phase changed, for the map
  (``static/live.js`` hands them to ``static/map.js``); ``{"reload": true}`` when the
  stream fell behind and the map should fetch its points again;
* ``site-<name>``: a site's phase badge (HTML), for the sites the page shows
  (``?site=``, at most ``MAX_WATCHED``);
* ``app-<name>``: an application's ready count (HTML), for the applications the page
  shows (``?app=``); its page reloads its rollout panel on it;
* ``signed-out``: the session ended (the token was refused); the stream ends.

Changes are batched (``BATCH_SECONDS``), so ten thousand sites going offline at once are
a few events, not ten thousand. A comment line is sent every ``KEEPALIVE_SECONDS``, when
the session's token is checked again. The stream ends when the hub shuts down.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from edgeplane.api.labels import check_dns1123_subdomain
from edgeplane.web.context import PREFIX, User, signed_in
from edgeplane.web.fleet import Change, Refused, Subscriber
from edgeplane.web.views import phase_counts, phase_of

MAX_WATCHED = 200
MAX_PHASES = 1_000
BATCH_SECONDS = 0.5
KEEPALIVE_SECONDS = 15.0


def _watched(request: Request, key: str) -> set[str]:
    names = request.query_params.getlist(key)[: MAX_WATCHED + 1]
    if len(names) > MAX_WATCHED:
        raise ValueError(f"{key}: at most {MAX_WATCHED} names a stream")
    for name in names:
        if check_dns1123_subdomain(name) is not None:
            raise ValueError(f"{key}: {name[:40]!r} is not a name")
    return set(names)


async def live(request: Request) -> Response:
    user = await signed_in(request)
    try:
        sites, apps = _watched(request, "site"), _watched(request, "app")
    except ValueError as e:
        return Response(str(e), 400, media_type="text/plain")
    subscriber = user.view.subscribe()
    headers = {"cache-control": "no-store", "x-accel-buffering": "no"}
    return StreamingResponse(
        _events(request, user, subscriber, sites, apps),
        media_type="text/event-stream",
        headers=headers,
    )


def frame(event: str, data: str) -> str:
    """One SSE event; every line of ``data`` prefixed (HTML spans lines)."""
    lines = "".join(f"data: {line}\n" for line in data.split("\n"))
    return f"event: {event}\n{lines}\n"


async def _events(
    request: Request, user: User, subscriber: Subscriber, sites: set[str], apps: set[str]
) -> AsyncIterator[str]:
    shutdown = user.dashboard.shutdown
    try:
        yield ": edgeplane dashboard\nretry: 2000\n\n"
        yield frame("summary", _summary(request, user))
        while not shutdown.is_set():
            batch = await _next_batch(subscriber, shutdown)
            try:
                await user.view.verify()
            except Refused:
                user.dashboard.sessions.end_token(user.session.key)
                yield frame("signed-out", "the hub refused this session's token")
                return
            if batch is None:
                yield ": keepalive\n\n"
                continue
            for chunk in _frames(request, user, subscriber, batch, sites, apps):
                yield chunk
    finally:
        user.view.unsubscribe(subscriber)


async def _next_batch(subscriber: Subscriber, shutdown: asyncio.Event) -> list[Change] | None:
    """The changes of the next ``BATCH_SECONDS`` after one arrives (None: nothing came
    for ``KEEPALIVE_SECONDS``, or the hub is shutting down)."""
    stopping = asyncio.ensure_future(shutdown.wait())
    getting = asyncio.ensure_future(subscriber.queue.get())
    try:
        done, _ = await asyncio.wait(
            {stopping, getting}, timeout=KEEPALIVE_SECONDS, return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        for task in (stopping, getting):
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
    if getting not in done or getting.cancelled():
        return None
    batch = [getting.result()]
    await asyncio.sleep(BATCH_SECONDS)
    while not subscriber.queue.empty():
        batch.append(subscriber.queue.get_nowait())
    return batch


def _frames(
    request: Request,
    user: User,
    subscriber: Subscriber,
    batch: list[Change],
    sites: set[str],
    apps: set[str],
) -> list[str]:
    latest = {(c.plural, c.name): c for c in batch}
    frames = []
    phases: list[dict[str, str]] = []
    for (plural, name), change in latest.items():
        if plural == "sites":
            phase = phase_of(change.obj) if change.obj is not None else "Deleted"
            phases.append({"name": name, "phase": phase})
            if name in sites:
                frames.append(frame(f"site-{name}", _render(user, "badge.html", phase=phase)))
        elif plural == "applications" and name in apps and change.obj is not None:
            frames.append(frame(f"app-{name}", _render(user, "ready.html", app=change.obj)))
    if subscriber.overflowed or len(phases) > MAX_PHASES:
        subscriber.overflowed = False
        frames.append(frame("phases", json.dumps({"reload": True})))
    elif phases:
        frames.append(frame("phases", json.dumps(phases)))
    if phases:
        frames.append(frame("summary", _summary(request, user)))
    return frames


def _render(user: User, template: str, **context: Any) -> str:
    return user.dashboard.templates.get_template(template).render(**context)


def _summary(request: Request, user: User) -> str:
    return _render(user, "summary.html", counts=phase_counts(user.view.sites.values()), ui=PREFIX)


routes = [Route("/live", live, methods=["GET"])]
