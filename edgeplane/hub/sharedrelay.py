"""Relay requests across the hubs sharing one database.

A hub's relay queues (``hub.relay``) live in its memory, and a site's agent polls (or
streams from) one hub. With several hubs, a request asked of hub A for a site whose
agent is connected to hub B goes through the store (``Store.put_relay_request``):

* the asker queues it in its own memory **and** in the store at once, and takes the
  first answer (the agent may be connected to either, or be between two long polls);
* every hub scans the store for requests asked of other hubs, takes (atomically, so
  one hub does) those for sites whose agents are connected to it now, relays them
  through its own queue, and writes the answer back; the asker polls for it and
  deletes the row.

Bounded: a scan reads at most ``SCAN_LIMIT`` requests, a hub relays at most
``MAX_RELAYING`` of other hubs' requests at once, and each wait is the relay's own
``ANSWER_SECONDS``. One hub (SQLite) has none of this: the server does not start it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from typing import Any

from edgeplane.hub.controllers.pacing import pause
from edgeplane.hub.relay import (
    ANSWER_SECONDS,
    Relay,
    ShuttingDown,
    SiteUnreachable,
    TooManyPending,
)
from edgeplane.store.protocol import RelayAnswer, RelayRequest, Store

log = logging.getLogger("edgeplane.hub.sharedrelay")
SCAN_SECONDS = 0.5
ANSWER_POLL_SECONDS = 0.2
SCAN_LIMIT = 64
MAX_RELAYING = 64
Answer = tuple[str, str | None]


class SharedRelay:
    """This hub's end of the relay queue shared through the store (``app.state.shared_relay``)."""

    def __init__(self, relay: Relay, store: Store, hub_id: str) -> None:
        self.relay, self.store, self.hub_id = relay, store, hub_id
        self._relaying: set[asyncio.Task[None]] = set()

    async def ask(
        self, site: str, request: dict[str, Any], wait_seconds: float, shutdown: asyncio.Event
    ) -> Answer:
        """As ``Relay.ask``, answered through whichever hub the site's agent is connected to."""
        here = asyncio.create_task(self.relay.ask(site, request, wait_seconds, shutdown))
        there = asyncio.create_task(self._ask_others(site, request, wait_seconds, shutdown))
        try:
            return await _first_answer(here, there)
        finally:
            for task in (here, there):
                task.cancel()
            await asyncio.gather(here, there, return_exceptions=True)

    async def _ask_others(
        self, site: str, request: dict[str, Any], wait_seconds: float, shutdown: asyncio.Event
    ) -> Answer:
        request_id = secrets.token_hex(8)
        body = json.dumps(request, separators=(",", ":"))
        await self.store.put_relay_request(RelayRequest(request_id, site, body), self.hub_id)
        try:
            async with asyncio.timeout(wait_seconds):
                while not shutdown.is_set():
                    if (answer := await self.store.relay_answer(request_id)) is not None:
                        return answer.text, answer.error
                    await pause(shutdown, ANSWER_POLL_SECONDS)
        except TimeoutError:
            raise SiteUnreachable(site) from None
        finally:
            with contextlib.suppress(Exception):  # it is deleted with a later put anyway
                await self.store.delete_relay_request(request_id)
        raise ShuttingDown(site)

    async def serve(self, stop: asyncio.Event) -> None:
        """Until ``stop``: relay other hubs' requests for the sites connected here."""
        try:
            while not stop.is_set():
                await self._scan(stop)
                await pause(stop, SCAN_SECONDS)
        finally:
            for task in self._relaying:
                task.cancel()
            await asyncio.gather(*self._relaying, return_exceptions=True)

    async def _scan(self, stop: asyncio.Event) -> None:
        try:
            offered = await self.store.pending_relay_requests(self.hub_id, SCAN_LIMIT)
        except Exception as e:  # the store blinked: scan again later
            log.warning("reading relay requests of other hubs failed: %r", e)
            return
        for request in offered:
            if len(self._relaying) >= MAX_RELAYING:
                return
            if self.relay.connected(request.site) and await self._take(request):
                task = asyncio.create_task(self._relay_one(request, stop))
                self._relaying.add(task)
                task.add_done_callback(self._relaying.discard)

    async def _take(self, request: RelayRequest) -> bool:
        try:
            return await self.store.take_relay_request(request.request_id, self.hub_id)
        except Exception as e:
            log.warning("taking relay request %s failed: %r", request.request_id, e)
            return False

    async def _relay_one(self, offered: RelayRequest, stop: asyncio.Event) -> None:
        request = _parsed(offered.body)
        if request is None:
            log.warning("relay request %s is not a JSON object; dropped", offered.request_id)
            return
        try:
            text, error = await self.relay.ask(offered.site, request, ANSWER_SECONDS, stop)
        except (SiteUnreachable, TooManyPending, ShuttingDown):
            return  # the asker's own wait ends it
        try:
            await self.store.answer_relay_request(offered.request_id, RelayAnswer(text, error))
        except Exception as e:
            log.warning("answering relay request %s failed: %r", offered.request_id, e)


async def _first_answer(here: asyncio.Task[Answer], there: asyncio.Task[Answer]) -> Answer:
    """The first answer of the two; when both fail, this hub's own error (as one hub
    answers); a full queue here is refused at once, as one hub refuses it."""
    done, _ = await asyncio.wait({here, there}, return_when=asyncio.FIRST_COMPLETED)
    first = here if here in done else there
    if first.exception() is None or isinstance(first.exception(), TooManyPending):
        return first.result()
    other = there if first is here else here
    await asyncio.wait({other})
    return other.result() if other.exception() is None else here.result()


def _parsed(body: str) -> dict[str, Any] | None:
    try:
        request = json.loads(body)
    except ValueError:
        return None
    return request if isinstance(request, dict) else None
