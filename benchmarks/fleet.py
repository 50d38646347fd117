"""Sites one hub holds at 10 s heartbeats, beside a kube-apiserver taking the same load.

For each backend (SQLite, then PostgreSQL with fsync on) this starts a real hub pinned
to CPU 0 and the fleet simulator (``edgeplane sim``, a process pinned to CPU 1), then
steps the fleet 1,000 -> 2,500 -> 5,000 -> 10,000 sites (``--steps``). Each step: grow
the simulator, wait until every site has joined and connected, settle
(``--settle-seconds``), then hold (``--hold-seconds``) and read

* heartbeat p50 / p99 from the simulator's report lines over the hold (the median of
  the periods' p50, the worst period's p99; ``benchmarks/support/stats.py``);
* sites falsely Offline: the simulator's sites the hub marks Offline while they
  heartbeat (an admin watch over the hold, then a paged LIST);
* hub CPU (``/proc/<pid>/stat``, % of one core) and RSS at the end of the hold (and
  PostgreSQL's CPU, its processes pinned to the hub's core too).

A step holds when every site stays connected, no heartbeat fails, p99 < 100 ms and no
site is falsely Offline; the stepping stops at the first step that does not.

Then the same open-loop load against a kube-apiserver on kine/SQLite from ``hack/kube``
(both pinned to CPU 0): one Lease per virtual node in ``kube-node-lease``, renewed every
10 s with a PUT as kubelet does (``benchmarks/support/kube_leases.py``, on CPU 1), by
the same steps and the same rule. Prints a table and a final JSON line with
``max_sites_held``, ``hb_p99_ms_at_max``, ``false_offline``, ``hub_rss_mb_at_max``,
``per_backend``, ``kube_apiserver_max_sites`` and ``vs_kube_apiserver``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.support.hubproc import pinned_hub, raise_nofile  # noqa: E402
from benchmarks.support.kube_apiserver import running_apiserver  # noqa: E402
from benchmarks.support.loadproc import LoadProcess, sim_against  # noqa: E402
from benchmarks.support.offline import OfflineWatch, cancel  # noqa: E402
from benchmarks.support.procstat import (  # noqa: E402
    CpuWindow,
    alive,
    children,
    pids_with,
    rss_mb,
)
from benchmarks.support.stats import fold, rounded, why_not_held  # noqa: E402
from tests.support.postgres import running_postgres  # noqa: E402

SELECTOR = "bench=fleet"
Meters = Callable[[], dict[str, list[int]]]
"""What to measure the CPU and RSS of, by label ("hub", "db", "apiserver", ...)."""


def step_list(text: str) -> list[int]:
    steps = [int(x) for x in text.split(",") if x.strip()]
    if not steps or any(s < 1 or s > 50_000 for s in steps) or steps != sorted(steps):
        raise argparse.ArgumentTypeError(f"{text!r}: give rising site counts, 1 to 50000")
    return steps


async def hold_step(
    load: LoadProcess, sites: int, meters: Meters, watch: OfflineWatch | None, args: Any
) -> dict[str, Any]:
    """Grow ``load`` to ``sites``, settle, hold, and say what the hold showed."""
    started = time.monotonic()
    await load.send(f"grow {sites}")  # the first step's is a no-op: it started with them
    if not await load.wait_joined(sites, args.join_within, lambda: all_alive(meters())):
        row = load.latest()
        reason = f"joined {row.get('joined', 0)}, connected {row.get('connected', 0)}"
        return {"sites": sites, "held": False, "reason": f"{reason} of {sites}"}
    joined_s = round(time.monotonic() - started, 1)
    await asyncio.sleep(args.settle_seconds)  # joins' after-effects (placement, first status)
    if watch is not None:
        watch.begin()
    return {
        "sites": sites,
        "join_s": joined_s,
        **await measure_hold(load, sites, meters, watch, args),
    }


async def measure_hold(
    load: LoadProcess, sites: int, meters: Meters, watch: OfflineWatch | None, args: Any
) -> dict[str, Any]:
    """The figures of one hold of ``args.hold_seconds``."""
    pids = meters()
    windows = {label: CpuWindow(p) for label, p in pids.items()}
    for window in windows.values():
        window.start()
    start = time.time()
    await asyncio.sleep(args.hold_seconds)
    end = time.time()
    cpu = {f"{label}_cpu_pct": round(w.percent(), 1) for label, w in windows.items()}
    # PostgreSQL's processes share their buffers: a sum of their RSS would count them often.
    rss = {f"{k}_rss_mb": round(sum(map(safe_rss, p)), 1) for k, p in pids.items() if k != "db"}
    hold = fold(load.lines_between(start, end))
    offline = await watch.end() if watch is not None else set()
    why = why_not_held(hold, sites, len(offline), args.p99_goal_ms)
    return {
        "held": why is None,
        "hb_sent": hold.sent,
        "hb_errors": hold.errors,
        "hb_p50_ms": rounded(hold.p50_ms, 2),
        "hb_p99_ms": rounded(hold.p99_ms, 2),
        "connected_min": hold.connected_min,
        "false_offline": len(offline) if watch is not None else None,
        **cpu,
        **rss,
        "load_cpu_pct": round(hold.cpu_percent, 1),
        "load_rss_mb": load.latest().get("rss_mb"),
        "protocol": load.latest().get("protocol", "kubelet lease PUT"),
        **({"reason": why} if why else {}),
    }


def all_alive(pids: dict[str, list[int]]) -> bool:
    """Whether the measured servers still run (a crashed hub ends the step at once): the
    first of each group (the hub, the postmaster; backends come and go)."""
    return all(alive(group[0]) for group in pids.values() if group)


def safe_rss(pid: int) -> float:
    try:
        return rss_mb(pid)
    except OSError:
        return 0.0


async def step_through(
    load: LoadProcess, meters: Meters, watch: OfflineWatch | None, args: Any, steps: list[int]
) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    for sites in steps:
        result = await hold_step(load, sites, meters, watch, args)
        results.append(result)
        print(f"  {load.name} {sites}: {json.dumps(result)}", file=sys.stderr, flush=True)
        if not result["held"]:
            break
    return results


def postgres_pids(url: str, cpu: int | None) -> Callable[[], list[int]]:
    """The PostgreSQL server's processes (postmaster and children), pinned to ``cpu``:
    backends forked later inherit the postmaster's affinity."""
    port = str(urlsplit(url.replace("+asyncpg", "")).port)
    masters = [p for p in pids_with("postgres", "-p", port) if is_postgres(p)]
    for pid in masters + [c for m in masters for c in children(m)]:
        if cpu is not None:
            with contextlib.suppress(ProcessLookupError):  # a backend that just ended
                os.sched_setaffinity(pid, {cpu})
    return lambda: masters + [c for m in masters for c in children(m)]


