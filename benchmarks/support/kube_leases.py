"""Kubelet-style Lease renewals against a kube-apiserver: the baseline of ``fleet.py``.

Run as a process of its own (``python -m benchmarks.support.kube_leases``, pinned by
``fleet.py`` to the core the apiserver does not use). Each virtual node keeps one
connection (as a kubelet does), from one of ``--source-addresses`` loopback addresses,
creates its Lease in ``kube-node-lease`` once, then renews it every ``--period`` seconds
with a PUT of the Lease it last got (its resourceVersion, ``spec.renewTime`` now), as
kubelet's lease controller does. Renewals are on a fixed schedule, spread evenly over
the period (open loop): a late answer delays nothing but its own node, and latency is
measured from the renewal's scheduled time, so a backlog shows as latency.

It speaks the simulator's protocol on stdio: ``grow N`` / ``quit`` on stdin, one JSON
line per ``--report-seconds`` on stdout with the keys ``edgeplane sim`` prints
(``sites`` = nodes asked for, ``joined`` = Leases created, ``connected``, ``hb_sent``,
``hb_errors``, ``hb_p50_ms``, ``hb_p99_ms``, ``cpu_seconds``, ``rss_mb``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import time
from datetime import UTC, datetime
from typing import Any

import orjson

from benchmarks.support.procstat import rss_mb
from benchmarks.support.stats import percentile, rounded
from edgeplane.sim.wire import Connection, Endpoint, WireError

NAMESPACE = "kube-node-lease"
LEASES = f"/apis/coordination.k8s.io/v1/namespaces/{NAMESPACE}/leases"
GOLDEN = 0.6180339887498949
MAX_NODES = 50_000


def micro_time(at: float | None = None) -> str:
    """Kubernetes' MicroTime: RFC 3339 with microseconds, in UTC."""
    moment = datetime.fromtimestamp(time.time() if at is None else at, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def lease(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {"holderIdentity": name, "leaseDurationSeconds": 40, "renewTime": micro_time()},
    }


def offset(index: int, period: float) -> float:
    """Where in the period node ``index`` renews: even spread for any count (golden ratio)."""
    return (index * GOLDEN) % 1.0 * period


class LeaseDriver:
    def __init__(self, args: argparse.Namespace) -> None:
        self.endpoint = Endpoint.from_url(args.server, args.ca_file)
        token = open(args.token_file).read().strip()  # noqa: SIM115 (read once)
        self.headers = (
            ("Authorization", f"Bearer {token}"),
            ("Content-Type", "application/json"),
            ("Accept", "application/json"),
        )
        self.args = args
        self.creating = asyncio.Semaphore(args.create_concurrency)
        self.tasks: list[asyncio.Task[None]] = []
        self.joined = self.connected = self.sent = self.errors = 0
        self.latencies: list[float] = []

    def grow(self, total: int) -> None:
        for index in range(len(self.tasks), min(total, MAX_NODES)):
            self.tasks.append(asyncio.create_task(self.node(index)))

    async def node(self, index: int) -> None:
        name = f"{self.args.prefix}-{index:05d}"
        source = f"127.0.2.{1 + index % self.args.source_addresses}"
        conn: Connection | None = None
        async with self.creating:
            conn, current = await self.create(name, source)
        self.joined += 1
        due = time.monotonic() + offset(index, self.args.period)
        while True:
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            conn, current = await self.renew(conn, source, current, due)
            due += self.args.period

    async def create(self, name: str, source: str) -> tuple[Connection, dict[str, Any]]:
        while True:
            conn = None
            try:
                conn = await Connection.open(self.endpoint, source)
                answer = await conn.request("POST", LEASES, self.headers, orjson.dumps(lease(name)))
                if answer.status == 409:
                    answer = await conn.request("GET", f"{LEASES}/{name}", self.headers)
                if answer.status in (200, 201):
                    self.connected += 1
                    return conn, answer.json()
                print(f"create {name}: {answer.status} {answer.body[:200]!r}", file=sys.stderr)
            except WireError as e:
                print(f"create {name}: {e}", file=sys.stderr)
            if conn is not None:
                conn.close()
            await asyncio.sleep(1.0)

    async def renew(
        self, conn: Connection | None, source: str, current: dict[str, Any], due: float
    ) -> tuple[Connection | None, dict[str, Any]]:
        name = current["metadata"]["name"]
        current["spec"]["renewTime"] = micro_time()
        self.sent += 1
        try:
            if conn is not None and not conn.reusable:
                self.connected -= 1  # the server ended it (Connection: close)
            if conn is None or not conn.reusable:
                conn = await Connection.open(self.endpoint, source)
                self.connected += 1
            answer = await conn.request(
                "PUT", f"{LEASES}/{name}", self.headers, orjson.dumps(current)
            )
        except WireError:
            self.errors += 1
            if conn is not None:
                conn.close()
                self.connected -= 1
            return None, current
        if answer.status != 200:
            self.errors += 1
            return conn, current
        self.latencies.append(time.monotonic() - due)
        return conn, answer.json()

    def report(self) -> dict[str, Any]:
        latencies, self.latencies = self.latencies, []
        sent, self.sent = self.sent, 0
        errors, self.errors = self.errors, 0
        ms = [1000 * x for x in latencies]
        return {
            "t": round(time.time(), 3),
            "sites": len(self.tasks),
            "joined": self.joined,
            "connected": self.connected,
            "hb_sent": sent,
            "hb_errors": errors,
            "hb_p50_ms": rounded(percentile(ms, 50), 2) if ms else None,
            "hb_p99_ms": rounded(percentile(ms, 99), 2) if ms else None,
            "cpu_seconds": round(time.process_time(), 2),
            "rss_mb": round(rss_mb(os.getpid()), 1),
        }

    async def reporter(self) -> None:
        while True:
            await asyncio.sleep(self.args.report_seconds)
            print(orjson.dumps(self.report()).decode(), flush=True)


async def commands(driver: LeaseDriver) -> None:
    """``grow N`` and ``quit`` from stdin; end of input is ``quit``."""
    reader = asyncio.StreamReader()
    loop = asyncio.get_running_loop()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := (await reader.readline()).decode().split():
        if line[0] == "quit":
            return
        if line[0] == "grow" and len(line) == 2 and line[1].isdigit():
            driver.grow(int(line[1]))
        else:
            print(f"unknown command {' '.join(line)!r}: give 'grow N' or 'quit'", file=sys.stderr)


async def run(args: argparse.Namespace) -> None:
    driver = LeaseDriver(args)
    driver.grow(args.leases)
    reporter = asyncio.create_task(driver.reporter())
    try:
        await commands(driver)
    finally:
        for task in [reporter, *driver.tasks]:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(reporter, *driver.tasks, return_exceptions=True)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--server", required=True, help="https://127.0.0.1:PORT")
    p.add_argument("--ca-file", required=True)
    p.add_argument("--token-file", required=True)
    p.add_argument("--leases", type=int, default=0, help="Nodes to start with.")
    p.add_argument("--prefix", default="node")
    p.add_argument("--period", type=float, default=10.0, help="Seconds between renewals.")
    p.add_argument("--report-seconds", type=float, default=5.0)
    p.add_argument("--source-addresses", type=int, default=64, choices=range(1, 255))
    p.add_argument("--create-concurrency", type=int, default=64)
    return p


if __name__ == "__main__":
    asyncio.run(run(parser().parse_args()))
