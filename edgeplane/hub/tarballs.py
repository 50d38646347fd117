"""The hub's check of an artifact upload while it arrives.

The rules are the shared ones of ``api.artifacts`` (the agent applies them again);
this module only feeds them. Chunks are gathered into batches and each batch is
inflated and parsed in a worker thread: a bomb costs CPU, and the event loop serves
every other request meanwhile. A refusal comes at the first member that breaks a rule
or a limit, before the rest of the body is read, and is a 422 naming the member, the
limit and the flag that raises it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from edgeplane.api.artifacts.errors import ArtifactRefused
from edgeplane.api.artifacts.limits import ArtifactLimits
from edgeplane.api.artifacts.scan import TarballScan
from edgeplane.hub.errors import ApiError

BATCH = 256 * 1024
"""Bytes gathered before a hop to the worker thread: fewer hops, still early refusals."""


def refused(error: ArtifactRefused) -> ApiError:
    return ApiError(422, "Invalid", error.explain("the hub's"), "body")


class UploadCheck:
    """Feed an upload's chunks in order, then ``finish``; ApiError 422 on a refusal."""

    def __init__(self, limits: ArtifactLimits) -> None:
        self._scan = TarballScan(limits)
        self._batch = bytearray()

    async def feed(self, chunk: bytes) -> None:
        self._batch += chunk
        if len(self._batch) >= BATCH:
            await self._flush()

    async def finish(self) -> None:
        await self._flush()
        await self._run(self._scan.finish)

    async def _flush(self) -> None:
        data = bytes(self._batch)
        self._batch.clear()
        await self._run(self._scan.check, data)

    async def _run(self, step: Callable[..., None], *args: bytes) -> None:
        try:
            await asyncio.to_thread(step, *args)
        except ArtifactRefused as e:
            raise refused(e) from e
