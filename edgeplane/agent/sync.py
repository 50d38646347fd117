"""Keeping the local copy of this site's assignments in step with the hub.

List once, then watch from the list's resourceVersion; the version of every event
(and bookmark) is stored, so a restarted agent resumes where it stopped. A 410 means
the hub no longer holds that history: list again. Failures back off with jitter.
"""

from __future__ import annotations

import asyncio
import logging

from edgeplane.agent.backoff import Backoff
from edgeplane.agent.errors import Gone, HubRefused, HubUnreachable
from edgeplane.agent.hublink import API, HubLink
from edgeplane.agent.state import LocalState
from edgeplane.api.wellknown import SITE_LABEL

log = logging.getLogger("edgeplane.agent.sync")
PAGE = 500


class AssignmentSync:
    def __init__(
        self,
        link: HubLink,
        state: LocalState,
        site: str,
        changed: asyncio.Event,
        backoff: Backoff | None = None,
    ) -> None:
        self._link, self._state, self._changed = link, state, changed
        self._selector = f"{SITE_LABEL}={site}"
        self._backoff = backoff or Backoff()
        self.connected = asyncio.Event()

    async def run(self) -> None:
        while True:
            try:
                await self._follow()
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

    async def _follow(self) -> None:
        rv = self._state.resource_version() or await self.relist()
        self.connected.set()
        async for event in self._link.watch("assignments", rv, self._selector):
            self._backoff.reset()
            self._state.apply_event(event["type"], event["object"])
            if event["type"] != "BOOKMARK":
                self._changed.set()
        # The hub ended the stream (it is shutting down): reconnect, gently.
        await asyncio.sleep(self._backoff.next())

    async def relist(self) -> str:
        items, token, rv = [], None, None
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
        return str(rv)
