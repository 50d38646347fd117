"""Edge aggregation at the agent: the streams with ``spec.aggregation`` send summaries.

A record published to such a stream is spooled ``held`` (on disk before the publisher
hears 201, like any record, but not sent) and fed to the stream's ``Aggregator``
(``dataplane.aggregation``); a raw record past the stream's threshold is spooled to be
sent at once, in the same transaction. Every ``FLUSH_SECONDS`` the windows that ended
are flushed: their summaries are spooled and the held records they sum up are
forgotten, in one transaction (``Spool.release``), so a crash loses neither. After a
restart the held records are summed again (their raw passes were spooled already).

A stream whose aggregation or priority changed is flushed whole under its old terms
first; a refused publish (no room), or summaries that found no room, rebuild the
stream's aggregator from what is held, so a summary never counts a record the
publisher was told was refused, nor misses one that was taken. One lock orders the
publishes, flushes, rebuilds and syncs of aggregated streams.

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
RETRY_SECONDS = 10.0
"""How long a stream whose summaries found no room waits before it tries again (its held
records are summed again each time: not every second)."""
Blocking = Callable[..., Awaitable[Any]]


class Summaries:
    def __init__(self, spool: Spool, blocking: Blocking, published: Callable[[], None]) -> None:
        self.spool, self.blocking, self.published = spool, blocking, published
        self._streams: dict[str, tuple[str, int, Aggregator]] = {}
        """Stream -> (its aggregation as JSON, its priority, its aggregator)."""
        self.lock = asyncio.Lock()
        """Held by whoever changes what the aggregators hold, from adding to spooling: a
        publish, a flush, a rebuild, a sync (summing a record twice, or never, otherwise)."""
        self._retry_at: dict[str, float] = {}

    def aggregated(self, stream: str) -> bool:
        return stream in self._streams

    async def sync(self, wanted: Mapping[str, tuple[Mapping[str, Any] | None, int]]) -> None:
        """Aggregate exactly the streams of ``wanted`` (name -> (aggregation, priority))
        that have an aggregation; a stream dropped or changed (its aggregation or its
        priority) is flushed whole first."""
        async with self.lock:
            for name in list(self._streams):
                spec, priority = wanted.get(name, (None, 0))
                text, old_priority, aggregator = self._streams[name]
                if (_text(spec), priority) != (text, old_priority):
                    await self._flush(name, math.inf, aggregator.flush_all(), old_priority)
                    self._streams.pop(name, None)
            for name, (spec, priority) in wanted.items():
                if spec is not None and name not in self._streams:
                    await self._start(name, spec, priority)

    def entries(
        self, stream: str, bodies: Sequence[bytes], now: float, max_bytes: int | None
    ) -> tuple[list[Entry], int] | str:
        """The entries to spool for ``bodies`` (held, and raw passes) and how many of the
        records the aggregation skipped, or what is wrong. Call it holding ``lock``,
        with the spooling of what it returns (or ``rebuild`` when that fails)."""
        _, priority, aggregator = self._streams[stream]
        records = []
        for i, body in enumerate(bodies):
            try:
                record = json.loads(body)
            except (ValueError, RecursionError):
                record = None
            if not isinstance(record, dict):
                return f"record {i + 1} is not a JSON object: an aggregated stream sums fields"
            records.append(record)
        entries = [Entry(stream, priority, now, b, max_bytes, held=True) for b in bodies]
        skipped = sum(aggregator.skipped.values())
        try:
            for record in records:
                for out in aggregator.add(record, now):
                    entries.append(Entry(stream, priority, out.at, _body(out), max_bytes))
        except (ValueError, RecursionError, TypeError) as e:  # a raw pass JSON cannot hold
            return f"a record cannot be sent as JSON: {str(e)[:200]}"
        return entries, sum(aggregator.skipped.values()) - skipped

    async def rebuild(self, stream: str) -> None:
        """Sum the held records up again (what the aggregator holds is not what was
        spooled: a publish refused after it was added, a flush not spooled). Holding
        ``lock``."""
        if (found := self._streams.pop(stream, None)) is not None:
            spec, priority, _ = found
            await self._start(stream, json.loads(spec), priority)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            async with self.lock:
                now = time.time()
                for name in list(self._streams):
                    if self._retry_at.get(name, 0.0) <= now:
                        await self._flush_ended(name, now)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(FLUSH_SECONDS):
                    await stop.wait()

    async def _flush_ended(self, name: str, now: float) -> None:
        spec, priority, aggregator = self._streams[name]
        window = float(json.loads(spec)["windowSeconds"])
        try:
            await self._flush(
                name, math.floor(now / window) * window, aggregator.flush(now), priority
            )
        except Exception as e:  # no room for the summaries, or anything: sum again later
            log.warning("stream %s: summaries not spooled, trying again: %s", name, e)
            self._retry_at[name] = now + RETRY_SECONDS
            await self.rebuild(name)

    async def _start(self, name: str, spec: Mapping[str, Any], priority: int) -> None:
        try:
            aggregator = Aggregator(parse_aggregation(spec))
        except ValueError as e:  # the hub checked it: an older agent may not know a field
            log.error("stream %s: aggregation not understood, sent raw: %s", name, e)
            return
        for row in await self.blocking(self.spool.held, name):
            with contextlib.suppress(ValueError, RecursionError):
                record = json.loads(row.body)
                if isinstance(record, dict):
                    aggregator.add(record, row.at)  # its raw pass was spooled back then
        self._streams[name] = (_text(spec), priority, aggregator)

    async def _flush(self, name: str, before: float, outputs: list[Output], priority: int) -> None:
        entries = [Entry(name, priority, out.at, _body(out)) for out in outputs]
        await self.blocking(self.spool.release, name, before, entries)
        if entries:
            self.published()


def _text(spec: Mapping[str, Any] | None) -> str:
    return "" if spec is None else json.dumps(spec, sort_keys=True, separators=(",", ":"))


def _body(out: Output) -> bytes:
    return json.dumps(out.body, separators=(",", ":"), allow_nan=False).encode()
