"""Time from apply to Running at all 6 local sites.

Starts a real hub and six real agents on loopback (as ``make demo`` does), pushes the
demo-service artifact, then ``--runs`` times: creates an ``EverySite`` application and
measures until its assignment is Running and ready (health check passed) at all six
sites, then deletes it and waits until every instance is gone. The first run also
downloads the artifact at each site; later ones reuse the cache. Prints a table and
one JSON line with ``median_s`` and ``max_s``.

``--sites N[,M...]`` measures on the fleet simulator instead (``edgeplane sim``, its
sites Running as soon as told): per size a fresh hub, N simulated sites, and per run the
time from apply to Running at each site as the hub sees it (an admin watch on the
Assignments); p50 / p99 / max over the sites, medians over the runs. See
``benchmarks/support/converging.py``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.support.converging import converge_sites  # noqa: E402
from benchmarks.support.hubproc import raise_nofile  # noqa: E402
from tests.support.fleet import DEMO_SERVICE, Fleet, demo_app, tarball, wait_for  # noqa: E402

SITES = [f"site-{i}" for i in range(6)]


def converge_once(fleet: Fleet, name: str) -> float:
    started = time.monotonic()
    fleet.ok("POST", "/applications", demo_app(name))
    wait_for(lambda: fleet.running(name, set(SITES)), f"{name} at all sites", 120)
    elapsed = time.monotonic() - started
    fleet.ok("DELETE", f"/applications/{name}")
    wait_for(lambda: not fleet.assignments(name), f"{name} removed", 120)
    return elapsed


def sizes(text: str) -> list[int]:
    found = [int(x) for x in text.split(",") if x.strip()]
    if not found or any(not 1 <= n <= 50_000 for n in found):
        raise argparse.ArgumentTypeError(f"{text!r}: give site counts from 1 to 50000, e.g. 1000")
    return found


def main_sim(args: argparse.Namespace) -> None:
    raise_nofile()
    results = {n: converge_sites(n, args) for n in args.sites}
    print(f"\napply -> Running (as the hub sees it) on the simulator, {args.runs} runs per size")
    print(f"{'sites':>6} {'run':>4} {'p50 s':>7} {'p99 s':>7} {'max s':>7}")
    for n, runs in results.items():
        for i, r in enumerate(runs, 1):
            print(f"{n:>6} {i:>4} {r['p50_s']:>7.3f} {r['p99_s']:>7.3f} {r['max_s']:>7.3f}")
    summary = {
        str(n): {
            "p50_s": round(statistics.median(r["p50_s"] for r in runs), 3),
            "p99_s": round(statistics.median(r["p99_s"] for r in runs), 3),
            "max_s": round(max(r["max_s"] for r in runs), 3),
            "runs": runs,
        }
        for n, runs in results.items()
    }
    print("(per size: the median over runs of each run's p50 and p99 over sites; max of all)")
    print(json.dumps({"mode": "sim", "runs": args.runs, "sites": summary}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, help="Default: 5 (agents), 3 (--sites).")
    parser.add_argument("--sites", type=sizes, help="N[,M...]: on the simulator, N sites.")
    parser.add_argument("--within", type=float, default=600.0, help="Seconds a run may take.")
    parser.add_argument("--join-within", type=float, default=1200.0)
    parser.add_argument("--hub-cpu", type=int, default=0)
    parser.add_argument("--load-cpu", type=int, default=1)
    args = parser.parse_args()
    if args.sites:
        args.runs = args.runs or 3
        main_sim(args)
        return
    args.runs = args.runs or 5
    with tempfile.TemporaryDirectory(prefix="ep-converge-") as tmp:
        fleet = Fleet(Path(tmp))
        fleet.start_hub()
        try:
            fleet.push_artifact("demo-service", "1.0.0", tarball(DEMO_SERVICE))
            for i, site in enumerate(SITES):
                fleet.add_agent(site, {"region": f"r{i % 3}"})
            for site in SITES:
                wait_for(lambda s=site: fleet.api("GET", f"/sites/{s}").status_code == 200, site)
            times = []
            for n in range(args.runs):
                times.append(converge_once(fleet, f"conv-{n}"))
                print(f"  run {n + 1}: {times[-1]:.2f} s", file=sys.stderr, flush=True)
        finally:
            fleet.close()
    result = {
        "sites": len(SITES),
        "runs": args.runs,
        "median_s": round(statistics.median(times), 3),
        "max_s": round(max(times), 3),
        "min_s": round(min(times), 3),
        "first_s": round(times[0], 3),
    }
    print(f"\napply -> Running and ready at {len(SITES)} sites, {args.runs} runs")
    print(f"{'run':>4} {'seconds':>8}")
    for n, t in enumerate(times, 1):
        print(f"{n:>4} {t:>8.2f}")
    print(
        f"median {result['median_s']:.2f} s, max {result['max_s']:.2f} s "
        "(run 1 includes the artifact download)"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