def is_postgres(pid: int) -> bool:
    try:
        return Path(os.readlink(f"/proc/{pid}/exe")).name == "postgres"
    except OSError:
        return False


def sim_argv(hub: Any, args: Any) -> list[str]:
    argv = sim_against(hub)
    argv += ["--sites", str(args.steps[0]), "--labels", SELECTOR, "--prefix", "sim"]
    argv += ["--heartbeat-seconds", str(args.heartbeat_seconds)]
    argv += ["--report-seconds", str(args.report_seconds)]
    return [*argv, "--source-addresses", str(args.source_addresses)]


async def bench_hub(backend: str, tmp: Path, args: Any) -> list[dict[str, Any]]:
    if backend == "sqlite":
        return await hub_steps(backend, tmp, None, args)
    with running_postgres(fsync=True) as url:
        return await hub_steps(backend, tmp, url, args)


async def hub_steps(backend: str, tmp: Path, url: str | None, args: Any) -> list[dict[str, Any]]:
    db = postgres_pids(url, args.hub_cpu) if url else list
    with pinned_hub(tmp / backend / "hub", cpu=args.hub_cpu, database_url=url, tls=args.tls) as hub:
        client = httpx.AsyncClient(
            base_url=hub.url, headers=hub.headers(), verify=hub.verify, timeout=120
        )
        watch = OfflineWatch(client, SELECTOR)
        watching = asyncio.create_task(watch.run())
        load = LoadProcess(
            f"{backend}-sim", sim_argv(hub, args), tmp / f"{backend}-sim.log", args.load_cpu
        )
        await load.start()
        pid = hub.process.pid

        def meters() -> dict[str, list[int]]:
            return {"hub": [pid], "db": db()} if url else {"hub": [pid]}

        try:
            return await step_through(load, meters, watch, args, args.steps)
        finally:
            await load.stop()
            await cancel(watching)
            await client.aclose()
            if not load.lines:
                print(f"--- {backend} sim log ---\n{load.tail()}", file=sys.stderr)


async def bench_kube(tmp: Path, args: Any) -> list[dict[str, Any]]:
    with running_apiserver(cpu=args.hub_cpu) as cluster:
        argv = [sys.executable, "-m", "benchmarks.support.kube_leases", "--server", cluster.server]
        argv += ["--ca-file", str(cluster.ca_file), "--token-file", str(cluster.token_file)]
        argv += ["--leases", str(args.kube_steps[0]), "--period", str(args.heartbeat_seconds)]
        argv += ["--report-seconds", str(args.report_seconds)]
        argv += ["--source-addresses", str(args.source_addresses)]
        load = LoadProcess("kube-leases", argv, tmp / "kube-leases.log", args.load_cpu)
        await load.start()
        procs = cluster.processes

        def meters() -> dict[str, list[int]]:
            return {"apiserver": [procs["kube-apiserver"].pid], "kine": [procs["kine"].pid]}

        try:
            return await step_through(load, meters, None, args, args.kube_steps)
        finally:
            await load.stop()
            if not load.lines:
                print(f"--- kube driver log ---\n{load.tail()}", file=sys.stderr)


def max_held(steps: list[dict[str, Any]]) -> dict[str, Any] | None:
    good = [s for s in steps if s["held"]]
    return good[-1] if good else None


