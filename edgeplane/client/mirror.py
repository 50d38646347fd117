"""A kind's objects kept in step with the hub: list, then watch from the list's
resourceVersion, listing again after ``410 Gone`` (the watch fell out of the hub's
event window) or a lost connection, with a growing pause between failures.

What to do with the objects is the caller's (``Listener``): ``edgeplane dns`` feeds an
endpoint table with them (``cli.traffic``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Protocol

from edgeplane.api.wire import Object
from edgeplane.client.errors import ClientError, HubUnreachable
from edgeplane.client.hub import AsyncHubClient

log = logging.getLogger("edgeplane.client.mirror")
PAGE = 500
RETRY_SECONDS = (0.5, 1.0, 2.0, 5.0)


class Listener(Protocol):
    def listed(self, plural: str, objects: Sequence[Object]) -> None:
        """Every object of the kind, after a (re)list: the ones missing are gone."""

    def changed(self, plural: str, obj: Object) -> None: ...

    def deleted(self, plural: str, name: str) -> None: ...


async def mirror(
    client: AsyncHubClient, plural: str, listener: Listener, stop: asyncio.Event
) -> None:
    """Keep ``listener`` told of ``plural`` until ``stop``; a refused token raises."""
    failures = 0
    while not stop.is_set():
        try:
            version = await _list(client, plural, listener)
            failures = 0
            await _watch(client, plural, version, listener)
        except ClientError as e:
            if e.unauthorized:
                raise
            if e.status != 410:
                log.warning("%s: %s", plural, e.message)
                failures += 1
        except HubUnreachable as e:
            log.warning("%s", e)
            failures += 1
        if failures:
            await asyncio.sleep(RETRY_SECONDS[min(failures, len(RETRY_SECONDS)) - 1])


async def _list(client: AsyncHubClient, plural: str, listener: Listener) -> str | None:
    page = await client.list(plural, limit=PAGE)
    items: list[Object] = list(page.get("items", []))
    version = page.get("metadata", {}).get("resourceVersion")
    while token := page.get("metadata", {}).get("continue"):
        page = await client.list(plural, limit=PAGE, continue_=str(token))
        items += page.get("items", [])
    listener.listed(plural, items)
    return version if isinstance(version, str) else None


async def _watch(
    client: AsyncHubClient, plural: str, version: str | None, listener: Listener
) -> None:
    async for event in client.watch(plural, version):
        kind, obj = event.get("type"), event.get("object") or {}
        if kind == "ERROR":
            return  # list again (410 Gone and its kin)
        name = obj.get("metadata", {}).get("name")
        if kind == "BOOKMARK" or not isinstance(name, str):
            continue
        if kind == "DELETED":
            listener.deleted(plural, name)
        else:
            listener.changed(plural, obj)
