"""Requests from the hub to a site that only dials out (a workload's log tail).

The hub queues a request for the site and waits; the site's agent takes it from its
stream (``hub.stream``, at once) or long-polls its queue (an agent of protocol v1), does
the work, and posts the answer back. Queues live in this hub's memory; several hubs on
one database share requests through the store (``hub.sharedrelay``).

Bounded: at most ``MAX_PENDING`` requests wait per site (429 past that), an answer
is at most ``MAX_ANSWER_BYTES``, and an answer that nobody waits for (unknown id, or
its asker gave up) is refused before its body is read, and the connection closed.
A site's queue is dropped once nothing is pending and nobody polls it.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import PlainTextResponse

from edgeplane.api.selectors import Operator, Requirement, Selector
from edgeplane.api.wellknown import APPLICATION_LABEL, SITE_LABEL
from edgeplane.hub.errors import ApiError
from edgeplane.hub.resources import ObjectResponse
from edgeplane.store.protocol import Store

router = APIRouter(prefix="/api/v1alpha1")
ANSWER_SECONDS = 10.0
MAX_ANSWER_BYTES = 16 * 1024 * 1024
MAX_PENDING = 16


@dataclass
class _Pending:
    site: str
    request: dict[str, Any]
    answer: asyncio.Future[tuple[str, str | None]]


@dataclass
class _SiteQueue:
    pending: list[_Pending] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    asking: int = 0
    polling: int = 0


class TooManyPending(Exception):
    pass


class SiteUnreachable(Exception):
    pass


class ShuttingDown(Exception):
    pass


async def _until(awaited: asyncio.Future[Any], shutdown: asyncio.Event, seconds: float) -> None:
    """Wait for ``awaited``, the hub's shutdown or the timeout, whichever comes first;
    ``awaited`` itself is left running (it belongs to the caller)."""
    stop = asyncio.ensure_future(shutdown.wait())
    try:
        await asyncio.wait({awaited, stop}, timeout=seconds, return_when="FIRST_COMPLETED")
    finally:
        stop.cancel()


class Relay:
    def __init__(self) -> None:
        self._sites: dict[str, _SiteQueue] = {}
        self._open: dict[str, _Pending] = {}

    def _queue(self, site: str) -> _SiteQueue:
        return self._sites.setdefault(site, _SiteQueue())

    def _drop_if_idle(self, site: str, queue: _SiteQueue) -> None:
        if not (queue.pending or queue.asking or queue.polling) and self._sites.get(site) is queue:
            del self._sites[site]

    def connected(self, site: str) -> bool:
        """Whether the site's agent polls (or streams from) this hub now."""
        queue = self._sites.get(site)
        return queue is not None and queue.polling > 0

    def waits_for(self, site: str, request_id: str) -> bool:
        """Whether someone still waits for the answer to ``request_id`` from ``site``."""
        pending = self._open.get(request_id)
        return pending is not None and pending.site == site and not pending.answer.done()

    async def ask(
        self, site: str, request: dict[str, Any], wait_seconds: float, shutdown: asyncio.Event
    ) -> tuple[str, str | None]:
        """The site's answer (text, error); SiteUnreachable when it does not come in
        time, ShuttingDown when the hub stops first."""
        queue = self._queue(site)
        if queue.asking >= MAX_PENDING:
            raise TooManyPending(site)
        request = {**request, "id": secrets.token_hex(8)}
        pending = _Pending(site, request, asyncio.get_running_loop().create_future())
        queue.pending.append(pending)
        queue.asking += 1
        self._open[request["id"]] = pending
        queue.arrived.set()
        try:
            await _until(pending.answer, shutdown, wait_seconds)
        finally:
            self._open.pop(request["id"], None)
            queue.asking -= 1
            with contextlib.suppress(ValueError):
                queue.pending.remove(pending)
            self._drop_if_idle(site, queue)
        if pending.answer.done():
            return pending.answer.result()
        pending.answer.cancel()
        raise ShuttingDown(site) if shutdown.is_set() else SiteUnreachable(site)

    async def take(self, site: str, wait: float, shutdown: asyncio.Event) -> list[dict[str, Any]]:
        """The requests queued for ``site``, waiting up to ``wait`` seconds for one."""
        queue = self._queue(site)
        if not queue.pending:
            queue.arrived.clear()
            arrived = asyncio.ensure_future(queue.arrived.wait())
            queue.polling += 1
            try:
                await _until(arrived, shutdown, wait)
            finally:
                arrived.cancel()
                queue.polling -= 1
        taken, queue.pending = queue.pending, []
        self._drop_if_idle(site, queue)
        return [p.request for p in taken if not p.answer.done()]

    async def next_requests(self, site: str) -> list[dict[str, Any]]:
        """The requests queued for ``site``, waiting for one as long as it takes (a site's
        stream waits so, and cancels the wait when it ends)."""
        queue = self._queue(site)
        queue.polling += 1
        try:
            while not queue.pending:
                queue.arrived.clear()
                await queue.arrived.wait()
            taken, queue.pending = queue.pending, []
        finally:
            queue.polling -= 1
            self._drop_if_idle(site, queue)
        return [p.request for p in taken if not p.answer.done()]

    def answer(self, site: str, request_id: str, text: str, error: str | None) -> bool:
        pending = self._open.get(request_id)
        if pending is None or pending.site != site or pending.answer.done():
            return False
        pending.answer.set_result((text, error))
        return True


