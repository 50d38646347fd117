"""Edge aggregation at the agent: the streams with ``spec.aggregation`` send summaries.

A record published to such a stream is spooled ``held`` (on disk before the publisher
hears 201, like any record, but not sent) and fed to the stream's ``Aggregator``
(``dataplane.aggregation``); a raw record past the stream's threshold is spooled to be
sent at once, in the same transaction. Every ``FLUSH_SECONDS`` the windows that ended
are flushed: their summaries are spooled and the held records they sum up are
forgotten, in one transaction (``Spool.release``), so a crash loses neither. After a
restart the held records are summed again (their raw passes were spooled already).

A stream whose aggregation changed is flushed whole under its old terms first; a
refused publish (no room) rebuilds the stream's aggregator from what is held, so a
summary never counts a record the publisher was told was refused.

Neighbours: ``agent.data`` (publishing), ``dataplane.spool``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from edgeplane.dataplane.aggregation import Aggregator, Output, parse_aggregation
from edgeplane.dataplane.spool import Entry, Spool

log = logging.getLogger("edgeplane.agent.summing")
FLUSH_SECONDS = 1.0
Blocking = Callable[..., Awaitable[Any]]


class Summaries:
    def __init__(self, spool: Spool, blocking: Blocking, published: Callable[[], None]) -> None:
        self.spool, self.blocking, self.published = spool, blocking, published
        self._streams: dict[str, tuple[str, int, Aggregator]] = {}
        """Stream -> (its aggregation as JSON, its priority, its aggregator)."""

    def aggregated(self, stream: str) -> bool:
        return stream in self._streams

    async def sync(self, wanted: Mapping[str, tuple[Mapping[str, Any] | None, int]]) -> None:
        """Aggregate exactly the streams of ``wanted`` (name -> (aggregation, priority))
        that have an aggregation; a stream dropped or changed is flushed whole first."""
        for name in list(self._streams):
            spec, priority = wanted.get(name, (None, 0))
            if _text(spec) != self._streams[name][0]:
                _, old_priority, aggregator = self._streams.pop(name)
                await self._release(name, math.inf, aggregator.flush_all(), old_priority)
        for name, (spec, priority) in wanted.items():
            if spec is not None and name not in self._streams:
                await self._start(name, spec, priority)

    def entries(
        self, stream: str, bodies: Sequence[bytes], now: float, max_bytes: int | None
    ) -> list[Entry] | str:
        """The entries to spool for ``bodies`` (held, and raw passes), or what is wrong."""
        _, priority, aggregator = self._streams[stream]
        records = []
        for i, body in enumerate(bodies):
            try:
                record = json.loads(body)
            except ValueError:
                record = None
            if not isinstance(record, dict):
                return f"record {i + 1} is not a JSON object: an aggregated stream sums fields"
            records.append(record)
        entries = [Entry(stream, priority, now, b, max_bytes, held=True) for b in bodies]
        for record in records:
            for out in aggregator.add(record, now):
                entries.append(Entry(stream, priority, out.at, _body(out), max_bytes))
        return entries

    async def rebuild(self, stream: str) -> None:
        """Sum the held records up again (a publish was refused after it was added)."""
        spec, priority, _ = self._streams.pop(stream)
        await self._start(stream, json.loads(spec), priority)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            now = time.time()
            for name, (spec, priority, aggregator) in list(self._streams.items()):
                window = float(json.loads(spec)["windowSeconds"])
                until = math.floor(now / window) * window
                await self._release(name, until, aggregator.flush(now), priority)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(FLUSH_SECONDS):
                    await stop.wait()

    async def _start(self, name: str, spec: Mapping[str, Any], priority: int) -> None:
        try:
            aggregator = Aggregator(parse_aggregation(spec))
        except ValueError as e:  # the hub checked it: an older agent may not know a field
            log.error("stream %s: aggregation not understood, sent raw: %s", name, e)
            return
        for row in await self.blocking(self.spool.held, name):
            with contextlib.suppress(ValueError):
                record = json.loads(row.body)
                if isinstance(record, dict):
                    aggregator.add(record, row.at)  # its raw pass was spooled back then
        self._streams[name] = (_text(spec), priority, aggregator)

    async def _release(
        self, name: str, before: float, outputs: list[Output], priority: int
    ) -> None:
        entries = [Entry(name, priority, out.at, _body(out)) for out in outputs]
        await self.blocking(self.spool.release, name, before, entries)
        if entries:
            self.published()


def _text(spec: Mapping[str, Any] | None) -> str:
    return "" if spec is None else json.dumps(spec, sort_keys=True, separators=(",", ":"))


def _body(out: Output) -> bytes:
    return json.dumps(out.body, separators=(",", ":"), allow_nan=False).encode()
