"""Which of the simulator's sites the hub holds Offline, seen by an admin watch.

A site the simulator keeps heartbeating is never rightly Offline, so any Offline one is
a false mark. ``OfflineWatch`` lists the sites of a label selector once, then follows
their watch (only changes of phase are events on a hub with leases, so this costs the
hub little while it holds); between ``begin()`` and ``end()`` it collects every site
seen Offline, and ``end()`` adds the Offline ones of a final paged LIST, taken after the
measured hold so that the LIST does not load the hold.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import httpx

API = "/api/v1alpha1"
PAGE = 1000


def phase_of(site: dict[str, Any]) -> str | None:
    return (site.get("status") or {}).get("phase")


async def list_all(client: httpx.AsyncClient, path: str, selector: str) -> tuple[list[Any], str]:
    """Every item of a paged LIST and the list's resourceVersion."""
    items: list[Any] = []
    params: dict[str, Any] = {"labelSelector": selector, "limit": PAGE}
    while True:
        answer = await client.get(f"{API}{path}", params=params, timeout=120)
        answer.raise_for_status()
        page = answer.json()
        items += page["items"]
        if not (token := page["metadata"].get("continue")):
            return items, str(page["metadata"]["resourceVersion"])
        params["continue"] = token


class OfflineWatch:
    def __init__(self, client: httpx.AsyncClient, selector: str) -> None:
        self.client, self.selector = client, selector
        self.phases: dict[str, str | None] = {}
        self.seen: set[str] | None = None
        self.events = 0

    async def run(self) -> None:
        while True:
            with contextlib.suppress(httpx.HTTPError):
                items, version = await list_all(self.client, "/sites", self.selector)
                for site in items:
                    self._note(site)
                await self._follow(version)
            await asyncio.sleep(1.0)  # a hub that keeps failing is not hammered

    async def _follow(self, version: str) -> None:
        params = {"watch": "true", "resourceVersion": version, "labelSelector": self.selector}
        async with self.client.stream("GET", f"{API}/sites", params=params, timeout=None) as r:
            r.raise_for_status()
            async for line in r.aiter_lines():
                event = json.loads(line) if line.strip() else {}
                if event.get("type") == "ERROR":
                    return  # Gone: list again
                if event.get("type") in ("ADDED", "MODIFIED"):
                    self.events += 1
                    self._note(event["object"])

    def _note(self, site: dict[str, Any]) -> None:
        name, phase = site["metadata"]["name"], phase_of(site)
        self.phases[name] = phase
        if phase == "Offline" and self.seen is not None:
            self.seen.add(name)

    def begin(self) -> None:
        """Start collecting, with the sites Offline now."""
        self.seen = {name for name, phase in self.phases.items() if phase == "Offline"}

    async def end(self) -> set[str]:
        """Stop collecting: what was seen, plus the Offline sites of a LIST now."""
        seen, self.seen = self.seen or set(), None
        items, _ = await list_all(self.client, "/sites", self.selector)
        return seen | {s["metadata"]["name"] for s in items if phase_of(s) == "Offline"}


async def cancel(task: asyncio.Task[Any]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
        await task
