"""Keeping the local copy of this site's assignments in step with the hub.

List once, then follow from the list's resourceVersion; the version of every event
(and bookmark) is stored, so a restarted agent resumes where it stopped. A 410 means
the hub no longer holds that history: list again. Failures back off with jitter.

Protocol v1 follows an assignment watch. Protocol v2 (given an ``Answerer``) follows
the site's one stream, whose REQUEST lines go to the answerer; a hub without the
stream route (an older one: 404, or 403 from its authorization table) is followed as
in v1, with the request long poll beside the watch, until that watch ends (the hub
restarts, perhaps upgraded): then the stream is asked for again.

``request_relist`` ends what is followed and lists again (``agent.fencing`` asks, to
hear every move before a fenced workload may run); ``on_listed`` hears when a list that
began at a given monotonic time is complete.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from edgeplane.agent.backoff import Backoff
from edgeplane.agent.errors import Gone, HubRefused, HubUnreachable
from edgeplane.agent.hublink import API, HubLink
from edgeplane.agent.requests import Answerer
from edgeplane.agent.state import LocalState
from edgeplane.api.wellknown import SITE_LABEL

log = logging.getLogger("edgeplane.agent.sync")
PAGE = 500
FOLLOWED = frozenset({"ADDED", "MODIFIED", "DELETED", "BOOKMARK"})


def no_stream_route(error: HubRefused) -> bool:
    """Whether the hub predates the site's stream: an unknown route is 404 without a
    field (an unknown site is 404 naming ``site``), and an older hub's authorization
    table has no entry for it (403: a site may always open its own stream)."""
    return (error.status == 404 and error.field is None) or error.status == 403


class AssignmentSync:
    def __init__(
        self,
        link: HubLink,
        state: LocalState,
        site: str,
        changed: asyncio.Event,
        backoff: Backoff | None = None,
        answerer: Answerer | None = None,
        on_listed: Callable[[float], None] | None = None,
    ) -> None:
        self._link, self._state, self._changed = link, state, changed
        self._site, self._answerer = site, answerer
        self._selector = f"{SITE_LABEL}={site}"
        self._backoff = backoff or Backoff()
        self.on_listed = on_listed
        self._relist_asked = asyncio.Event()
        self.connected = asyncio.Event()

    def request_relist(self) -> None:
        """List again now (or once the hub is reached), then follow from that list."""
        self._relist_asked.set()

    async def run(self) -> None:
        try:
            await self._run()
        finally:
            if self._answerer is not None:
                await self._answerer.close()

    async def _run(self) -> None:
        while True:
            try:
                await self._follow_until_asked()
            except Gone:
                log.info("watch history expired; listing assignments again")
                self._state.forget_resource_version()
                continue
            except (HubUnreachable, HubRefused) as e:
                self.connected.clear()
                delay = self._backoff.next()
                log.warning("assignment sync: %s; retrying in %.1f s", e, delay)
                await asyncio.sleep(delay)
            except Exception:  # an answer of the wrong shape must not end the agent
                self.connected.clear()
                delay = self._backoff.next()
                log.exception("assignment sync failed; retrying in %.1f s", delay)
                await asyncio.sleep(delay)

    async def _follow_until_asked(self) -> None:
        """Follow until a relist is asked; then forget the version, to list again."""
        if self._relist_asked.is_set():
            self._relist_asked.clear()
            self._state.forget_resource_version()
        follow = asyncio.create_task(self._follow(), name="follow")
        asked = asyncio.create_task(self._relist_asked.wait(), name="relist-asked")
        try:
            await asyncio.wait([follow, asked], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (follow, asked):
                task.cancel()
            await asyncio.wait([follow, asked])
        if not follow.cancelled():
            follow.result()  # what ended it, raised as before

    async def _follow(self) -> None:
        rv = self._state.resource_version() or await self.relist()
        self.connected.set()
        if self._answerer is None:
            await self._watch(rv)
        else:
            await self._stream_or_watch(rv, self._answerer)
        # The hub ended the stream (it is shutting down): reconnect, gently.
        await asyncio.sleep(self._backoff.next())

    async def _watch(self, rv: str) -> None:
        async for event in self._link.watch("assignments", rv, self._selector):
            self._apply(event)

    async def _stream_or_watch(self, rv: str, answerer: Answerer) -> None:
        try:
            async for event in self._link.stream(self._site, rv):
                if event.get("type") == "REQUEST":
                    answerer.handle(event.get("request"))
                else:
                    self._apply(event)
        except HubRefused as e:
            if not no_stream_route(e):
                raise
            log.info("the hub has no site stream (%s): watching and polling instead", e)
            await self._watch_and_poll(rv, answerer)

    async def _watch_and_poll(self, rv: str, answerer: Answerer) -> None:
        poll = asyncio.create_task(answerer.poll(), name="requests")
        try:
            await self._watch(rv)
        finally:
            poll.cancel()
            await asyncio.wait([poll])

    def _apply(self, event: dict[str, Any]) -> None:
        self._backoff.reset()
        if event.get("type") not in FOLLOWED:
            return  # a line of a newer hub's stream this agent does not know
        self._state.apply_event(event["type"], event["object"])
        if event["type"] != "BOOKMARK":
            self._changed.set()

    async def relist(self) -> str:
        began, items, token, rv = time.monotonic(), [], None, None
        self._relist_asked.clear()  # this list is the one asked for
        while True:
            params = {"labelSelector": self._selector, "limit": str(PAGE)}
            if token:
                params["continue"] = token
            page = await self._link.call("GET", f"{API}/assignments", params=params)
            items += page["items"]
            rv = rv or page["metadata"]["resourceVersion"]
            if not (token := page["metadata"].get("continue")):
                break
        self._state.replace_assignments(items, rv)
        self._changed.set()
        log.info("listed %d assignment(s) at resourceVersion %s", len(items), rv)
        if self.on_listed is not None:
            self.on_listed(began)
        return str(rv)