def _relay(request: Request) -> Relay:
    relay: Relay = request.app.state.relay
    return relay


@router.get("/sites/{site}/logs", response_model=None)
async def logs(
    request: Request,
    site: str,
    application: str = Query(..., min_length=1),
    tail: int = Query(100, ge=1, le=10_000),
) -> Response:
    store: Store = request.app.state.store
    name = await _assignment_of(store, application, site)
    if name is None:
        raise ApiError(
            404,
            "NotFound",
            f"application {application!r} has no assignment at site {site!r}: "
            "see where it runs with `edgeplane get apps`",
            "application",
        )
    # With several hubs, through whichever one the site's agent is connected to.
    asker = getattr(request.app.state, "shared_relay", None) or _relay(request)
    try:
        text, error = await asker.ask(
            site,
            {"type": "logs", "assignment": name, "tail": tail},
            ANSWER_SECONDS,
            request.app.state.shutdown,
        )
    except ShuttingDown:
        raise ApiError(503, "ShuttingDown", "the hub is shutting down: ask again") from None
    except TooManyPending:
        raise ApiError(
            429,
            "TooManyRequests",
            f"site {site!r} already has {MAX_PENDING} requests waiting for its answers: "
            "wait for those, then ask again",
        ) from None
    except SiteUnreachable:
        raise ApiError(504, "SiteUnreachable", _unreachable(request, site)) from None
    if error:
        raise ApiError(404, "NotFound", f"site {site!r}: {error}", "application")
    return PlainTextResponse(text)


def _unreachable(request: Request, site: str) -> str:
    wait = f"site {site!r} did not answer within {ANSWER_SECONDS:.0f} s"
    if getattr(request.app.state, "shared_relay", None) is None:
        return f"{wait}: its agent is offline or cannot reach the hub (see `edgeplane get sites`)"
    return (
        f"{wait} through any hub sharing this database: its agent is offline or cannot "
        "reach them (see `edgeplane get sites`)"
    )


async def _assignment_of(store: Store, application: str, site: str) -> str | None:
    """The name of ``application``'s Assignment at ``site``, found by its labels (built
    as requirements, never parsed): names are not parsed back into their parts."""
    selector = Selector(
        (
            Requirement(APPLICATION_LABEL, Operator.IN, (application,)),
            Requirement(SITE_LABEL, Operator.IN, (site,)),
        )
    )
    page = await store.list("Assignment", selector, 1)
    return str(page.items[0]["metadata"]["name"]) if page.items else None


@router.get("/sites/{site}/requests", response_model=None)
async def poll(
    request: Request, site: str, wait_seconds: float = Query(25.0, alias="waitSeconds", ge=0, le=60)
) -> Response:
    items = await _relay(request).take(site, wait_seconds, request.app.state.shutdown)
    return ObjectResponse({"items": items})


@router.post("/sites/{site}/requests/{request_id}", status_code=204, response_model=None)
async def reply(request: Request, site: str, request_id: str) -> Response:
    relay = _relay(request)
    if not relay.waits_for(site, request_id):
        return _unwanted(site, request_id)  # before reading a byte of the body
    _check_declared_size(request)
    text = (await _answer_body(request)).decode("utf-8", errors="replace")
    if not relay.answer(site, request_id, text, request.headers.get("x-request-error")):
        return _unwanted(site, request_id)
    return Response(status_code=204)


def _unwanted(site: str, request_id: str) -> Response:
    error = ApiError(
        410,
        "Gone",
        f"nobody waits for an answer to request {request_id!r} of site {site!r} (it was "
        f"never asked, or its asker gave up after {ANSWER_SECONDS:.0f} s): drop it",
        "requestId",
    )
    response = error.response()
    # The body is left unread: closing the connection is cheaper than draining it.
    response.headers["connection"] = "close"
    return response


def _too_large() -> ApiError:
    return ApiError(
        413,
        "RequestEntityTooLarge",
        f"the answer is over {MAX_ANSWER_BYTES} bytes: send fewer lines",
    )


def _check_declared_size(request: Request) -> None:
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > MAX_ANSWER_BYTES:
        raise _too_large()


async def _answer_body(request: Request) -> bytes:
    """The answer, read here rather than under the hub's 1 MiB body limit: 10,000 log
    lines are more than that."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_ANSWER_BYTES:
            raise _too_large()
        chunks.append(chunk)
    return b"".join(chunks)
