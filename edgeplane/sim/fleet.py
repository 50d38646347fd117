"""A fleet of simulated sites in one process: joining, heartbeats, status, and counts.

``SimFleet(SimOptions(...))``: ``await join(n)`` grows it to n sites (bounded
concurrency, each site joining from its own source address, then, with ``locations``,
given its place from ``sim.places``), ``run()`` lasts until
``stop()``, ``stats()`` closes one report period. Heartbeats are open loop: each site
has a random phase in the period, and one scheduler starts each beat when it is due,
whether or not earlier ones were answered (at most ``MAX_IN_FLIGHT`` at once; a beat
over that is counted as an error, not queued). Status writes go through one deduplicated
queue served by ``REPORTERS`` tasks, so a burst of changes costs bounded concurrency.
Neighbours: ``sim.site`` (one site), ``sim.hubcalls`` (the calls), ``sim.command``.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import random
import time
from collections.abc import Iterable
from typing import Any

from edgeplane import __version__
from edgeplane.sim.hubcalls import HubCalls, HubError
from edgeplane.sim.options import SimOptions
from edgeplane.sim.places import site_patch
from edgeplane.sim.site import SimSite
from edgeplane.sim.stats import Histogram, SimStats, cpu_seconds, now, rss_mb
from edgeplane.sim.workloads import Behaviour, SiteWork, merge_diff

log = logging.getLogger("edgeplane.sim.fleet")
SHOWN_ERRORS = 5
"""Failed heartbeats logged per report period (the rest are counted)."""
MAX_IN_FLIGHT = 20_000
REPORTERS = 32
JOIN_ATTEMPTS = 6
LOGGED_JOIN_ERRORS = 10
"""Join failures logged one by one; the rest are counted (``join_errors``)."""
RETRY_SECONDS = 2.0
LOCATE_RETRIED = {0, 409, 429, 503}
"""A location patch refused for these is sent again (409: a status write came between
the hub's read and write of the Site)."""
SKIPPED = {400, 404, 413, 422}
"""Status refusals about the write itself: retrying would be refused again. A 409 (the
hub wrote the object meanwhile) is retried soon, anything else after RETRY_SECONDS."""
CONFLICT_RETRY_SECONDS = 0.2


class SimFleet:
    def __init__(self, options: SimOptions) -> None:
        self.options = options
        self.hub = HubCalls(options)
        self.sites: dict[str, SimSite] = {}
        self.target = 0
        self.join_errors = self.status_sent = self.status_errors = 0
        self.located = self.locate_errors = 0
        self._behaviour = Behaviour(
            options.start_delay, options.crash_rate, options.cpu_millis, options.memory_bytes
        )
        self._latency = Histogram()
        self._hb_sent = self._hb_errors = 0
        self._beats: list[tuple[float, str]] = []
        self._in_flight: set[asyncio.Task[None]] = set()
        self._queue: asyncio.Queue[tuple[SimSite, str | None]] = asyncio.Queue()
        self._queued: set[tuple[str, str | None]] = set()
        self._sending: set[tuple[str, str | None]] = set()
        """Statuses on their way: one at a time each, as a patch is the difference from
        what the hub acknowledged (two at once raced: a Running patch computed before
        the Starting one was answered left out the phase, and the late Starting one
        stuck at the hub)."""
        self._again: set[tuple[str, str | None]] = set()
        self._facts_sent: dict[str, dict[str, Any]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._wake = asyncio.Event()
        self._stopped = asyncio.Event()

    # -- life ------------------------------------------------------------------------
    def _start(self) -> None:
        if not self._tasks:
            self._tasks.append(asyncio.create_task(self._beat_loop()))
            self._tasks += [asyncio.create_task(self._report_loop()) for _ in range(REPORTERS)]

    async def run(self) -> None:
        """Keep every site going until ``stop()``."""
        self._start()
        await self._stopped.wait()

    async def stop(self) -> None:
        tasks = [*self._tasks, *self._in_flight]
        for site in self.sites.values():
            tasks += site.tasks
            site.stop()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        self.hub.close()
        self._stopped.set()

    async def halt(self, names: Iterable[str]) -> None:
        """Stop these sites as a power cut would: no more heartbeats, streams or status."""
        tasks: list[asyncio.Task[None]] = []
        for name in names:
            site = self.sites[name]
            site.halted = True
            tasks += site.tasks
            site.stop()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- joining ---------------------------------------------------------------------
    async def join(self, n: int) -> None:
        """Grow the fleet to ``n`` sites (it never shrinks); returns when each new site
        has joined or given up (counted in ``join_errors``)."""
        self._start()
        first, self.target = self.target, max(self.target, n)
        gate = asyncio.Semaphore(self.options.join_concurrency)

        async def one(index: int) -> None:
            async with gate:
                await self._join_one(index)

        await asyncio.gather(*(one(i) for i in range(first, self.target)))

    async def _join_one(self, index: int) -> None:
        name, address = self.options.site_name(index), self.options.source_address(index)
        for attempt in range(JOIN_ATTEMPTS):
            try:
                token = await self.hub.join(address, name, self._inventory(name))
            except HubError as e:
                if e.status in (0, 429, 503) and attempt + 1 < JOIN_ATTEMPTS:
                    await asyncio.sleep(random.uniform(0.5, 2.0) * 2**attempt)
                    continue
                self.join_errors += 1
                last = self.join_errors == LOGGED_JOIN_ERRORS
                if self.join_errors <= LOGGED_JOIN_ERRORS:
                    more = " (further ones are only counted)" if last else ""
                    log.warning("%s did not join: %s%s", name, e, more)
                return
            if self.options.locations:
                await self._locate(index, name)
            self._add(index, name, address, token)
            return

    async def _locate(self, index: int, name: str) -> None:
        """Set a joined site's ``spec.location`` and ``region`` label (``sim.places``), as
        an operator would; a failure is logged and counted, the site runs anyway."""
        patch = site_patch(index)
        for attempt in range(JOIN_ATTEMPTS):
            try:
                await self.hub.locate(name, patch)
            except HubError as e:
                if e.status in LOCATE_RETRIED and attempt + 1 < JOIN_ATTEMPTS:
                    base = 0.05 if e.status == 409 else 0.5
                    await asyncio.sleep(random.uniform(base, 4 * base) * 2**attempt)
                    continue
                self.locate_errors += 1
                if self.locate_errors <= LOGGED_JOIN_ERRORS:
                    log.warning("%s: its location was not set: %s", name, e)
                return
            self.located += 1
            return

    def _add(self, index: int, name: str, address: str, token: str) -> None:
        work = SiteWork(self._behaviour, lambda assignment: self._changed(site, assignment))
        site = self.sites[name] = SimSite(index, name, address, token, work)
        site.tasks.append(asyncio.create_task(site.follow(self.hub)))
        self._enqueue(site, None)
        due = asyncio.get_running_loop().time() + random.uniform(0, self.options.heartbeat_seconds)
        heapq.heappush(self._beats, (due, name))
        self._wake.set()

    def _inventory(self, name: str) -> dict[str, Any]:
        return {
            "arch": "x86_64",
            "os": "Linux (simulated)",
            "cpus": max(1, self.options.cpu_millis // 1000),
            "memory": self.options.memory,
            "hostname": name,
            "runtime": "process",
            "runtimes": ["process"],
        }

    # -- heartbeats ------------------------------------------------------------------
    async def _beat_loop(self) -> None:
        loop, period = asyncio.get_running_loop(), self.options.heartbeat_seconds
        while True:
            moment = loop.time()
            while self._beats and self._beats[0][0] <= moment:
                due, name = heapq.heappop(self._beats)
                site = self.sites.get(name)
                if site is None or site.halted:
                    continue
                # Open loop, but a stalled loop does not fire a backlog in one burst.
                heapq.heappush(self._beats, (max(due + period, moment), name))
                self._fire(site)
            self._wake.clear()
            delay = self._beats[0][0] - moment if self._beats else period
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._wake.wait()

    def _fire(self, site: SimSite) -> None:
        self._hb_sent += 1
        if len(self._in_flight) >= MAX_IN_FLIGHT:
            self._hb_errors += 1
            return
        task = asyncio.create_task(self._beat(site))
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)

    async def _beat(self, site: SimSite) -> None:
        sent = time.perf_counter()
        try:
            phase, rotate = await self.hub.heartbeat(site.address, site.name, site.token)
        except HubError as e:
            self._hb_errors += 1
            # The first few of a period say why (a benchmark fails a step on any).
            log_at = logging.WARNING if self._hb_errors <= SHOWN_ERRORS else logging.DEBUG
            log.log(log_at, "%s: heartbeat failed: %s", site.name, e)
            return
        self._latency.add((time.perf_counter() - sent) * 1000)
        if phase != "Online":  # the hub thinks we were away: say we are back
            self._facts_sent.pop(site.name, None)
            self._enqueue(site, None)
        if rotate:
            await self._rotate(site)

    async def _rotate(self, site: SimSite) -> None:
        try:
            if token := await self.hub.rotate(site.address, site.name, site.token):
                site.token = token
        except HubError as e:
            log.warning("%s: credential rotation failed, retrying later: %s", site.name, e)

    # -- status ----------------------------------------------------------------------
    def _changed(self, site: SimSite, assignment: str) -> None:
        self._enqueue(site, assignment)
        self._enqueue(site, None)  # the site's workload counts

    def _enqueue(self, site: SimSite, assignment: str | None) -> None:
        key = (site.name, assignment)
        if key not in self._queued and not site.halted:
            self._queued.add(key)
            self._queue.put_nowait((site, assignment))

    async def _report_loop(self) -> None:
        while True:
            site, assignment = await self._queue.get()
            key = (site.name, assignment)
            self._queued.discard(key)
            if site.halted:
                continue
            if key in self._sending:
                self._again.add(key)  # sent again once the one on its way is answered
                continue
            self._sending.add(key)
            try:
                await self._report(site, assignment)
            except HubError as e:
                log.debug("%s: status of %s: %s", site.name, assignment or "the site", e)
                if e.status not in SKIPPED:
                    self.status_errors += 1
                    delay = CONFLICT_RETRY_SECONDS if e.status == 409 else RETRY_SECONDS
                    asyncio.get_running_loop().call_later(
                        delay * random.uniform(0.5, 1.5), self._enqueue, site, assignment
                    )
            finally:
                self._sending.discard(key)
                if key in self._again:
                    self._again.discard(key)
                    self._enqueue(site, assignment)

    async def _report(self, site: SimSite, assignment: str | None) -> None:
        if assignment is not None:
            if patch := site.work.patch(assignment):
                await self.hub.assignment_status(site.address, site.token, assignment, patch)
                site.work.sent(assignment, patch)
                self.status_sent += 1
            return
        facts = self._facts(site)
        sent = self._facts_sent.get(site.name, {})
        if patch := merge_diff({k: sent.get(k) for k in facts}, facts):
            await self.hub.site_status(site.address, site.name, site.token, {"status": patch})
            self._facts_sent[site.name] = facts
            self.status_sent += 1

    def _facts(self, site: SimSite) -> dict[str, Any]:
        assigned, running = site.work.counts()
        return {
            "phase": "Online",
            "agentVersion": f"{__version__}-sim",
            "address": site.address,
            "inventory": self._inventory(site.name),
            "capacity": {"cpu": self.options.cpu, "memory": self.options.memory},
            "allocatable": {
                "cpu": f"{site.work.cpu_free}m",
                "memory": f"{site.work.memory_free // 1024}Ki",
            },
            "workloads": {"assigned": assigned, "running": running, "ready": running},
        }

    # -- counting --------------------------------------------------------------------
    def stats(self) -> SimStats:
        """The counts of the period since the last call (heartbeats) and of now."""
        live = [s for s in self.sites.values() if not s.halted]
        counts = [s.work.counts() for s in live]
        stats = SimStats(
            t=now(),
            sites=self.target,
            joined=len(self.sites),
            connected=sum(1 for s in live if s.connected),
            hb_sent=self._hb_sent,
            hb_errors=self._hb_errors,
            hb_p50_ms=self._latency.percentile(50),
            hb_p99_ms=self._latency.percentile(99),
            assignments=sum(c[0] for c in counts),
            running=sum(c[1] for c in counts),
            cpu_seconds=cpu_seconds(),
            rss_mb=rss_mb(),
            protocol=self.hub.protocol,
            join_errors=self.join_errors,
            status_sent=self.status_sent,
            status_errors=self.status_errors,
            requests_answered=sum(s.requests_answered for s in self.sites.values()),
            located=self.located,
            locate_errors=self.locate_errors,
        )
        self._latency.reset()
        self._hb_sent = self._hb_errors = 0
        return stats
