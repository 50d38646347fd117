"""Time from apply to Running at all 6 local sites.

Starts a real hub and six real agents on loopback (as ``make demo`` does), pushes the
demo-service artifact, then ``--runs`` times: creates an ``EverySite`` application and
measures until its assignment is Running and ready (health check passed) at all six
sites, then deletes it and waits until every instance is gone. The first run also
downloads the artifact at each site; later ones reuse the cache. Prints a table and
one JSON line with ``median_s`` and ``max_s``.
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
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
