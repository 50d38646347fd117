"""The agent's memory and CPU at idle: with no workloads and with 10 process workloads.

Each run starts a real hub and one real agent process (``python -m edgeplane.agent``)
on loopback, lets it settle, then samples the agent's RSS (``/proc/<pid>/status``
VmRSS) and CPU time (``/proc/<pid>/stat``, user + system) over an idle window. Then it
applies 10 applications (each a ``sleep`` process at this site), waits for them to
run, and samples again. Workloads are separate processes and are not counted.
Medians over ``--runs`` runs. Prints a table, then one JSON line with
``rss_idle_mb`` and ``rss_10_workloads_mb`` (medians) among others.

The same again for an agent run with ``--runtime kubernetes`` against a real control
plane from ``hack/kube`` (one cluster of 3 KWOK nodes; its 10 workloads are
applications of one Deployment each): ``kube_rss_idle_mb`` and
``kube_rss_10_workloads_mb``. ``--runtime process`` or ``kubernetes`` measures one only.

Reference points: OpenYurt YurtHub 30-40 MB, KubeEdge edgecore about 70 MB, a k3s
agent about 275 MB. Goals: at most 40 MB (process), at most 80 MB (kubernetes).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hack.kube.cluster import build  # noqa: E402
from hack.kube.fleet import Fleet as KubeFleet  # noqa: E402
from tests.support.fleet import Agent, Fleet, wait_for  # noqa: E402
from tests.support.kube import deployment, kube_agent, kube_app, ready_at  # noqa: E402

CLOCK = os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK


def sample(pid: int, seconds: float) -> tuple[float, float]:
    """Median RSS (MB) and CPU use (% of one core) over an idle window."""
    start_cpu, start = cpu_seconds(pid), time.monotonic()
    rss = []
    while time.monotonic() - start < seconds:
        rss.append(rss_mb(pid))
        time.sleep(0.5)
    cpu = (cpu_seconds(pid) - start_cpu) / (time.monotonic() - start) * 100
    return statistics.median(rss), cpu


def sleeper(i: int) -> dict[str, object]:
    return {
        "apiVersion": "edgeplane.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": f"idle-{i}"},
        "spec": {
            "workload": {"process": {"command": "sleep", "args": ["100000"]}},
            "placement": {"mode": "EverySite"},
        },
    }


def one_run(root: Path, window: float) -> dict[str, float]:
    fleet = Fleet(root)
    fleet.start_hub()
    try:
        agent = fleet.add_agent("site-a")
        return measure(fleet, agent, window, sleeper, "")
    finally:
        fleet.close()


def running(fleet: Fleet, app: str) -> bool:
    """Running and ready at site-a, as a process (ready 1) or a Deployment of 1 replica."""
    return bool(fleet.running(app, {"site-a"}) or ready_at(fleet, app, {"site-a": 1}))


def kube_workload(i: int) -> dict[str, object]:
    return kube_app(f"idle-{i}", [deployment(f"idle-{i}", 1)], {"mode": "EverySite"})


def one_kube_run(root: Path, window: float) -> dict[str, float]:
    kube = KubeFleet(root / "kube")
    cluster = kube.up(1, nodes=3)[0]
    fleet = Fleet(root / "edge")
    try:
        fleet.start_hub()
        agent = kube_agent(fleet, "site-a", cluster, {})
        return measure(fleet, agent, window, kube_workload, "kube_")
    finally:
        fleet.close()
        kube.down()


def measure(
    fleet: Fleet, agent: Agent, window: float, workload: Any, prefix: str
) -> dict[str, float]:
    """Idle, then with 10 applications Running at the site."""
    wait_for(lambda: fleet.site_phase("site-a") == "Online", "site-a online")
    assert agent.process is not None
    pid = agent.process.pid
    time.sleep(3)  # settle: the first status and heartbeat are sent
    rss_idle, cpu_idle = sample(pid, window)
    for i in range(10):
        fleet.ok("POST", "/applications", workload(i))
    for i in range(10):
        wait_for(partial(running, fleet, f"idle-{i}"), f"idle-{i} running", 120)
    time.sleep(3)
    rss_10, cpu_10 = sample(pid, window)
    return {
        f"{prefix}rss_idle_mb": rss_idle,
        f"{prefix}cpu_idle_pct": cpu_idle,
        f"{prefix}rss_10_workloads_mb": rss_10,
        f"{prefix}cpu_10_workloads_pct": cpu_10,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--window", type=float, default=15.0, help="idle seconds sampled")
    parser.add_argument("--runtime", choices=("process", "kubernetes", "both"), default="both")
    args = parser.parse_args()
    kinds = [(k, f) for k, f in RUNTIMES if args.runtime in (k, "both")]
    if any(kind == "kubernetes" for kind, _ in kinds):
        build()  # reuses the cached binaries
    runs: list[dict[str, float]] = []
    for n in range(args.runs):
        measured: dict[str, float] = {}
        for _, run in kinds:
            with tempfile.TemporaryDirectory(prefix="ep-footprint-") as tmp:
                measured.update(run(Path(tmp), args.window))
        runs.append(measured)
        print(f"  run {n + 1}: {runs[-1]}", file=sys.stderr, flush=True)
    result = {k: round(statistics.median(r[k] for r in runs), 2) for k in runs[0]}
    result["runs"] = args.runs
    print(f"\nagent footprint, median of {args.runs} runs ({args.window:.0f} s idle windows)")
    print(f"{'runtime':<11} {'workloads':>10} {'RSS MB':>8} {'CPU %':>7} {'goal MB':>8}")
    for kind, prefix, goal in (("process", "", 40), ("kubernetes", "kube_", 80)):
        if f"{prefix}rss_idle_mb" not in result:
            continue
        for load, key in ((0, "idle"), (10, "10_workloads")):
            rss, cpu = result[f"{prefix}rss_{key}_mb"], result[f"{prefix}cpu_{key}_pct"]
            print(f"{kind:<11} {load:>10} {rss:>8.1f} {cpu:>7.2f} {goal:>8}")
    print("(YurtHub 30-40 MB, edgecore ~70 MB, k3s agent ~275 MB)")
    print(json.dumps(result))


RUNTIMES = (("process", one_run), ("kubernetes", one_kube_run))


if __name__ == "__main__":
    main()
