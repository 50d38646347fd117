"""One simulated site: its credential, its workloads, and the connections an agent keeps.

With a hub that has it, a site follows one stream (``GET /sites/{site}/stream``) that
carries its assignments, bookmarks and relay requests. From an older hub it keeps what
an agent kept before: a list + watch of its assignments and a relay long poll. Events
go to ``SiteWork``; requests are answered with a few made-up log lines. Every failure
backs off with jitter (0.5 s doubling to 30 s) and tries again; it never ends the site.
Neighbours: ``sim.fleet`` makes, beats and stops sites; ``sim.hubcalls`` calls the hub.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

import orjson

from edgeplane.sim.hubcalls import API, HubCalls, HubError, auth, no_route, refused
from edgeplane.sim.wire import Connection, Response
from edgeplane.sim.workloads import SiteWork

log = logging.getLogger("edgeplane.sim.site")
REQUEST_ID = re.compile(r"[A-Za-z0-9_.-]{1,128}")
POLL_SECONDS = 25
MAX_TAIL = 10_000
BACKOFF_FIRST, BACKOFF_MAX = 0.5, 30.0
HEAD_SECONDS = 30.0
"""For the head of a stream's, a watch's or a poll's answer (beyond the poll's wait)."""
READ_SECONDS = 90.0
"""A stream or watch silent this long is dead (bookmarks come every 10-60 s)."""


class Gone(Exception):
    """The hub no longer holds the history from our version: list again."""


class SimSite:
    def __init__(self, index: int, name: str, address: str, token: str, work: SiteWork) -> None:
        self.index, self.name, self.address, self.token = index, name, address, token
        self.work = work
        self.version = ""
        self.connected = False
        self.halted = False
        self.requests_answered = 0
        self.tasks: list[asyncio.Task[None]] = []

    def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        self.work.stop()
        self.connected = False

    # -- following the hub -----------------------------------------------------------
    async def follow(self, hub: HubCalls) -> None:
        """Assignments (and requests) for as long as the site lives."""
        delay = BACKOFF_FIRST
        while True:
            try:
                if hub.stream_v2 is not False and await self._stream(hub):
                    delay = BACKOFF_FIRST  # the hub ended it (shutting down): gently back
                if hub.stream_v2 is False:
                    await self._follow_v1(hub)
                    return
            except Gone:
                self.version = ""
                continue
            except Exception as e:  # an answer of the wrong shape hurts this site alone
                log.debug("%s: following the hub: %r", self.name, e)
            finally:
                self.connected = False
            await asyncio.sleep(random.uniform(0, delay))
            delay = min(delay * 2, BACKOFF_MAX)

    async def _stream(self, hub: HubCalls) -> bool:
        """One stream until it ends; False when the hub has no stream endpoint."""
        if not self.version:
            await self._relist(hub)
        query = urlencode({"resourceVersion": self.version}) if self.version else ""
        conn = await hub.open(self.address)
        try:
            async with asyncio.timeout(HEAD_SECONDS):
                status, headers = await conn.start(
                    "GET", f"{API}/sites/{self.name}/stream?{query}", auth(self.token)
                )
            if status >= 400:
                error = await self._refusal(conn, status, headers)
                if isinstance(error, HubError) and no_route(error):
                    hub.stream_v2 = False
                    return False
                raise error
            hub.stream_v2 = True
            self.connected = True
            async for event in self._events(conn, headers):
                if event.get("type") == "REQUEST":
                    self._answer_later(hub, event.get("request"))
                else:
                    self._apply(event)
            return True
        finally:
            conn.close()

    async def _follow_v1(self, hub: HubCalls) -> None:
        """The watch and the relay poll of an agent before the stream, side by side."""
        poll = asyncio.create_task(self._poll_requests(hub))
        try:
            delay = BACKOFF_FIRST
            while True:
                try:
                    await self._watch(hub)
                    delay = BACKOFF_FIRST
                except Gone:
                    self.version = ""
                    continue
                except Exception as e:  # an answer of the wrong shape: back off, again
                    log.debug("%s: watch: %r", self.name, e)
                finally:
                    self.connected = False
                await asyncio.sleep(random.uniform(0, delay))
                delay = min(delay * 2, BACKOFF_MAX)
        finally:
            poll.cancel()
            await asyncio.wait([poll])  # its connection closed before the site is gone

    async def _watch(self, hub: HubCalls) -> None:
        if not self.version:
            await self._relist(hub)
        query = urlencode(
            {
                "watch": "true",
                "resourceVersion": self.version,
                "labelSelector": f"edgeplane.io/site={self.name}",
            }
        )
        conn = await hub.open(self.address)
        try:
            async with asyncio.timeout(HEAD_SECONDS):
                status, headers = await conn.start(
                    "GET", f"{API}/assignments?{query}", auth(self.token)
                )
            if status >= 400:
                raise await self._refusal(conn, status, headers)
            self.connected = True
            async for event in self._events(conn, headers):
                self._apply(event)
        finally:
            conn.close()

    async def _relist(self, hub: HubCalls) -> None:
        items, self.version = await hub.list_assignments(self.address, self.name, self.token)
        self.work.replace(items)

    async def _refusal(
        self, conn: Connection, status: int, headers: dict[str, str]
    ) -> HubError | Gone:
        error = refused(Response(status, headers, await conn.read_body(headers, 65536)))
        if status == 410 or error.reason == "TooLargeResourceVersion":
            return Gone(error.message)
        return error

    async def _events(self, conn: Connection, headers: dict[str, str]) -> AsyncIterator[Any]:
        lines = conn.lines(headers).__aiter__()
        while True:
            try:
                async with asyncio.timeout(READ_SECONDS):
                    line = await lines.__anext__()
            except StopAsyncIteration:
                return
            event = orjson.loads(line)
            if event.get("type") == "ERROR":
                if (event.get("object") or {}).get("code") == 410:
                    raise Gone(str(event["object"].get("message")))
                raise HubError(500, "WatchError", str(event.get("object"))[:200])
            yield event

    def _apply(self, event: dict[str, Any]) -> None:
        obj = event["object"]
        if version := (obj.get("metadata") or {}).get("resourceVersion"):
            self.version = str(version)
        if event["type"] in ("ADDED", "MODIFIED", "DELETED"):
            self.work.apply(event["type"], obj)

    # -- relay requests --------------------------------------------------------------
    async def _poll_requests(self, hub: HubCalls) -> None:
        held: list[Connection] = []
        try:
            await self._poll_loop(hub, held)
        finally:
            for conn in held:
                conn.close()

    async def _poll_loop(self, hub: HubCalls, held: list[Connection]) -> None:
        """Long polls on one kept connection (in ``held``, for the caller to close)."""
        path = f"{API}/sites/{self.name}/requests?waitSeconds={POLL_SECONDS}"
        delay = BACKOFF_FIRST
        while True:
            try:
                if not held or not held[-1].reusable:
                    held[:] = [await hub.open(self.address)]
                async with asyncio.timeout(POLL_SECONDS + HEAD_SECONDS):
                    answer = await held[-1].request("GET", path, auth(self.token))
                if answer.status >= 400:
                    raise refused(answer)
                for request in answer.json().get("items") or []:
                    self._answer_later(hub, request)
                delay = BACKOFF_FIRST
                continue
            except Exception as e:  # an answer of the wrong shape: back off, again
                log.debug("%s: request poll: %r", self.name, e)
            await asyncio.sleep(random.uniform(0, delay))
            delay = min(delay * 2, BACKOFF_MAX)

    def _answer_later(self, hub: HubCalls, request: Any) -> None:
        if not isinstance(request, dict) or not REQUEST_ID.fullmatch(str(request.get("id"))):
            log.warning("%s: a request without a usable id: %.200r", self.name, request)
            return
        task = asyncio.create_task(self._answer(hub, request))
        self.tasks.append(task)
        task.add_done_callback(self.tasks.remove)

    async def _answer(self, hub: HubCalls, request: dict[str, Any]) -> None:
        text, error = answer_text(self, request)
        try:
            await hub.answer(self.address, self.name, self.token, request, text, error)
            self.requests_answered += 1
        except HubError as e:
            log.debug("%s: answer to %s not sent: %r", self.name, request["id"], e)


def answer_text(site: SimSite, request: dict[str, Any]) -> tuple[str, str | None]:
    """A few log lines of the assignment the request names, or an error message."""
    if request.get("type") != "logs":
        return "", f"the simulator does not handle requests of type {request.get('type')!r}"
    name = str(request.get("assignment"))
    work = site.work.works.get(name)
    if work is None:
        return "", f"no workload of assignment {name!r} runs at this site (yet)"
    try:
        tail = max(1, min(int(request.get("tail") or 100), MAX_TAIL, 3))
    except (TypeError, ValueError):
        tail = 3
    lines = [f"sim {site.name}: {name} generation {work.generation} line {i}" for i in range(tail)]
    return "".join(line + "\n" for line in lines), None
