"""Autoscaling: how fast replicas are Ready at a new demand, and whether a noisy metric
makes them flap.

A real hub (its autoscaler every ``--sync`` s) and real agents: three edge sites and
one cloud site (process runtime), in ordered SiteGroups ``[edge, cloud]``. One
application, Divided, at most 2 replicas per site, ``minReplicas`` 1,
``maxReplicas`` 8, on an External metric (``queue_depth``, 10 per replica) reported to
the hub's API, with the default behaviour (scale-down window 300 s) unless said.

* ``step``, ``--runs`` times: the metric steps from 10 to 75 (8 replicas: the edge's 6,
  then 2 in the cloud); the seconds from the report until the application has 8
  replicas Ready (``ready_s``), and until the hub first asked for 8 (``decided_s``).
  Then down to 10 with a short window (``--down-window``): the seconds until 1 is
  left (``down_s``, the window included).
* ``noise``: the metric around 40 (4 replicas) with uniform noise of ``--noise`` (15 %)
  reported every second for ``--noise-seconds``: the replica counts the hub asked for,
  and how often the direction changed (``reversals``; goal 0). Side by side, the same
  trace replayed through ``edgeplane.scaling`` with no tolerance, no windows and no
  rate limits (a plain proportional controller: the baseline), in the same run.

Prints a table and one final JSON line.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.support.stats import percentile  # noqa: E402
from edgeplane.scaling.behavior import decide  # noqa: E402
from edgeplane.scaling.hpa import recommend  # noqa: E402
from edgeplane.scaling.view import scaling_spec  # noqa: E402
from tests.integration.autoscaling.scaling import (  # noqa: E402
    application,
    directions,
    groups,
    reversals,
    status,
)
from tests.support.fleet import TRANSIENT, Fleet  # noqa: E402
from tests.support.waiting import wait_until  # noqa: E402

EDGE, CLOUD = ("edge-1", "edge-2", "edge-3"), ("cloud-1",)
METRIC = {
    "type": "External",
    "external": {
        "metric": {"name": "queue_depth"},
        "target": {"type": "AverageValue", "averageValue": 10},
    },
}
POLL = 0.1


def autoscaling(down_window: int | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {"minReplicas": 1, "maxReplicas": 8, "metrics": [METRIC]}
    if down_window is not None:
        found["behavior"] = {"scaleDown": {"stabilizationWindowSeconds": down_window}}
    return found


def report(fleet: Fleet, app: str, value: float) -> None:
    fleet.ok(
        "POST",
        f"/applications/{app}/metrics",
        {"metrics": [{"name": "queue_depth", "value": value}]},
    )


def ready(fleet: Fleet, app: str) -> int:
    return int(status(fleet, app).get("ready") or 0)


def desired(fleet: Fleet, app: str) -> int | None:
    return (status(fleet, app).get("autoscaling") or {}).get("desiredReplicas")


def until(check: Any, what: str, started: float, limit: float = 300) -> float:
    wait_until(check, what, limit, every=POLL, ignore=TRANSIENT)
    return time.monotonic() - started


def step_once(fleet: Fleet, app: str) -> dict[str, Any]:
    report(fleet, app, 10)
    until(
        lambda: ready(fleet, app) == 1 and desired(fleet, app) == 1, "1 replica", time.monotonic()
    )
    started = time.monotonic()
    report(fleet, app, 75)
    decided = until(lambda: desired(fleet, app) == 8, "8 asked for", started)
    up = until(lambda: ready(fleet, app) == 8, "8 Ready", started)
    started = time.monotonic()
    report(fleet, app, 10)
    down = until(lambda: ready(fleet, app) == 1 and desired(fleet, app) == 1, "1 left", started)
    return {"decided_s": decided, "ready_s": up, "down_s": down}


def noise_trace(args: argparse.Namespace) -> list[float]:
    rng = random.Random(args.seed)
    return [40 * (1 + rng.uniform(-args.noise, args.noise)) for _ in range(args.noise_seconds)]


def noisy(fleet: Fleet, app: str, trace: list[float]) -> dict[str, Any]:
    report(fleet, app, 40)
    until(lambda: ready(fleet, app) == 4, "4 Ready", time.monotonic())
    before = len(status(fleet, app).get("events") or [])
    asked: list[int] = []
    for value in trace:
        report(fleet, app, value)
        time.sleep(1.0)
        if (found := desired(fleet, app)) is not None and (not asked or asked[-1] != found):
            asked.append(found)
    moves = directions((status(fleet, app).get("events") or [])[before:])
    return {"asked": asked, "moves": len(moves), "reversals": reversals(moves)}


def replay(trace: list[float], raw: dict[str, Any], sync: float) -> dict[str, Any]:
    """The trace through ``edgeplane.scaling`` alone, one decision per ``sync`` s."""
    spec, current, history, events = scaling_spec(raw), 4, [], []  # type: ignore[var-annotated]
    asked, moves = [4], []
    for second in range(0, len(trace), max(1, int(sync))):
        now = 1_000.0 + second
        found = recommend(spec, current, {}, {"queue_depth": trace[second]})
        decision = decide(spec, current, found, history, events, now)
        history, events = list(decision.history), list(decision.events)
        if decision.desired != current:
            moves.append("up" if decision.desired > current else "down")
            current = decision.desired
            asked.append(current)
    return {"asked": asked, "moves": len(moves), "reversals": reversals(moves)}


NAIVE = {
    "minReplicas": 1,
    "maxReplicas": 8,
    "tolerance": 1e-6,
    "metrics": [METRIC],
    "behavior": {
        side: {
            "stabilizationWindowSeconds": 0,
            "policies": [{"type": "Pods", "value": 100, "periodSeconds": 1}],
        }
        for side in ("scaleUp", "scaleDown")
    },
}


def run(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    fleet = Fleet(tmp, hub_args=("--autoscale-seconds", str(args.sync)))
    try:
        fleet.start_hub()
        groups(fleet)
        for name in EDGE:
            fleet.add_agent(name, {"tier": "edge"}, "--cpu", "2")
        for name in CLOUD:
            fleet.add_agent(name, {"tier": "cloud"}, "--cpu", "8")
        for name in (*EDGE, *CLOUD):
            online = lambda n=name: fleet.site_phase(n) == "Online"  # noqa: E731
            wait_until(online, f"{name} Online", 60, ignore=TRANSIENT)
        fleet.ok("POST", "/applications", application("stepped", autoscaling(args.down_window)))
        steps = []
        for n in range(args.runs):
            steps.append(step_once(fleet, "stepped"))
            print(f"  step {n + 1}: {steps[-1]}", file=sys.stderr, flush=True)
        fleet.ok("DELETE", "/applications/stepped")
        fleet.ok("POST", "/applications", application("noisy", autoscaling()))
        trace = noise_trace(args)
        measured = noisy(fleet, "noisy", trace)
    finally:
        fleet.close()
    baseline = replay(trace, NAIVE, args.sync)
    ours = replay(trace, autoscaling(), args.sync)
    return {"steps": steps, "noise": measured, "noise_replay": ours, "noise_naive": baseline}


def figures(result: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    found: dict[str, Any] = {"sync_s": args.sync, "runs": len(result["steps"])}
    for key in ("decided_s", "ready_s", "down_s"):
        values = [s[key] for s in result["steps"]]
        found[f"{key[:-2]}_p50_s"] = round(percentile(values, 50), 2)
        found[f"{key[:-2]}_max_s"] = round(max(values), 2)
    found["noise_reversals"] = result["noise"]["reversals"]
    found["noise_moves"] = result["noise"]["moves"]
    found["naive_reversals"] = result["noise_naive"]["reversals"]
    found["naive_moves"] = result["noise_naive"]["moves"]
    return found


def table(result: dict[str, Any], args: argparse.Namespace) -> None:
    print(
        "\nmetric step 10 -> 75 (1 -> 8 replicas: 6 at the edge, 2 in the cloud), "
        f"sync {args.sync} s"
    )
    print(f"{'run':>4} {'asked 8':>9} {'8 Ready':>9} {'back to 1':>10}")
    for n, s in enumerate(result["steps"], 1):
        print(f"{n:>4} {s['decided_s']:>9.2f} {s['ready_s']:>9.2f} {s['down_s']:>10.2f}")
    print(
        "(seconds from the report; back to 1 includes the "
        f"{args.down_window:g} s scale-down window)"
    )
    print(f"\nnoisy metric: 40 +- {args.noise:.0%}, {args.noise_seconds} reports, one a second")
    print(f"{'controller':>34} {'moves':>6} {'reversals':>10}  counts asked")
    for label, key in (
        ("edgeplane hub (measured)", "noise"),
        ("edgeplane.scaling (replayed)", "noise_replay"),
        ("proportional, no windows (baseline)", "noise_naive"),
    ):
        r = result[key]
        shown = " ".join(map(str, r["asked"][:16])) + (" ..." if len(r["asked"]) > 16 else "")
        print(f"{label:>34} {r['moves']:>6} {r['reversals']:>10}  {shown}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sync", type=float, default=5.0, help="the hub's --autoscale-seconds")
    parser.add_argument("--down-window", type=int, default=20)
    parser.add_argument("--noise", type=float, default=0.15)
    parser.add_argument("--noise-seconds", type=int, default=120)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="autoscale-") as tmp:
        result = run(args, Path(tmp))
    result["figures"] = figures(result, args)
    table(result, args)
    print(json.dumps({"benchmark": "autoscale", **result["figures"]}))


if __name__ == "__main__":
    main()
