"""What one health check costs the leader's event loop, at 10,000 sites.

The health controller (``hub.controllers.health``) judges every Online site at every
check (every half of the shortest heartbeat period, 0.25 to 1 s): its terms, its lease,
its phi from the failure detector. This builds ``--sites`` Sites (a few labels each, a
SiteGroup that sets terms for a tenth of them, as the informer holds them), feeds the
detector 100 heartbeats of each through the hub's ``Leases`` (as the heartbeat route
does), and times ``check`` over them with nothing to mark: the cost of a check when all
is well, which is what the hub pays every period. Also the per-heartbeat cost of
``Leases.renew`` with the detector fed, against without.

Prints a table, then one JSON line: ``check_ms_p50``, ``check_ms_max``,
``check_us_per_site``, ``renew_us``, ``renew_bare_us``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edgeplane.api.wire import Object  # noqa: E402
from edgeplane.health.detector import Detector  # noqa: E402
from edgeplane.hub.app import period_reader  # noqa: E402
from edgeplane.hub.controllers.health import Judge, check  # noqa: E402
from edgeplane.hub.healthterms import HealthTerms  # noqa: E402
from edgeplane.hub.leases import Leases  # noqa: E402
from edgeplane.store.memory import MemoryStore  # noqa: E402

PERIOD = 10.0


class Cache:
    """The informer's Sites and SiteGroups, as the terms and the period reader read them."""

    version = 1

    def __init__(self, sites: dict[str, Object], groups: dict[str, Object]) -> None:
        self.by_kind = {"Site": sites, "SiteGroup": groups}

    def get(self, kind: str, name: str) -> Object | None:
        return self.by_kind[kind].get(name)

    def items(self, kind: str) -> dict[str, Object]:
        return self.by_kind[kind]


def fleet(count: int, now: float) -> Cache:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
    sites: dict[str, Object] = {
        f"site-{i}": {
            "kind": "Site",
            "metadata": {
                "name": f"site-{i}",
                "labels": {"region": f"r{i % 20}", "tier": "edge" if i % 10 == 0 else "store"},
                "creationTimestamp": stamp,
            },
            "status": {"phase": "Online", "lastHeartbeat": stamp},
        }
        for i in range(count)
    }
    edge = {"matchLabels": {"tier": "edge"}}
    group: Object = {
        "metadata": {"name": "edge"},
        "spec": {"selector": edge, "health": {"heartbeatSeconds": 5}},
    }
    return Cache(sites, {"edge": group})


def fed(cache: Cache, now: float, beats: int) -> tuple[Leases, HealthTerms]:
    terms = HealthTerms(PERIOD, cache)
    leases = Leases("bench", Detector(), period_reader(terms, cache))
    names = list(cache.items("Site"))
    for k in range(beats, 0, -1):
        for name in names:
            leases.renew(name, now - k * PERIOD / 2)
    return leases, terms


def renew_cost(leases: Leases, names: list[str], rounds: int) -> float:
    """Microseconds a renewal costs, fresh times (each feeds the detector)."""
    start, at = time.perf_counter(), time.time()
    for r in range(rounds):
        for name in names:
            leases.renew(name, at + r)
    return (time.perf_counter() - start) / (rounds * len(names)) * 1e6


async def timed_checks(cache: Cache, leases: Leases, terms: HealthTerms, runs: int) -> list[float]:
    store, sites = MemoryStore(), list(cache.items("Site").values())
    judge = Judge(40.0, leases.last, leases.detector, terms, watched_since=time.time() - 3600)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        marked = await check(store, sites, judge)
        times.append((time.perf_counter() - start) * 1e3)
        assert marked == [], marked  # all is well: nothing to write
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--beats", type=int, default=100, help="heartbeats fed per site")
    args = parser.parse_args()
    now = time.time()
    cache = fleet(args.sites, now)
    leases, terms = fed(cache, now, args.beats)
    times = asyncio.run(timed_checks(cache, leases, terms, args.runs))
    names = list(cache.items("Site"))[:1000]
    renew = renew_cost(leases, names, 20)
    renew_bare = renew_cost(Leases("bare"), names, 20)
    result: dict[str, Any] = {
        "sites": args.sites,
        "check_ms_p50": round(statistics.median(times), 2),
        "check_ms_max": round(max(times), 2),
        "check_us_per_site": round(statistics.median(times) * 1e3 / args.sites, 2),
        "renew_us": round(renew, 2),
        "renew_bare_us": round(renew_bare, 2),
    }
    for key, value in result.items():
        print(f"{key:<20} {value}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
