"""Page loads of the web dashboard (/ui) at 1,000 and 10,000 sites, in a real browser.

For each size N (``--sites``; ``--quick``: 200): a fresh hub (SQLite, plain HTTP,
loopback, pinned to ``--hub-cpu``), the fleet simulator with N sites and
``--locations`` (``edgeplane sim``, pinned to ``--client-cpu``), until the simulator
says every site joined, connected and was placed and the hub's API lists them Online
with a location (a site whose join the simulator gave up is counted and said). Then
Debian's chromium (``/usr/bin/chromium`` through Playwright's sync API, headless; never
a downloaded browser; on ``--client-cpu`` too) signs in and loads:

* the map ``/ui/`` once right after the first sign-in: the **cold view** (the dashboard
  lists the N sites from the hub before it answers);
* then ``--repeat`` times (default 5), each load in a fresh browser context (cold
  cache, a new sign-in) on the now warm view: the map ``/ui/``, the sites table
  ``/ui/sites``, the same filtered ``/ui/sites?selector=region%3Deu-west&phase=Online``
  and one site's page;

recording per load the time to first byte, first contentful paint, the map drawn
(``#fleet-map[data-loaded=true]``), the live stream open (``body[data-live]``) and the
bytes transferred (``benchmarks/support/dashboardpages.py`` says how each is read), and
the hub's RSS before the sign-in, after the cold view and after the runs, and its CPU
second by second over ``--idle-seconds`` before the sign-in and again after the runs
with no page open (the dashboard's view, alive, lists every site again each minute to
refresh heartbeat ages: that shows as the busiest second). The baseline,
as no other dashboard runs here: the time and bytes for the hub's API to list all N
sites (``GET /api/v1alpha1/sites``, 500 a page), what a dashboard without a server-side
view would pay per page, and its ratio to the dashboard's pages.

Prints a table (p50/p90 per page and N) and one final JSON line. Bounded: ``--repeat``
loads per page, ``--join-within`` and ``--page-timeout`` seconds; the hub, the
simulator and the browser are stopped on exit, Ctrl-C and SIGTERM included.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.support.dashboardfigures import (  # noqa: E402
    PAGES,
    headline,
    print_table,
    ratios,
    spread,
    summarise,
)
from benchmarks.support.dashboardfleet import (  # noqa: E402
    SimRun,
    admin_client,
    fleet_state,
    list_all,
    running_sim,
    wait_until,
)
from benchmarks.support.dashboardpages import chromium, load, signed_in  # noqa: E402
from benchmarks.support.hubproc import pinned_hub, raise_nofile  # noqa: E402
from benchmarks.support.loadproc import sim_against  # noqa: E402
from benchmarks.support.procstat import alive, cpu_seconds, rss_mb  # noqa: E402
from tests.support.hub import HubProcess  # noqa: E402

PREFIX = "sim"
COLD_RETRY_S = 120.0
"""How long the cold view is retried when the dashboard gives up waiting for its list."""
IDLE_WINDOW_S = 65.0
"""The hub's idle CPU is read over this long, second by second: more than the dashboard
view's period of listing every site again (``RELIST_SECONDS`` in ``web/fleet.py``, 60 s),
so the idle reading with a view alive includes one such listing."""


def sizes(text: str) -> list[int]:
    found = [int(x) for x in text.split(",") if x.strip()]
    if not found or any(not 1 <= n <= 50_000 for n in found):
        raise argparse.ArgumentTypeError(f"{text!r}: give site counts from 1 to 50000, e.g. 1000")
    return found


def say(text: str) -> None:
    print(f"  {text}", file=sys.stderr, flush=True)


def sim_argv(hub: HubProcess, n: int, args: Any) -> list[str]:
    argv = sim_against(hub)
    argv += ["--sites", str(n), "--locations", "--prefix", PREFIX, "--report-seconds", "2"]
    argv += ["--heartbeat-seconds", str(args.heartbeat_seconds)]
    return [*argv, "--source-addresses", str(args.source_addresses)]


def wait_for_fleet(hub: HubProcess, sim: SimRun, n: int, args: Any) -> dict[str, Any]:
    """Until the simulator says every site joined (or gave up: ``join_errors``),
    connected and was placed, then the API lists all those it runs Online with a
    location; the seconds each took. A join the hub took but whose answer the simulator
    lost (a timeout, then ``409 AlreadyExists`` on the retry) leaves a Site it does not
    run: counted, and the pages are measured with it (it stays Pending)."""
    started = time.monotonic()

    def joined() -> bool:
        if not (sim.alive() and alive(hub.process.pid)):
            raise RuntimeError(f"the {'simulator' if hub.process.poll() is None else 'hub'} died")
        row = sim.latest()
        running, placed = row.get("joined", 0), row.get("located", 0) + row.get("locate_errors", 0)
        settled = running + row.get("join_errors", 0) >= n and running > 0
        return bool(settled and row.get("connected", 0) >= running and placed >= running)

    if not wait_until(joined, args.join_within, 1.0, lambda: json.dumps(sim.latest())):
        raise RuntimeError(f"not joined within {args.join_within:g} s: {sim.latest()}")
    join_s = time.monotonic() - started
    row = sim.latest()
    running, unplaced = int(row["joined"]), int(row.get("locate_errors", 0))
    with admin_client(hub.url, hub.token) as client:
        state = fleet_state(client, PREFIX)

        def online() -> bool:
            nonlocal state
            state = fleet_state(client, PREFIX)
            return state.online >= running and state.located >= running - unplaced

        if not wait_until(online, args.join_within, max(1.0, n / 2000), lambda: str(state)):
            raise RuntimeError(f"not all Online and placed: {state}")
    online_s = time.monotonic() - started
    say(f"{n} sites joined in {join_s:.0f} s, Online and placed in {online_s:.0f} s")
    say(f"regions: {state.regions}")
    time.sleep(args.settle_seconds)  # the joins' after-effects (first status, placement)
    found: dict[str, Any] = {
        "join_s": round(join_s, 1),
        "online_s": round(online_s, 1),
        "sites_listed": state.sites,
        "sites_online": state.online,
        "sites_located": state.located,
        "eu_west_sites": state.regions.get("eu-west", 0),
        "join_errors": int(row.get("join_errors", 0)),
        "locate_errors": unplaced,
    }
    if found["join_errors"] or unplaced:
        found["notes"] = [
            f"{found['join_errors']} site(s) did not join, {unplaced} not placed; measured"
            f" with {state.online} Online and {state.located} located of {state.sites} listed"
        ]
    return found


def cold_view(browser: Any, hub: HubProcess, args: Any) -> dict[str, Any]:
    """The first load of the map after the first sign-in; retried (a new load) while the
    dashboard sends it back to sign in (its view not listed in time)."""
    started = time.perf_counter()
    attempts: list[dict[str, Any]] = []
    with signed_in(browser, hub.url, hub.token) as (context, _):
        while True:
            figures = load(context, "/ui/", True, args.page_timeout)
            attempts.append(figures)
            if "error" not in figures or time.perf_counter() - started > COLD_RETRY_S:
                break
            say(f"cold view: {figures['error']}; loading again")
    first = dict(attempts[0])
    if len(attempts) > 1:
        first["attempts"] = len(attempts)
        first["until_drawn_ms"] = round((time.perf_counter() - started) * 1000)
        first["later"] = attempts[-1]
    return first


def bench_size(n: int, args: Any, tmp: Path) -> dict[str, Any]:
    result: dict[str, Any] = {"sites": n, "errors": []}
    with pinned_hub(tmp / f"hub-{n}" / "data", cpu=args.hub_cpu) as hub:
        pid = hub.process.pid
        try:
            with running_sim(sim_argv(hub, n, args), tmp / f"sim-{n}.log", args.client_cpu) as sim:
                try:
                    result.update(wait_for_fleet(hub, sim, n, args))
                except RuntimeError:
                    print(f"--- sim log ---\n{sim.tail()}", file=sys.stderr)
                    raise
                measure(n, hub, pid, args, result)
        except Exception as e:
            print(
                f"--- hub log ---\n{hub.log.read_text(errors='replace')[-4000:]}", file=sys.stderr
            )
            result["errors"].append(f"{type(e).__name__}: {e}")
    return result


def measure(n: int, hub: HubProcess, pid: int, args: Any, result: dict[str, Any]) -> None:
    result["loadavg_1m"] = {"before": loadavg()}
    rss: dict[str, float] = {"before_sign_in": round(rss_mb(pid), 1)}
    result["hub_rss_mb"] = rss
    result["hub_idle"] = idle = cpu_profile(pid, args.idle_seconds)  # heartbeats, mostly
    result["hub_idle_cpu_pct"] = idle["mean_pct"]
    pages: dict[str, Any] = {}
    result["pages"] = pages
    site = f"{PREFIX}-{n // 2:05d}"
    with chromium() as browser:
        cpu0 = cpu_seconds(pid)
        cold = cold_view(browser, hub, args)
        result["hub_cpu_s_cold_view"] = round(cpu_seconds(pid) - cpu0, 2)
        pages["map_cold_view"] = {**summarise([cold], True), "first": cold}
        rss["after_cold_view"] = round(rss_mb(pid), 1)
        say(f"{n}: cold view {json.dumps(cold)}")
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in PAGES}
        sign_ins: list[float] = []
        cpu0, wall0 = cpu_seconds(pid), time.monotonic()
        for r in range(args.repeat):
            for name, (path, is_map) in PAGES.items():
                with signed_in(browser, hub.url, hub.token) as (context, took):
                    sign_ins.append(took)
                    runs[name].append(
                        load(context, path.format(site=site), is_map, args.page_timeout)
                    )
            say(
                f"{n}: run {r + 1}: "
                + ", ".join(f"{k} fcp {v[-1].get('fcp_ms')}" for k, v in runs.items())
            )
        busy = (cpu_seconds(pid) - cpu0) / (time.monotonic() - wall0)
        result["hub_runs_cpu_pct"] = round(100 * busy, 1)
    for name, (_, is_map) in PAGES.items():
        pages[name] = summarise(runs[name], is_map)
    result["sign_in_ms"] = spread(sign_ins)
    result["loadavg_1m"]["after"] = loadavg()
    rss["after_runs"] = round(rss_mb(pid), 1)
    # No page open, the view alive (it ends 600 s after its last use): its own upkeep.
    result["hub_idle_with_view"] = with_view = cpu_profile(pid, args.idle_seconds)
    result["hub_idle_with_view_cpu_pct"] = with_view["mean_pct"]
    result["dashboard_rss_mb"] = round(rss["after_runs"] - rss["before_sign_in"], 1)
    result["api_list_all"] = baseline(hub, result.get("sites_listed", n), args)
    result["ratios"] = ratios(pages, result["api_list_all"])


def cpu_profile(pid: int, seconds: float) -> dict[str, float]:
    """The process's CPU over ``seconds``, read each second: the mean and the busiest
    second (% of one core), and how many seconds were over 90 %."""
    samples: list[float] = []
    last, at = cpu_seconds(pid), time.monotonic()
    end = at + seconds
    while time.monotonic() < end:
        time.sleep(1.0)
        now, moment = cpu_seconds(pid), time.monotonic()
        samples.append(100 * (now - last) / (moment - at))
        last, at = now, moment
    return {
        "mean_pct": round(sum(samples) / len(samples), 1) if samples else 0.0,
        "max_1s_pct": round(max(samples, default=0.0), 1),
        "seconds_over_90pct": sum(1 for s in samples if s > 90),
    }


def loadavg() -> float:
    """The machine's 1-minute load average (other work on it shows here)."""
    return float(Path("/proc/loadavg").read_text().split()[0])


