"""Site loss: how fast replicas run elsewhere, and what failover must never do.

Four measurements (issue 13), each on loopback, a table and one final JSON line:

* ``failover_p50_s``, ``failover_p99_s``: a real hub and three real agents (process
  runtime) in a SiteGroup with ``heartbeatSeconds`` ``--period`` (1 s), one application
  of one replica (a sleeping Python process) with the default failover terms. Each of
  ``--runs`` times: SIGKILL the agent that runs it and then its workloads; the seconds
  from the kill until its Assignment is Running and ready at another site (polled every
  50 ms). The killed agent starts again ``--back-after-periods`` (12) periods after the
  kill, an outage the detector does not learn (it learns up to 10 periods: a site back
  sooner is found later when lost again). With few runs, p99 is the largest.
* ``double_run_s``: on the same fleet (every agent dials the hub through a toxiproxy
  proxy), a ``fencing: Strict`` singleton that writes a ledger line every 0.1 s; its
  site is cut off (toxiproxy ``timeout`` 0 both ways, the workload alive); the seconds
  during which two sites wrote at once, the time to the replacement's first line, and,
  once the site is healed and back, which copies run.
* ``false_failovers``: two agents and their hub in a network namespace whose nftables
  drop 20 % of the TCP packets each way (``benchmarks/support/lossysoak.py``, toxiproxy's
  emulation without root) for ``--soak-seconds``: sites marked Offline.
* ``region_loss_s``: ``edgeplane sim`` sites in two regions (``--region-sites``),
  applications spread over both; one region's simulator is killed at once; the seconds
  until every displaced replica is Running in the other (``benchmarks/support/regionloss.py``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.support import overlap  # noqa: E402
from benchmarks.support.failfleet import (  # noqa: E402
    SLEEPER,
    application,
    events,
    join,
    reader,
    recovery,
    running_at,
    settle,
    site_group,
    the_one_site,
)
from benchmarks.support.lossysoak import soak  # noqa: E402
from benchmarks.support.regionloss import region_loss  # noqa: E402
from benchmarks.support.stats import percentile  # noqa: E402
from tests.integration.failover.ledger import read  # noqa: E402
from tests.support.fleet import TRANSIENT, Fleet  # noqa: E402
from tests.support.toxiproxy import Proxy, find_binary, running_toxiproxy  # noqa: E402
from tests.support.waiting import wait_until  # noqa: E402

SITES = ["site-a", "site-b", "site-c"]
AFTER_HEAL_SECONDS = 5.0
"""How long a healed site is watched for a copy it should not start (several heartbeats)."""
QUOTED = {
    "karmada_s": "about 40 s (cluster-monitor-grace-period), eviction opt-in",
    "kubernetes_s": "50 s (node-monitor-grace-period) + 300 s (default toleration)",
}
"""The issue's figures for other systems: quoted, not measured here."""


def kill_once(fleet: Fleet, client: Any, app: str, away: float) -> dict[str, Any]:
    """Kill the agent running ``app`` and its workloads; the time to Running elsewhere.
    The agent starts again ``away`` seconds after the kill."""
    site = the_one_site(client, app)
    agent = fleet.agents[site]
    started = time.monotonic()
    agent.kill9()
    agent.kill_leftovers()
    to, times = recovery(client, app, site, started)
    settle(away - (time.monotonic() - started))
    agent.start()  # back for the next run, with the credential it holds
    wait_until(lambda: fleet.site_phase(site) == "Online", f"{site} back", 120, ignore=TRANSIENT)
    return {"from": site, "to": to, "seconds": times.pop("running_s"), **times}


def kill_runs(
    fleet: Fleet, client: Any, args: argparse.Namespace, lost: set[str]
) -> list[dict[str, Any]]:
    """``--runs`` kills of the site running a replica; ``lost``: the sites lost before."""
    runs, away = args.runs, args.back_after_periods * args.period
    fleet.ok("POST", "/applications", application("moved", SLEEPER))
    the_one_site(client, "moved")
    found: list[dict[str, Any]] = []
    for n in range(runs):
        found.append(kill_once(fleet, client, "moved", away))
        found[-1]["lost_before"] = found[-1]["from"] in lost
        lost.add(found[-1]["from"])
        print(f"  kill run {n + 1}: {found[-1]}", file=sys.stderr, flush=True)
    found[-1]["events"] = events(client, "moved")[-runs:]
    fleet.ok("DELETE", "/applications/moved")
    wait_until(lambda: not fleet.assignments("moved"), "moved removed", 120, ignore=TRANSIENT)
    return found


def double_run(
    fleet: Fleet, client: Any, proxies: dict[str, Proxy], path: Path, away: float
) -> dict[str, Any]:
    """Cut the site of a Strict singleton for ``away`` seconds at least; what its ledger
    says of the two copies."""
    args = [str(overlap.WORKLOAD), str(path)]
    fleet.ok("POST", "/applications", application("single", args, fencing="Strict"))
    site = the_one_site(client, "single")
    wait_until(lambda: any(x.site == site for x in read(path)), f"{site} writing", 60)
    cut_at = time.time()
    proxies[site].cut()
    to, _ = recovery(client, "single", site, time.monotonic())
    wait_until(lambda: any(x.site == to for x in read(path)), f"{to} writing", 60)
    settle(away - (time.time() - cut_at))
    healed_at = time.time()
    proxies[site].heal()
    wait_until(lambda: fleet.site_phase(site) == "Online", f"{site} back", 120, ignore=TRANSIENT)
    settle(AFTER_HEAL_SECONDS)
    lines = read(path)
    found = {
        "from": site,
        "to": to,
        "double_run_s": round(overlap.overlap_seconds(overlap.spans(lines)), 3),
        "original_last_line_s": round(max(x.at for x in lines if x.site == site) - cut_at, 3),
        "replacement_first_line_s": round(min(x.at for x in lines if x.site == to) - cut_at, 3),
        "running_after_heal": sorted(
            f"{s}@{e}" for s, e in overlap.writers_after(lines, healed_at)
        ),
        "running_at_end": sorted(running_at(client, "single")),
        "events": events(client, "single"),
    }
    fleet.ok("DELETE", "/applications/single")
    wait_until(lambda: not fleet.assignments("single"), "single removed", 120, ignore=TRANSIENT)
    return found


