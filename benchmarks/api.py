"""Hub API throughput and latency on SQLite and on PostgreSQL, side by side.

For each backend this starts a real hub process on a loopback port, loads 10,000
``Site`` objects with concurrent clients, then measures get, list-with-selector and
watch fan-out (100 watchers, each receiving every update). It prints a table and a
final JSON line: ``{"sqlite": {"create": {"rps", "p50_ms", "p99_ms"}, ...}, ...}``.

Counts are bounded (see the constants); the run ends by itself. Run it with
``make bench`` or ``.venv/bin/python benchmarks/api.py [--sites N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.hub import running_hub  # noqa: E402
from tests.support.postgres import running_postgres  # noqa: E402

API = "/api/v1alpha1"
REGIONS = [f"region-{i:02d}" for i in range(20)]
TIERS = ["cloud", "aggregation", "edge"]
CONCURRENCY = 32
GETS = 3000
LISTS = 200
WATCHERS = 100
WATCH_UPDATES = 200


def site(i: int) -> dict[str, Any]:
    rng = random.Random(i)
    return {
        "apiVersion": "edgeplane.io/v1alpha1",
        "kind": "Site",
        "metadata": {
            "name": f"site-{i:05d}",
            "labels": {
                "region": REGIONS[i % len(REGIONS)],
                "tier": TIERS[i % len(TIERS)],
                "jurisdiction": "eu" if i % 2 else "us",
            },
        },
        "spec": {"location": {"lat": rng.uniform(-60, 60), "lon": rng.uniform(-170, 170)}},
    }


def summarize(latencies: list[float], elapsed: float) -> dict[str, float]:
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return {
        "rps": round(len(ordered) / elapsed, 1),
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p99_ms": round(p99 * 1000, 2),
        "count": len(ordered),
    }


async def run_concurrently(
    count: int, op: Callable[[int], Awaitable[None]], concurrency: int = CONCURRENCY
) -> dict[str, float]:
    latencies: list[float] = []
    next_index = iter(range(count))

    async def worker() -> None:
        for i in next_index:
            started = time.perf_counter()
            await op(i)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return summarize(latencies, time.perf_counter() - started)


def checked(response: httpx.Response, *expected: int) -> httpx.Response:
    if response.status_code not in expected:
        raise RuntimeError(
            f"{response.request.method} {response.request.url}: "
            f"{response.status_code} {response.text[:300]}"
        )
    return response


async def watch_fanout(client: httpx.AsyncClient) -> dict[str, float]:
    """100 watchers; each update's delivery latency is measured at every watcher."""
    rv = checked(await client.get(f"{API}/sites", params={"limit": 1}), 200).json()
    since = rv["metadata"]["resourceVersion"]
    sent: dict[str, float] = {}
    latencies: list[float] = []
    ready = asyncio.Semaphore(0)

    async def watcher() -> None:
        params = {"watch": "true", "resourceVersion": since, "labelSelector": "bench=watch"}
        async with client.stream("GET", f"{API}/sites", params=params, timeout=None) as resp:
            checked(resp, 200)
            ready.release()
            seen = 0
            async for line in resp.aiter_lines():
                event = json.loads(line) if line else {}
                if event.get("type") != "MODIFIED":
                    continue
                stamp = event["object"]["metadata"]["annotations"].get("bench/seq")
                if stamp is None:  # the label change that brought the site into the selector
                    continue
                latencies.append(time.perf_counter() - sent[stamp])
                seen += 1
                if seen == WATCH_UPDATES:
                    return

    tasks = [asyncio.create_task(watcher()) for _ in range(WATCHERS)]
    for _ in range(WATCHERS):
        await ready.acquire()
    target = site(0)["metadata"]["name"]
    checked(
        await client.patch(
            f"{API}/sites/{target}",
            content=json.dumps({"metadata": {"labels": {"bench": "watch"}}}),
            headers={"Content-Type": "application/merge-patch+json"},
        ),
        200,
    )
    started = time.perf_counter()
    for seq in range(WATCH_UPDATES):
        sent[str(seq)] = time.perf_counter()
        body = {"metadata": {"annotations": {"bench/seq": str(seq)}}}
        checked(
            await client.patch(
                f"{API}/sites/{target}",
                content=json.dumps(body),
                headers={"Content-Type": "application/merge-patch+json"},
            ),
            200,
        )
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=300)
    result = summarize(latencies, time.perf_counter() - started)
    result["events_per_s"] = result.pop("rps")
    return result


@contextlib.asynccontextmanager
async def api_client(base: str, token: str) -> AsyncIterator[httpx.AsyncClient]:
    limits = httpx.Limits(max_connections=WATCHERS + CONCURRENCY + 10)
    async with httpx.AsyncClient(
        base_url=base, headers={"Authorization": f"Bearer {token}"}, limits=limits, timeout=60
    ) as client:
        yield client


async def measure(base: str, token: str, sites: int) -> dict[str, dict[str, float]]:
    async with api_client(base, token) as client:

        async def create(i: int) -> None:
            checked(await client.post(f"{API}/sites", json=site(i)), 201)

        async def get(i: int) -> None:
            checked(await client.get(f"{API}/sites/site-{random.randrange(sites):05d}"), 200)

        async def list_selected(i: int) -> None:
            selector = f"region={REGIONS[i % len(REGIONS)]},tier in (edge,aggregation)"
            checked(await client.get(f"{API}/sites", params={"labelSelector": selector}), 200)

        print(f"  loading {sites} sites...", file=sys.stderr, flush=True)
        results = {"create": await run_concurrently(sites, create)}
        results["get"] = await run_concurrently(GETS, get)
        results["list_selector"] = await run_concurrently(LISTS, list_selected, concurrency=8)
        results["watch_fanout"] = await watch_fanout(client)
        return results


def bench_backend(name: str, database_url: str | None, sites: int) -> dict[str, dict[str, float]]:
    with (
        tempfile.TemporaryDirectory(prefix=f"edgeplane-bench-{name}-") as tmp,
        running_hub(Path(tmp) / "hub", database_url=database_url) as hub,
    ):
        try:
            return asyncio.run(measure(hub.url, hub.token, sites))
        except Exception:
            print(f"--- hub log ({name}) ---\n{hub.log.read_text()[-4000:]}", file=sys.stderr)
            raise


def print_table(results: dict[str, dict[str, dict[str, float]]], file: Any = None) -> None:
    print(file=file)
    print(
        f"{'backend':<11} {'operation':<14} {'count':>7} {'req/s':>9} {'p50 ms':>9} {'p99 ms':>9}",
        file=file,
    )
    for backend, ops in results.items():
        for op, r in ops.items():
            rate = r.get("rps", r.get("events_per_s", 0.0))
            print(
                f"{backend:<11} {op:<14} {int(r['count']):>7} {rate:>9.1f} "
                f"{r['p50_ms']:>9.2f} {r['p99_ms']:>9.2f}",
                file=file,
            )
    print(
        "(watch_fanout: req/s column is watch events delivered per second across "
        f"{WATCHERS} watchers; latency is write-ack to receipt)",
        file=file,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=10_000)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args()
    results: dict[str, dict[str, dict[str, float]]] = {}
    if args.backend in ("sqlite", "both"):
        results["sqlite"] = bench_backend("sqlite", None, args.sites)
        print_table({"sqlite": results["sqlite"]}, file=sys.stderr)
    if args.backend in ("postgresql", "both"):
        with running_postgres(fsync=True) as url:
            results["postgresql"] = bench_backend("postgresql", url, args.sites)
    print_table(results)
    print(json.dumps(results))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
