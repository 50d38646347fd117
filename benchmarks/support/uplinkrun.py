"""``benchmarks/uplink.py``'s runs: one site's uplink against a real hub, saturated by
bulk records while critical ones arrive; and aggregation's bytes on the wire.

A run (``uplink_run``) is one site. It joins the hub with a join token whose labels an
``EverySite`` application selects, so the placement controller makes its Assignment
and the site reaches both DataStreams; it says it is Online and heartbeats as an agent
would (an Assignment made by hand is deleted by the controller's next pass: it deletes
every Assignment it does not want). Then a real ``Spool`` and ``Uplink`` run in this
process, the uplink's ``send`` POSTing batches with the site's credential as the
agent's ``HubLink.post_bytes`` does, and every spool call going through one thread, as
in ``agent.data``. The publishers (``Load``) keep the spool saturated with bulk and add
a critical record every 100 ms; after the load, the uplink drains the critical records,
and what the hub stored is read back (``received`` is the hub's clock, the same host's).

The pure helpers are in ``uplinkfigures`` (tested in
``tests/unit/benchmarks/test_uplinkfigures.py``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import random
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from benchmarks.support.stats import percentile
from benchmarks.support.uplinkfigures import (
    bulk_body,
    json_bytes,
    latencies_ms,
    losses,
)
from edgeplane.dataplane import wire
from edgeplane.dataplane.spool import Entry, Spool
from edgeplane.dataplane.uplink import Uplink

API = "/api/v1alpha1"
MERGE_PATCH = {"Content-Type": "application/merge-patch+json"}
LABELS = {"bench": "uplink"}
APP = "uplink-feeder"
BULK, CRITICAL = "bulk", "alarms"
STREAMS = {BULK: "bulk", CRITICAL: "critical"}
"""DataStream name -> priority class."""
SATURATION_BYTES = 2_500_000
"""Spool bytes kept at least (bodies and the spool's 64 bytes a record): over 2 MB of bulk."""
TOP_UP_RECORDS = 100
"""Bulk records per append: one transaction, one fsync, as one NDJSON publish."""
CRITICAL_EVERY_S = 0.1
WARMUP_S = 2.0
DRAIN_S = 30.0
HEARTBEAT_S = 3.0
SPOOL_MAX_BYTES = 1 << 30
READ_PAGE = 1000


# -- one run against the hub ---------------------------------------------------------
@dataclass(frozen=True)
class Outcome:
    """One run: what the critical records waited, what the link carried, what got lost."""

    mode: str
    site: str
    latencies_ms: tuple[float, ...]
    critical: int
    undelivered: int
    utilisation: float
    window_bytes_per_s: float
    lost: int
    backlog: int
    bulk_appended: int
    bulk_stored: int
    min_spooled_bytes: int
    drain_s: float
    refused: dict[str, int] = field(default_factory=dict)
    first_refusal: str | None = None
    dropped: dict[str, int] = field(default_factory=dict)

    def p(self, q: float) -> float:
        return percentile(self.latencies_ms, q)


class SiteLink:
    """The site's side of the hub, with its credential. ``send`` is the uplink's: a batch
    POSTed as the agent's ``HubLink.post_bytes`` does; refusals counted by status."""

    def __init__(self, url: str, site: str, credential: str) -> None:
        self.site = site
        self.client = httpx.AsyncClient(
            base_url=url,
            headers={"Authorization": f"Bearer {credential}"},
            timeout=httpx.Timeout(15.0, connect=5.0),
        )
        self.refused: Counter[str] = Counter()
        self.dropped: Counter[str] = Counter()
        self.first_refusal: str | None = None

    async def send(self, payload: bytes) -> Sequence[int]:
        try:
            answer = await self.client.post(
                f"{API}/sites/{self.site}/data",
                content=payload,
                headers={"Content-Type": wire.CONTENT_TYPE},
            )
        except httpx.TransportError:
            self.refused["transport"] += 1
            raise
        if answer.status_code >= 400:
            self.refused[str(answer.status_code)] += 1
            self.first_refusal = self.first_refusal or f"{answer.status_code} {answer.text[:300]}"
            raise RuntimeError(f"hub answered {answer.status_code}: {answer.text[:300]}")
        body = answer.json()
        self.dropped.update(body.get("dropped") or {})
        return [s for s in body["acknowledged"] if isinstance(s, int)]

    async def online(self) -> None:
        answer = await self.client.patch(
            f"{API}/sites/{self.site}/status",
            json={"status": {"phase": "Online"}},
            headers=MERGE_PATCH,
        )
        answer.raise_for_status()

    async def keep_alive(self, stop: asyncio.Event) -> None:
        """Heartbeat as an agent does (a bucket of its own at the hub), and say Online
        again should the hub have marked the site away."""
        while not stop.is_set():
            try:
                answer = await self.client.post(f"{API}/sites/{self.site}/heartbeat")
                away = answer.status_code == 200 and answer.json().get("phase") == "Offline"
                if away:
                    await self.online()
            except httpx.HTTPError:
                self.refused["heartbeat"] += 1
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(HEARTBEAT_S):
                    await stop.wait()

    async def streams(self, within: float = 30.0) -> dict[str, int]:
        """Once the site reaches both streams (the hub caches reach for 5 s): priorities."""
        deadline = time.monotonic() + within
        while True:
            answer = await self.client.get(f"{API}/sites/{self.site}/datastreams")
            answer.raise_for_status()
            found = {s["name"]: int(s["priority"]) for s in answer.json()["streams"]}
            if set(STREAMS) <= set(found):
                return found
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.site} reaches only {sorted(found)} after {within:g} s")
            await asyncio.sleep(0.2)


