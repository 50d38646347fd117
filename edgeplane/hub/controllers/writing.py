"""How the placement controller writes a pass's Assignments: many at once (at most
``IN_FLIGHT``), so the store can commit them together, instead of one after another;
and which writes were its own, so their events wake nothing.

Each write handles the store's expected answers itself (a Conflict or NotFound means
someone else changed the object: the event of that change brings another pass); any
other error ends the batch and fails the pass, as a single write did before.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TypeVar

from edgeplane.api.wire import Object
from edgeplane.hub.controllers.rendering import unchanged
from edgeplane.hub.informer import resource_version
from edgeplane.store.errors import AlreadyExists, Conflict, NotFound
from edgeplane.store.protocol import Store

log = logging.getLogger("edgeplane.hub.placement")
T = TypeVar("T")

IN_FLIGHT = 64
"""Writes of one pass under way at once."""


async def in_flight(jobs: Sequence[Callable[[], Awaitable[T]]], limit: int = IN_FLIGHT) -> list[T]:
    """Every job's result, in order, at most ``limit`` running at once; the first
    error of a job ends the others and is raised as itself."""
    results: list[T | None] = [None] * len(jobs)
    queue = iter(enumerate(jobs))

    async def worker() -> None:
        for i, job in queue:
            results[i] = await job()

    try:
        async with asyncio.TaskGroup() as group:
            for _ in range(min(limit, len(jobs))):
                group.create_task(worker())
    except BaseExceptionGroup as e:
        raise e.exceptions[0] from None
    return results  # type: ignore[return-value]  # every slot was filled


class Writer:
    """Creates, replaces and deletes Assignments, remembering its own writes."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.own: set[int] = set()
        """resourceVersions this controller wrote, until their events come back."""
        self.written = 0
        """The newest resourceVersion it wrote."""
        self.lost = False
        """A write lost a race (someone changed the object between the read and the
        write): placing again is due even if that change wakes nothing by itself (an
        agent's status write)."""

    def wrote(self, obj: Object) -> Object:
        version = resource_version(obj)
        self.own.add(version)
        self.written = max(self.written, version)
        return obj

    def seen_through(self, version: int) -> None:
        """Every event up to ``version`` came back (or never will, superseded): no
        need to remember own writes up to it."""
        self.own = {v for v in self.own if v > version}

    async def apply(
        self, desired: Mapping[str, Object], stored: Mapping[str, Object]
    ) -> dict[str, Object]:
        """Write the difference; every desired Assignment as stored after it (the one
        stored before when a write lost a race)."""
        fresh: dict[str, Object] = {}
        jobs: list[Callable[[], Awaitable[None]]] = []
        for name, obj in desired.items():
            old = stored.get(name)
            if old is not None and unchanged(obj, old):
                fresh[name] = old
            else:
                jobs.append(self._put(obj, old, fresh))
        jobs += [self._delete(name) for name in stored.keys() - desired.keys()]
        await in_flight(jobs)
        return fresh

    def _put(
        self, obj: Object, old: Object | None, fresh: dict[str, Object]
    ) -> Callable[[], Awaitable[None]]:
        name = obj["metadata"]["name"]

        async def put() -> None:
            try:
                if old is None:
                    fresh[name] = self.wrote(await self.store.create(obj))
                    log.info("assignment %s created", name)
                else:
                    version = old["metadata"]["resourceVersion"]
                    meta = obj["metadata"].copy()
                    meta["resourceVersion"] = version
                    fresh[name] = self.wrote(await self.store.replace({**obj, "metadata": meta}))
                    log.info("assignment %s updated", name)
            except (AlreadyExists, Conflict, NotFound):
                log.info("assignment %s changed meanwhile; the next pass sees it", name)
                self.lost = True
                if old is not None:
                    fresh[name] = old

        return put

    def _delete(self, name: str) -> Callable[[], Awaitable[None]]:
        async def delete() -> None:
            try:
                self.wrote(await self.store.delete("Assignment", name))
                log.info("assignment %s deleted", name)
            except NotFound:
                pass

        return delete

    async def status(self, app: Object, status: dict[str, object]) -> None:
        """Write an Application's status; a lost race is left to the next pass."""
        try:
            self.wrote(await self.store.replace_status({**app, "status": status}))
        except (Conflict, NotFound):
            self.lost = True  # changed meanwhile: placed again once the cache has it
        except Exception:  # one application's status must not stop the others'
            log.exception("status of Application %s not written", app["metadata"].get("name"))