COLUMNS = (
    ("sites", 7),
    ("held", 5),
    ("join_s", 7),
    ("hb_p50_ms", 10),
    ("hb_p99_ms", 10),
    ("hb_errors", 9),
    ("false_offline", 13),
    ("server_cpu_pct", 14),
    ("server_rss_mb", 13),
    ("load_cpu_pct", 12),
)


def table_row(target: str, step: dict[str, Any]) -> str:
    cpu = [str(v) for k, v in step.items() if k.endswith("_cpu_pct") and k != "load_cpu_pct"]
    rss = [str(v) for k, v in step.items() if k.endswith("_rss_mb") and k != "load_rss_mb"]
    row = {**step, "server_cpu_pct": " + ".join(cpu) or "-", "server_rss_mb": " + ".join(rss)}
    cells = [f"{target:<16}"] + [f"{row.get(k, '-')!s:>{w}}" for k, w in COLUMNS]
    note = f"  ({step['reason']})" if "reason" in step else ""
    return " ".join(cells) + note


def print_table(results: dict[str, list[dict[str, Any]]], args: Any) -> None:
    print()
    print(
        f"hub and database (or kube-apiserver and kine) pinned to CPU {args.hub_cpu}, the load "
        f"generator to CPU {args.load_cpu}; {args.heartbeat_seconds:g} s heartbeats, hold "
        f"{args.hold_seconds:g} s after {args.settle_seconds:g} s settling; hub over "
        f"{'HTTPS' if args.tls else 'plain HTTP'}, kube-apiserver over HTTPS"
    )
    print(f"{'target':<16} " + " ".join(f"{k:>{w}}" for k, w in COLUMNS))
    for target, steps in results.items():
        for step in steps:
            print(table_row(target, step))
    print(
        "(server CPU: % of one core, hub + PostgreSQL or apiserver + kine; RSS in MB: the hub, "
        "or apiserver + kine; load: the simulator's or the Lease driver's own CPU)"
    )


def summary(results: dict[str, list[dict[str, Any]]], args: Any) -> dict[str, Any]:
    headline = args.backends[0] if args.backends else "none"
    best = max_held(results.get(headline, []))
    kube = max_held(results.get("kube-apiserver", []))
    ours = best["sites"] if best else 0
    theirs = kube["sites"] if kube else 0 if "kube-apiserver" in results else None
    offline = [s["false_offline"] or 0 for s in results.get(headline, []) if "false_offline" in s]
    per_backend = {
        b: {"max_sites_held": (max_held(results[b]) or {}).get("sites", 0), "steps": results[b]}
        for b in args.backends
    }
    return {
        "backend": headline,
        "max_sites_held": ours,
        "hb_p99_ms_at_max": best["hb_p99_ms"] if best else None,
        "false_offline": max(offline, default=0),
        "hub_rss_mb_at_max": best["hub_rss_mb"] if best else None,
        "hub_cpu_pct_at_max": best["hub_cpu_pct"] if best else None,
        "per_backend": per_backend,
        "kube_apiserver_max_sites": theirs,
        "kube_apiserver_steps": results.get("kube-apiserver"),
        "vs_kube_apiserver": round(ours / theirs, 2) if theirs else None,
    }


async def run(args: Any) -> dict[str, list[dict[str, Any]]]:
    results: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="ep-fleet-") as tmp:
        for backend in args.backends:
            results[backend] = await bench_hub(backend, Path(tmp), args)
        if args.kube:
            results["kube-apiserver"] = await bench_kube(Path(tmp), args)
    return results


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=step_list, default=step_list("1000,2500,5000,10000"))
    p.add_argument("--kube-steps", type=step_list, help="Default: --steps.")
    p.add_argument("--hold-seconds", type=float, default=60.0)
    p.add_argument("--settle-seconds", type=float, default=20.0)
    p.add_argument("--join-within", type=float, default=1200.0, help="Seconds per step to join.")
    p.add_argument(
        "--backends",
        type=lambda t: [b for b in t.split(",") if b],
        default=["sqlite", "postgresql"],
        help="sqlite,postgresql (the first is the headline)",
    )
    p.add_argument("--no-kube", dest="kube", action="store_false", help="Skip the baseline.")
    p.add_argument("--plain-http", dest="tls", action="store_false", help="Hub without TLS.")
    p.add_argument("--heartbeat-seconds", type=float, default=10.0)
    p.add_argument("--report-seconds", type=float, default=5.0)
    p.add_argument("--source-addresses", type=int, default=64)
    p.add_argument("--p99-goal-ms", type=float, default=100.0)
    p.add_argument("--hub-cpu", type=int, default=0)
    p.add_argument("--load-cpu", type=int, default=1)
    return p


def main() -> None:
    args = parser().parse_args()
    if bad := set(args.backends) - {"sqlite", "postgresql"}:
        parser().error(f"--backends: {', '.join(sorted(bad))} unknown; give sqlite,postgresql")
    args.kube_steps = args.kube_steps or args.steps
    print(f"descriptor limit {raise_nofile()}", file=sys.stderr)
    results = asyncio.run(run(args))
    print_table(results, args)
    print(json.dumps(summary(results, args)))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