def baseline(hub: HubProcess, n: int, args: Any) -> dict[str, Any]:
    """Every site listed over the API, ``--repeat`` times, each with a new connection."""
    times, sizes_, pages = [], [], 0
    for _ in range(args.repeat):
        with admin_client(hub.url, hub.token) as client:
            listing = list_all(client)
        if len(listing.sites) < n:
            raise RuntimeError(f"the API listed {len(listing.sites)} sites, not {n}")
        times.append(listing.seconds * 1000)
        sizes_.append(float(listing.bytes))
        pages = listing.pages
    return {
        "runs": args.repeat,
        "pages": pages,
        "page_size": 500,
        "ms": spread(times),
        "bytes": spread(sizes_),
    }


def pin_client(cpu: int | None) -> None:
    """This driver (and so Playwright's driver and chromium, its children) on ``cpu``."""
    if cpu is not None and cpu in os.sched_getaffinity(0):
        os.sched_setaffinity(0, {cpu})


def interrupted(signum: int, frame: FrameType | None) -> None:
    """SIGTERM as Ctrl-C: the context managers stop the browser, the simulator and the
    hub. Later ones are ignored, so that they do not cut that cleanup short (it is
    bounded: each process is killed when it does not stop in time)."""
    signal.signal(signum, signal.SIG_IGN)
    raise KeyboardInterrupt(f"signal {signum}")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sites", type=sizes, default=sizes("1000,10000"), help="N[,M...]")
    p.add_argument("--quick", action="store_true", help="A smoke run: 200 sites, 2 runs.")
    p.add_argument("--repeat", type=int, help="Loads per page (default 5; 2 with --quick).")
    p.add_argument("--heartbeat-seconds", type=float, default=10.0)
    p.add_argument("--source-addresses", type=int, default=64)
    p.add_argument("--join-within", type=float, default=1800.0, help="Seconds to join.")
    p.add_argument("--settle-seconds", type=float, default=5.0)
    p.add_argument(
        "--idle-seconds",
        type=float,
        default=IDLE_WINDOW_S,
        help="Hub CPU read this long before sign-in and after the runs (view alive).",
    )
    p.add_argument("--page-timeout", type=float, default=120.0, help="Seconds per page load.")
    p.add_argument("--hub-cpu", type=int, default=0)
    p.add_argument("--client-cpu", type=int, default=1)
    p.add_argument(
        "--work-dir", type=Path, help="Keep the hubs' data and the logs here (default: a temp dir)."
    )
    return p