def parts(text: str) -> list[str]:
    found = [p for p in text.split(",") if p]
    if not found or set(found) - set(PARTS):
        raise argparse.ArgumentTypeError(f"{text!r}: give some of {','.join(PARTS)}")
    return found


def lossy_soak(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    return soak(tmp, args.soak_seconds, args.soak_period)


def lost_region(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    return region_loss(args, tmp)


def real_agents(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    """The kill runs and the double-run check on one fleet of three agents."""
    binary = find_binary(build=shutil.which("go") is not None)
    tmp.mkdir(parents=True)
    with (tmp / "toxiproxy.log").open("wb") as log, running_toxiproxy(binary, log) as toxi:
        fleet = Fleet(tmp)
        fleet.start_hub()
        client = reader(fleet)
        try:
            fleet.ok("POST", "/sitegroups", site_group(args.period))
            proxies = {s: toxi.proxy(s, f"127.0.0.1:{fleet.port}") for s in SITES}
            for s in SITES:
                join(fleet, s, proxies[s].url)
            # A new site's history assumes a lossy link for 30 intervals (docs/failover.md).
            settle(args.warmup_periods * args.period)
            # The cut first, at a site never lost before (a loss is learnt: docs/benchmarks.md).
            away = args.back_after_periods * args.period
            fenced = double_run(fleet, client, proxies, tmp / "ledger", away)
            runs = kill_runs(fleet, client, args, {fenced["from"]})
        finally:
            client.close()
            fleet.close()
    return {"runs": runs, "fenced": fenced}


PARTS = {"real": real_agents, "soak": lossy_soak, "region": lost_region}


def table(result: dict[str, Any], args: argparse.Namespace) -> None:
    if "real" in result:
        print(f"\nsite loss -> Running elsewhere: 3 real agents, heartbeatSeconds {args.period}")
        print("(failover.afterSeconds unset: 5 s after the last heartbeat; phi threshold 8)")
        head = ["run", "from", "lost before", "to", "Offline", "placed", "Running"]
        print(" ".join(f"{h:>11}" for h in head))
        for n, r in enumerate(result["real"]["runs"], 1):
            marks = [f"{r.get(k, float('nan')):>11.2f}" for k in ("offline_s", "placed_s")]
            cells = f"{n:>11} {r['from']:>11} {r['lost_before']!s:>11} {r['to']:>11}"
            print(f"{cells} {' '.join(marks)} {r['seconds']:>11.2f}")
        print("(seconds from the kill until the site was seen Offline, the replica placed")
        print(" elsewhere, and Running and ready there: the figure)")
        print(f"(p99 of {args.runs} runs is their largest)")
    titles = {
        "fenced": "Strict singleton, its site cut off",
        "soak": f"lossy-link soak, {args.soak_seconds:g} s",
        "region": "region loss on the simulator",
    }
    for part, title in titles.items():
        found = result.get("real", {}).get(part) if part == "fenced" else result.get(part)
        print(f"\n{title}:")
        for key, value in (found or {"skipped": True}).items():
            print(f"  {key}: {value}")
    print("\nquoted, not measured:", json.dumps(QUOTED))


def summary(result: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    times = [r["seconds"] for r in result.get("real", {}).get("runs", [])]
    fenced = result.get("real", {}).get("fenced", {})
    return {
        "failover_p50_s": round(percentile(times, 50), 3) if times else None,
        "failover_p99_s": round(max(times), 3) if times else None,
        "false_failovers": result.get("soak", {}).get("false_failovers"),
        "double_run_s": fenced.get("double_run_s"),
        "region_loss_s": result.get("region", {}).get("region_loss_s"),
        "runs": args.runs,
        "heartbeat_seconds": args.period,
        "replacement_s": fenced.get("replacement_first_line_s"),
        "soak_seconds": args.soak_seconds,
        "soak_heartbeat_seconds": args.soak_period,
        "region_sites": args.region_sites,
        "region_heartbeat_seconds": args.region_period,
        "quoted": QUOTED,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="Kill runs (real agents).")
    parser.add_argument("--period", type=float, default=1.0, help="The SiteGroup's heartbeat.")
    parser.add_argument("--warmup-periods", type=float, default=30.0)
    parser.add_argument(
        "--back-after-periods",
        type=float,
        default=12.0,
        help="A lost site returns no sooner (over 10 periods: the outage is not learnt).",
    )
    parser.add_argument("--soak-seconds", type=float, default=60.0)
    parser.add_argument("--soak-period", type=float, default=0.5)
    parser.add_argument("--region-sites", type=int, default=1000, help="Over two regions.")
    parser.add_argument("--region-period", type=float, default=2.0)
    parser.add_argument("--region-apps", type=int, default=10)
    parser.add_argument("--region-replicas", type=int, default=50)
    parser.add_argument("--parts", type=parts, default=list(PARTS), help="real,soak,region")
    args = parser.parse_args()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ep-failover-") as name:
        tmp = Path(name)
        result = {part: PARTS[part](args, tmp / part) for part in args.parts}
    table(result, args)
    print(f"(whole benchmark: {time.monotonic() - started:.0f} s)")
    print(json.dumps(summary(result, args)))


if __name__ == "__main__":
    main()
