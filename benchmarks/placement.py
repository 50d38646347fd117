"""The placement planner on a synthetic fleet, against a naive baseline.

Builds a fleet (default: 10,000 sites in 3 tiers and 20 regions, about 300 distinct
label sets, varied capacity, some taints) and 1,000 applications (30% EverySite, 70%
Replicas with spread), with 5 CEL placement policies, then measures in one process:

* full plan: ``place()`` over everything, policies through the cached governor;
* re-plan after one site goes Offline, and after one policy changes (today both are
  full passes: the planner is not incremental yet);
* baseline: the same checks run for every application x site pair, and every policy
  evaluated for every pair (each site given a label of its own, so neither the
  label-set grouping nor any cache can help). On the full fleet the baseline runs on a
  sample of applications and is scaled up, which the table says.

Prints a table and one JSON line with ``full_plan_s``, ``apps_per_s``,
``replan_site_offline_s``, ``replan_policy_s``, ``baseline_full_plan_s`` and
``speedup``. ``--quick`` uses 1,000 sites and 100 applications.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edgeplane.api.selectors import parse_selector  # noqa: E402
from edgeplane.governance.cache import PlacementGovernor  # noqa: E402
from edgeplane.governance.policies import CompiledPolicy, compile_policy, judge  # noqa: E402
from edgeplane.placement.simple import (  # noqa: E402
    AppView,
    SiteView,
    Snapshot,
    TaintView,
    TolerationView,
    place,
)

TIERS = ["edge", "aggregation", "cloud"]
REGIONS = [f"r{i:02d}" for i in range(20)]
POLICIES = [
    ('site.labels["jurisdiction"] == "eu"', {"matchLabels": {"data": "pii"}}),
    ('!(site.labels["tier"] == "cloud" && app.metadata.labels["tier"] == "edge")', None),
    ('site.labels["zone"] != "z4"', {"matchLabels": {"team": "t3"}}),
    ('"gpu" in site.labels || !has(app.metadata.labels.gpu)', None),
    ('site.labels["region"] != "r19"', {"matchLabels": {"team": "t1"}}),
]


def fleet(count: int, rng: random.Random) -> tuple[SiteView, ...]:
    sites = []
    for i in range(count):
        region = rng.choice(REGIONS)
        labels = {
            "region": region,
            "tier": rng.choices(TIERS, [80, 15, 5])[0],
            "zone": f"z{rng.randrange(5)}",
            "jurisdiction": "eu" if region < "r10" else "us",
        }
        if rng.random() < 0.05:
            labels["gpu"] = "true"
        taints = (TaintView("maintenance", None, "NoSchedule"),) if rng.random() < 0.02 else ()
        cpu = rng.choice([2000, 4000, 8000, 32000])
        sites.append(SiteView(f"site-{i:05d}", labels, "Online", False, cpu, cpu * 2**19, taints))
    return tuple(sites)


def applications(count: int, rng: random.Random) -> tuple[AppView, ...]:
    apps = []
    for i in range(count):
        every = rng.random() < 0.3
        selector = rng.choice(
            ["tier=edge", "tier in (edge,aggregation)", f"region={rng.choice(REGIONS)}", ""]
        )
        apps.append(
            AppView(
                f"app-{i:04d}",
                every_site=every,
                replicas=0 if every else rng.randint(1, 20),
                selector=parse_selector(selector),
                priority=rng.randint(0, 10),
                cpu_millis=rng.choice([10, 50, 100, 250]),
                memory_bytes=rng.choice([16, 64, 128]) * 2**20,
                tolerations=(TolerationView("maintenance", "Exists"),)
                if rng.random() < 0.1
                else (),
                spread=() if every else (("region", 1),),
            )
        )
    return tuple(apps)


def raw_app(app: AppView, rng: random.Random) -> dict[str, Any]:
    labels = {"team": f"t{rng.randrange(5)}", "tier": rng.choice(["edge", "core"])}
    if rng.random() < 0.2:
        labels["data"] = "pii"
    return {"metadata": {"name": app.name, "generation": 1, "labels": labels}, "spec": {}}


def policies(generation: int = 1) -> list[CompiledPolicy]:
    found = []
    for i, (expression, selector) in enumerate(POLICIES):
        spec: dict[str, Any] = {
            "scope": "Placement",
            "enforcement": "Deny",
            "rules": [{"name": "r", "expression": expression}],
        }
        if selector:
            spec["selector"] = selector
        found.append(
            compile_policy({"metadata": {"name": f"p{i}", "generation": generation}, "spec": spec})
        )
    return found


PolicyFn = Callable[[AppView, SiteView, bool], str | None]


def cached_check(governor: PlacementGovernor, raws: dict[str, dict[str, Any]]) -> PolicyFn:
    def check(app: AppView, site: SiteView, held: bool) -> str | None:
        verdict = governor.verdict(raws[app.name], site.labels)
        return None if verdict.allowed else "excluded by policy"

    return check


def naive_check(compiled: list[CompiledPolicy], raws: dict[str, dict[str, Any]]) -> PolicyFn:
    def check(app: AppView, site: SiteView, held: bool) -> str | None:
        verdict = judge(compiled, raws[app.name], {"labels": dict(site.labels)})
        return None if verdict.allowed else "excluded by policy"

    return check


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 sites, 100 applications")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    n_sites, n_apps, sample = (1000, 100, 100) if args.quick else (10_000, 1000, 50)
    rng = random.Random(7)
    sites, apps = fleet(n_sites, rng), applications(n_apps, rng)
    raws = {a.name: raw_app(a, rng) for a in apps}
    label_sets = len({frozenset(s.labels.items()) for s in sites})
    compiled = policies()

    def full(
        policy_fn: PolicyFn,
        fleet_sites: tuple[SiteView, ...] = sites,
        some: tuple[AppView, ...] = apps,
    ) -> Any:
        return place(Snapshot(some, fleet_sites, {}, {}, policy_fn))

    fulls = []
    for _ in range(args.runs):
        seconds, decisions = timed(lambda: full(cached_check(PlacementGovernor(compiled), raws)))
        fulls.append(seconds)
    current = {name: frozenset(d.sites) for name, d in decisions.items()}
    governor = PlacementGovernor(compiled)
    check = cached_check(governor, raws)
    full(check)  # a warm cache, as the controller keeps it between passes
    offline = tuple(
        dataclasses.replace(s, phase="Offline") if i == 0 else s for i, s in enumerate(sites)
    )
    replan_site, _ = timed(lambda: place(Snapshot(apps, offline, {}, current, check)))
    changed = [*policies()[:-1], policies(generation=2)[-1]]
    replan_policy, _ = timed(
        lambda: place(
            Snapshot(apps, sites, {}, current, cached_check(PlacementGovernor(changed), raws))
        )
    )
    some = apps[:sample]
    unique = tuple(dataclasses.replace(s, labels={**s.labels, "id": s.name}) for s in sites)
    baseline_sample, _ = timed(lambda: full(naive_check(compiled, raws), unique, some))
    planned_sample, _ = timed(
        lambda: full(cached_check(PlacementGovernor(compiled), raws), some=some)
    )
    scale = len(apps) / len(some)
    baseline = baseline_sample * scale
    full_plan = statistics.median(fulls)
    result = {
        "sites": n_sites,
        "applications": n_apps,
        "label_sets": label_sets,
        "policies": len(compiled),
        "full_plan_s": round(full_plan, 3),
        "apps_per_s": round(n_apps / full_plan, 1),
        "replan_site_offline_s": round(replan_site, 3),
        "replan_policy_s": round(replan_policy, 3),
        "baseline_full_plan_s": round(baseline, 3),
        "baseline_sample_apps": len(some),
        "speedup": round(baseline / full_plan, 2),
        "speedup_same_sample": round(baseline_sample / planned_sample, 2),
    }
    print(
        f"\nplacement: {n_sites} sites ({label_sets} label sets), {n_apps} applications, "
        f"{len(compiled)} policies"
    )
    print(f"{'measure':<34} {'seconds':>9}")
    print(
        f"{'full plan (median of ' + str(args.runs) + ')':<34} {full_plan:>9.3f}   "
        f"{result['apps_per_s']} apps/s"
    )
    print(f"{'re-plan, one site offline':<34} {replan_site:>9.3f}")
    print(f"{'re-plan, one policy changed':<34} {replan_policy:>9.3f}")
    note = (
        f"(naive policies on {len(some)} apps, x{scale:.0f})" if scale > 1 else "(naive policies)"
    )
    print(f"{'baseline full plan':<34} {baseline:>9.3f}   {note}")
    print(f"speedup {result['speedup']}x (same sample: {result['speedup_same_sample']}x)")
    print("goals: full plan <= 0.5 s (>= 2,000 apps/s), each re-plan <= 50 ms")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
