"""Time from apply to Ready at every Kubernetes site, beside the process runtime's figure.

Starts real control planes from ``hack/kube`` (three single-cluster sites and a central
cluster with two node pools: five sites), a real hub and five real agents run with
``--runtime kubernetes`` (status read every second), all on loopback. Then ``--runs``
times: creates an ``EverySite`` application (a Deployment of 2 replicas, its Service and
a ConfigMap) and measures until its assignment is Running with 2 ready pods at all five
sites (Deployments available, the Service with ready endpoints), then deletes it and
waits until every site has removed its objects. KWOK nodes run no container, so this is
the control path: hub, agent, server-side apply, scheduler, controllers, status back.

Afterwards it runs ``benchmarks/converge.py`` (six process sites) with the same number of
runs and reports its figure beside. Prints a table and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hack.kube.cluster import Cluster, build  # noqa: E402
from hack.kube.fleet import Fleet as KubeFleet  # noqa: E402
from tests.support.fleet import Fleet, wait_for  # noqa: E402
from tests.support.kube import (  # noqa: E402
    at,
    deployment_of,
    kube_agent,
    kube_app,
    ready_at,
    web,
)

POOLS = ("pool-a", "pool-b")


def start_sites(fleet: Fleet, clusters: list[Cluster]) -> dict[str, tuple[Cluster, str]]:
    """An agent per site; site -> (its cluster, the namespace an application ``x`` of
    it lands in, as a format string)."""
    sites: dict[str, tuple[Cluster, str]] = {}
    for cluster in clusters:
        if cluster.pools:
            for pool in cluster.pools:
                kube_agent(fleet, pool, cluster, {"bench": "k8s"}, pool=pool)
                sites[pool] = (cluster, "{app}-" + pool)
        else:
            kube_agent(fleet, cluster.name, cluster, {"bench": "k8s"})
            sites[cluster.name] = (cluster, "{app}")
    for site in sites:
        wait_for(partial(online, fleet, site), f"{site} Online", 60)
    return sites


def online(fleet: Fleet, site: str) -> bool:
    return fleet.site_phase(site) == "Online"


def removed(sites: dict[str, tuple[Cluster, str]], app: str) -> bool:
    return all(
        deployment_of(cluster, namespace.format(app=app), app) is None
        for cluster, namespace in sites.values()
    )


def converge_once(fleet: Fleet, sites: dict[str, tuple[Cluster, str]], app: str) -> float:
    started = time.monotonic()
    fleet.ok("POST", "/applications", kube_app(app, web(app), at("bench", "k8s")))
    want = dict.fromkeys(sites, 2)
    wait_for(lambda: ready_at(fleet, app, want), f"{app} Ready at {len(sites)} sites", 180)
    elapsed = time.monotonic() - started
    fleet.ok("DELETE", f"/applications/{app}")
    wait_for(lambda: not fleet.assignments(app) and removed(sites, app), f"{app} removed", 180)
    return elapsed


def kubernetes_rounds(root: Path, runs: int) -> list[float]:
    build()
    kube = KubeFleet(root / "kube")
    clusters = kube.up(3, nodes=3, pools=POOLS, pool_nodes=2)
    fleet = Fleet(root / "edge")
    try:
        fleet.start_hub()
        sites = start_sites(fleet, clusters)
        times = []
        for n in range(runs):
            times.append(converge_once(fleet, sites, f"kconv-{n}"))
            print(f"  kubernetes run {n + 1}: {times[-1]:.2f} s", file=sys.stderr, flush=True)
        return times
    finally:
        fleet.close()
        kube.down()


def process_figure(runs: int) -> dict[str, Any]:
    """benchmarks/converge.py's JSON line (six process sites), run now."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "converge.py"), "--runs", str(runs)],
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ep-converge-k8s-") as tmp:
        times = kubernetes_rounds(Path(tmp), args.runs)
    process = process_figure(args.runs)
    result = {
        "kubernetes_sites": 5,
        "runs": args.runs,
        "median_s": round(statistics.median(times), 3),
        "max_s": round(max(times), 3),
        "min_s": round(min(times), 3),
        "process_sites": process["sites"],
        "process_median_s": process["median_s"],
        "process_max_s": process["max_s"],
    }
    print(f"\napply -> Ready at 5 Kubernetes sites (3 clusters, 2 node pools), {args.runs} runs")
    print(f"{'run':>4} {'seconds':>8}")
    for n, t in enumerate(times, 1):
        print(f"{n:>4} {t:>8.2f}")
    print(f"{'runtime':<11} {'sites':>5} {'median s':>9} {'max s':>7}")
    print(f"{'kubernetes':<11} {5:>5} {result['median_s']:>9.2f} {result['max_s']:>7.2f}")
    print(
        f"{'process':<11} {process['sites']:>5} {process['median_s']:>9.2f} "
        f"{process['max_s']:>7.2f}"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
