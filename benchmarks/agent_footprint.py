"""The agent's memory and CPU at idle: with no workloads and with 10 process workloads.

Each run starts a real hub and one real agent process (``python -m edgeplane.agent``)
on loopback, lets it settle, then samples the agent's RSS (``/proc/<pid>/status``
VmRSS) and CPU time (``/proc/<pid>/stat``, user + system) over an idle window. Then it
applies 10 applications (each a ``sleep`` process at this site), waits for them to
run, and samples again. Workloads are separate processes and are not counted.
Medians over ``--runs`` runs. Prints a table, then one JSON line with
``rss_idle_mb`` and ``rss_10_workloads_mb`` (medians) among others.

Reference points: OpenYurt YurtHub 30-40 MB, KubeEdge edgecore about 70 MB, a k3s
agent about 275 MB. Goal: at most 40 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.fleet import Fleet, wait_for  # noqa: E402

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
        wait_for(lambda: fleet.site_phase("site-a") == "Online", "site-a online")
        assert agent.process is not None
        pid = agent.process.pid
        time.sleep(3)  # settle: the first status and heartbeat are sent
        rss_idle, cpu_idle = sample(pid, window)
        for i in range(10):
            fleet.ok("POST", "/applications", sleeper(i))
        for i in range(10):
            wait_for(lambda i=i: fleet.running(f"idle-{i}", {"site-a"}), f"idle-{i} running", 120)
        time.sleep(3)
        rss_10, cpu_10 = sample(pid, window)
        return {
            "rss_idle_mb": rss_idle,
            "cpu_idle_pct": cpu_idle,
            "rss_10_workloads_mb": rss_10,
            "cpu_10_workloads_pct": cpu_10,
        }
    finally:
        fleet.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--window", type=float, default=15.0, help="idle seconds sampled")
    args = parser.parse_args()
    runs = []
    for n in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="ep-footprint-") as tmp:
            runs.append(one_run(Path(tmp), args.window))
        print(f"  run {n + 1}: {runs[-1]}", file=sys.stderr, flush=True)
    result = {k: round(statistics.median(r[k] for r in runs), 2) for k in runs[0]}
    result["runs"] = args.runs
    print(f"\nagent footprint, median of {args.runs} runs ({args.window:.0f} s idle windows)")
    print(f"{'workloads':>10} {'RSS MB':>8} {'CPU %':>7}")
    print(f"{0:>10} {result['rss_idle_mb']:>8.1f} {result['cpu_idle_pct']:>7.2f}")
    print(f"{10:>10} {result['rss_10_workloads_mb']:>8.1f} {result['cpu_10_workloads_pct']:>7.2f}")
    print("goal: <= 40 MB RSS (YurtHub 30-40 MB, edgecore ~70 MB, k3s agent ~275 MB)")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