def main() -> None:
    args = parser().parse_args()
    if args.quick:
        args.sites = [200]
    args.repeat = args.repeat or (2 if args.quick else 5)
    if args.quick and args.idle_seconds == IDLE_WINDOW_S:
        args.idle_seconds = 10.0
    if not 1 <= args.repeat <= 50:
        parser().error("--repeat: give 1 to 50")
    if not Path("/usr/bin/chromium").exists():
        parser().error("no /usr/bin/chromium: run scripts/ensure-chromium")
    cpus = os.sched_getaffinity(0)
    if len(cpus) < 2 or args.hub_cpu not in cpus or args.client_cpu not in cpus:
        args.hub_cpu = args.client_cpu = None  # one CPU: nothing to keep apart
    signal.signal(signal.SIGTERM, interrupted)
    print(f"descriptor limit {raise_nofile()}", file=sys.stderr)
    pin_client(args.client_cpu)
    results: list[dict[str, Any]] = []
    with contextlib.ExitStack() as stack:
        if args.work_dir is None:
            work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ep-dashboard-")))
        else:
            work = args.work_dir
            work.mkdir(parents=True, exist_ok=True)
        for n in args.sites:
            results.append(bench_size(n, args, work))
            print(f"  {n}: {json.dumps(results[-1])}", file=sys.stderr, flush=True)
    print_table(results, args)
    print(json.dumps(headline(results, args)))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