class Load:
    """The site's publishers: bulk kept above ``SATURATION_BYTES`` in the spool, and a
    critical record every ``CRITICAL_EVERY_S``; each append through the spool's thread,
    stamped just before it, as the agent's publishing endpoint does."""

    def __init__(
        self,
        spool: Spool,
        blocking: Callable[..., Any],
        uplink: Uplink,
        priorities: Mapping[str, int],
    ) -> None:
        self.spool, self.blocking, self.uplink = spool, blocking, uplink
        self.priorities = priorities
        self.appended: dict[str, list[int]] = {BULK: [], CRITICAL: []}
        self.min_spooled: int | None = None
        self._rng = random.Random(11)

    async def fill(self) -> None:
        while self.spool.used_bytes < SATURATION_BYTES:
            await self._bulk_once()

    async def bulk(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            used = self.spool.used_bytes
            self.min_spooled = used if self.min_spooled is None else min(self.min_spooled, used)
            if used < SATURATION_BYTES:
                await self._bulk_once()
            else:
                await asyncio.sleep(0.02)

    async def critical(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        start, n = loop.time(), 0
        while not stop.is_set():
            body = json_bytes({"alarm": "door-open", "n": n, "severity": "critical"})
            await self._append(CRITICAL, [body])
            n += 1
            await asyncio.sleep(max(0.0, start + n * CRITICAL_EVERY_S - loop.time()))

    async def _bulk_once(self) -> None:
        first = len(self.appended[BULK])
        bodies = [bulk_body(self._rng, first + i) for i in range(TOP_UP_RECORDS)]
        await self._append(BULK, bodies)

    async def _append(self, stream: str, bodies: list[bytes]) -> None:
        now = time.time()
        entries = [Entry(stream, self.priorities[stream], now, b) for b in bodies]
        self.appended[stream] += await self.blocking(self.spool.append, entries)
        self.uplink.published()


async def prepare(admin: httpx.AsyncClient) -> None:
    """The application every benchmark site runs, and the two streams it reaches."""
    app = {
        "apiVersion": "edgeplane.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": APP, "labels": LABELS},
        "spec": {
            "workload": {"process": {"command": "true"}},
            "placement": {"mode": "EverySite", "selector": {"matchLabels": LABELS}},
        },
    }
    objects = [("applications", app)]
    for name, priority in STREAMS.items():
        spec = {"selector": {"matchLabels": LABELS}, "priority": priority}
        stream = {"apiVersion": "edgeplane.io/v1alpha1", "kind": "DataStream"}
        objects.append(("datastreams", {**stream, "metadata": {"name": name}, "spec": spec}))
    for plural, obj in objects:
        (await admin.post(f"{API}/{plural}", json=obj)).raise_for_status()


async def join(admin: httpx.AsyncClient, site: str) -> SiteLink:
    answer = await admin.post(f"{API}/jointokens", json={"labels": LABELS, "ttlSeconds": 600})
    answer.raise_for_status()
    body = {
        "token": answer.json()["token"],
        "site": site,
        "inventory": {"cpus": 2, "runtime": "process"},
    }
    async with httpx.AsyncClient(base_url=str(admin.base_url)) as anonymous:
        joined = await anonymous.post(f"{API}/join", json=body)
    joined.raise_for_status()
    return SiteLink(str(admin.base_url), site, joined.json()["credential"])


async def stored(admin: httpx.AsyncClient, stream: str, site: str) -> list[dict[str, Any]]:
    """Every record of ``stream`` from ``site`` at the hub: seq, at, received."""
    found: list[dict[str, Any]] = []
    after = 0
    while True:
        params: dict[str, Any] = {"site": site, "after": after, "limit": READ_PAGE}
        answer = await admin.get(f"{API}/datastreams/{stream}/records", params=params)
        answer.raise_for_status()
        page = answer.json()
        found += [{k: i[k] for k in ("seq", "at", "received")} for i in page["items"]]
        if len(page["items"]) < READ_PAGE:
            return found
        after = page["next"]


async def uplink_run(
    admin: httpx.AsyncClient, site: str, fifo: bool, seconds: float, rate: float, tmp: Path
) -> Outcome:
    link = await join(admin, site)
    try:
        await link.online()
        return await _drive(admin, link, await link.streams(), fifo, seconds, rate, tmp)
    finally:
        await link.client.aclose()


async def _drive(
    admin: httpx.AsyncClient,
    link: SiteLink,
    priorities: Mapping[str, int],
    fifo: bool,
    seconds: float,
    rate: float,
    tmp: Path,
) -> Outcome:
    loop = asyncio.get_running_loop()
    pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="spool")

    async def blocking(f: Callable[..., Any], *args: Any) -> Any:
        return await loop.run_in_executor(pool, f, *args)

    spool = Spool(tmp / f"{link.site}.db", SPOOL_MAX_BYTES)
    uplink = Uplink(spool, link.send, blocking, fifo=fifo)
    # Burst = one second of the budget: the agent's default when the Site sets no
    # burstBytes. It is spent within the warm-up, which the window leaves out.
    uplink.budget(rate, rate)
    load = Load(spool, blocking, uplink, priorities)
    stop_load, stop_link = asyncio.Event(), asyncio.Event()
    tasks: list[asyncio.Task[None]] = []
    try:
        await load.fill()
        tasks += [loop.create_task(uplink.run(stop_link)), loop.create_task(load.bulk(stop_load))]
        tasks += [
            loop.create_task(load.critical(stop_load)),
            loop.create_task(link.keep_alive(stop_link)),
        ]
        window = await _window(uplink, seconds)
        stop_load.set()
        await asyncio.gather(*tasks[1:3])
        drain_s = await _drain(uplink, len(load.appended[CRITICAL]))
        stop_link.set()
        await asyncio.gather(*tasks)
        spooled = await blocking(spool.next_batch, 1 << 62, 1 << 30, (), True)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await blocking(spool.close)
        pool.shutdown()
    return await _outcome(admin, link, load, [r.seq for r in spooled], window, rate, drain_s, fifo)


async def _window(uplink: Uplink, seconds: float) -> tuple[float, float]:
    """Bytes the uplink sent between the end of the warm-up and the end of the load,
    and the seconds between."""
    await asyncio.sleep(WARMUP_S)
    first, started = uplink.sent_bytes, time.monotonic()
    await asyncio.sleep(max(0.0, seconds - WARMUP_S))
    return uplink.sent_bytes - first, time.monotonic() - started


async def _drain(uplink: Uplink, critical: int) -> float:
    """Until the hub acknowledged every critical record (at most ``DRAIN_S``)."""
    started = time.monotonic()
    while time.monotonic() - started < DRAIN_S:
        if uplink.sent[CRITICAL] >= critical:
            break
        await asyncio.sleep(0.05)
    return time.monotonic() - started


async def _outcome(
    admin: httpx.AsyncClient,
    link: SiteLink,
    load: Load,
    spooled: list[int],
    window: tuple[float, float],
    rate: float,
    drain_s: float,
    fifo: bool,
) -> Outcome:
    alarms = await stored(admin, CRITICAL, link.site)
    bulk = await stored(admin, BULK, link.site)
    lost, backlog = losses(
        load.appended[BULK] + load.appended[CRITICAL],
        [i["seq"] for i in alarms + bulk],
        spooled,
    )
    sent, span = window
    return Outcome(
        mode="FIFO" if fifo else "priority",
        site=link.site,
        latencies_ms=tuple(latencies_ms(alarms)),
        critical=len(load.appended[CRITICAL]),
        undelivered=len(load.appended[CRITICAL]) - len(alarms),
        utilisation=sent / (rate * span),
        window_bytes_per_s=sent / span,
        lost=lost,
        backlog=backlog,
        bulk_appended=len(load.appended[BULK]),
        bulk_stored=len(bulk),
        min_spooled_bytes=load.min_spooled or 0,
        drain_s=drain_s,
        refused=dict(link.refused),
        first_refusal=link.first_refusal,
        dropped=dict(link.dropped),
    )
