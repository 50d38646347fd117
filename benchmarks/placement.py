"""The placement engine on a synthetic fleet, against a naive baseline.

Builds a fleet (default: 10,000 sites in 3 tiers and 20 regions, about 300 distinct
label sets, varied capacity, some taints) and 1,000 applications (30% EverySite, 70%
Replicas spread over regions, half of those Divided), with 5 CEL placement policies,
then measures in one process, on one core:

* full plan: a new ``Planner`` over everything, with a cold policy cache (after
  ``--warmup`` unmeasured runs, whose times are printed too);
* re-plan after one site goes Offline (one that holds replicas), and after one policy
  changes its expression: ``Planner.update`` with the new snapshot, which finds what
  changed and places again only the applications it touches;
* baseline: the same planner with a naive filter that runs every check and evaluates
  every policy (no cache) for every application x site pair. On the full fleet the
  baseline runs on a sample of applications and is scaled up; the table says so, and
  also gives the ratio on that same sample.

Prints a table and one JSON line with ``full_plan_s``, ``apps_per_s``,
``replan_site_offline_s``, ``replan_policy_s``, ``baseline_full_plan_s`` and
``speedup``. ``--quick`` uses 1,000 sites and 100 applications.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import gc
import json
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Hashable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edgeplane.api.selectors import parse_selector  # noqa: E402
from edgeplane.api.sites import SitePhase  # noqa: E402
from edgeplane.governance.cache import PlacementGovernor  # noqa: E402
from edgeplane.governance.policies import (  # noqa: E402
    CompiledPolicy,
    compile_policy,
    judge,
    policy_reason,
)
from edgeplane.placement.context import Context  # noqa: E402
from edgeplane.placement.filtering import first_reason_at  # noqa: E402
from edgeplane.placement.fleet import Ints  # noqa: E402
from edgeplane.placement.model import (  # noqa: E402
    AppView,
    SiteView,
    Snapshot,
    Spread,
    TaintView,
    TolerationView,
)
from edgeplane.placement.planner import Planner  # noqa: E402
from edgeplane.placement.reasons import Metrics  # noqa: E402

TIERS = ["edge", "aggregation", "cloud"]
REGIONS = [f"r{i:02d}" for i in range(20)]
POLICIES = [
    ('site.labels["jurisdiction"] == "eu"', {"matchLabels": {"data": "pii"}}),
    ('!(site.labels["tier"] == "cloud" && app.metadata.labels["tier"] == "edge")', None),
    ('site.labels["zone"] != "z2"', {"matchLabels": {"team": "t3"}}),
    ('"gpu" in site.labels || !has(app.metadata.labels.gpu)', None),
    ('site.labels["region"] != "r19"', {"matchLabels": {"team": "t1"}}),
]
CHANGED = ('site.labels["region"] != "r18"', {"matchLabels": {"team": "t1"}})


def fleet(count: int, rng: random.Random) -> tuple[SiteView, ...]:
    centres = {r: (rng.uniform(-50, 60), rng.uniform(-120, 140)) for r in REGIONS}
    sites = []
    for i in range(count):
        region = rng.choice(REGIONS)
        labels = {
            "region": region,
            "tier": rng.choices(TIERS, [80, 15, 5])[0],
            "zone": f"z{rng.randrange(3)}",
            "jurisdiction": "eu" if region < "r10" else "us",
        }
        if rng.random() < 0.05:
            labels["gpu"] = "true"
        taints = (TaintView("maintenance", None, "NoSchedule"),) if rng.random() < 0.02 else ()
        cpu = rng.choice([2000, 4000, 8000, 32000])
        lat, lon = centres[region]
        sites.append(
            SiteView(
                f"site-{i:05d}",
                labels,
                SitePhase.ONLINE,
                False,
                cpu,
                cpu * 2**19,
                taints,
                (lat + rng.uniform(-2, 2), lon + rng.uniform(-2, 2)),
            )
        )
    return tuple(sites)


def applications(count: int, rng: random.Random) -> tuple[AppView, ...]:
    apps = []
    for i in range(count):
        every = rng.random() < 0.3
        divided = not every and rng.random() < 0.5
        selector = rng.choice(
            ["tier=edge", "tier in (edge,aggregation)", f"region={rng.choice(REGIONS)}", ""]
        )
        apps.append(
            AppView(
                f"app-{i:04d}",
                every_site=every,
                replicas=0 if every else rng.randint(10, 100) if divided else rng.randint(1, 20),
                selector=parse_selector(selector),
                priority=rng.randint(0, 10),
                cpu_millis=rng.choice([10, 50, 100, 250]),
                memory_bytes=rng.choice([16, 64, 128]) * 2**20,
                tolerations=(TolerationView("maintenance", "Exists"),)
                if rng.random() < 0.1
                else (),
                spread=() if every else (Spread("region"),),
                divided=divided,
            )
        )
    return tuple(apps)


def raw_app(app: AppView, rng: random.Random) -> dict[str, Any]:
    labels = {"team": f"t{rng.randrange(5)}", "tier": rng.choice(["edge", "core"])}
    if rng.random() < 0.2:
        labels["data"] = "pii"
    return {"metadata": {"name": app.name, "generation": 1, "labels": labels}, "spec": {}}


def policies(changed: bool = False) -> list[CompiledPolicy]:
    found = []
    for i, (expression, selector) in enumerate(POLICIES):
        generation = 1
        if changed and i == len(POLICIES) - 1:
            (expression, selector), generation = CHANGED, 2
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


class Governed:
    """Placement's ``Policies`` over a governor, as the hub's PolicyGate does."""

    def __init__(self, governor: PlacementGovernor, raws: Mapping[str, Mapping[str, Any]]) -> None:
        self.governor, self.raws = governor, raws

    @property
    def version(self) -> Hashable:
        return self.governor.version

    def key(self, app: AppView) -> Hashable:
        return self.governor.key(self.raws[app.name])

    def verdicts(
        self, app: AppView, label_sets: Sequence[Mapping[str, str]]
    ) -> list[tuple[str | None, bool]]:
        denials = self.governor.denials(self.raws[app.name], label_sets)
        return [("excluded by policy " + ", ".join(d) if d else None, False) for d in denials]

    def reason(self, verdict: tuple[str | None, bool], held: bool) -> str | None:
        return policy_reason(verdict, held)


class NaivePlanner(Planner):
    """The baseline: every check and every policy, for every application x site pair."""

    compiled: list[CompiledPolicy] = []
    raws: Mapping[str, Mapping[str, Any]] = {}

    def filter(self, ctx: Context) -> tuple[Ints, Metrics]:
        ok = np.zeros(self.fleet.size, dtype=bool)
        why: Counter[str] = Counter()
        for i, site in enumerate(self.fleet.sites):
            denied = judge(self.compiled, self.raws[ctx.app.name], {"labels": dict(site.labels)})
            reason = first_reason_at(ctx, i, but=("policy",)) or (
                "excluded by policy " + ", ".join(sorted(v.policy for v in denied.denied))
                if denied.denied
                else None
            )
            if reason:
                why[reason] += 1
            else:
                ok[i] = True
        return np.flatnonzero(ok), Metrics(self.fleet.size, reasons=why)


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 sites, 100 applications")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1, help="unmeasured full plans first")
    args = parser.parse_args()
    n_sites, n_apps, sample = (1000, 100, 100) if args.quick else (10_000, 1000, 20)
    rng = random.Random(7)
    sites, apps = fleet(n_sites, rng), applications(n_apps, rng)
    raws = {a.name: raw_app(a, rng) for a in apps}
    label_sets = len({frozenset(s.labels.items()) for s in sites})
    compiled = policies()

    def snapshot(policy: Governed, some: tuple[AppView, ...] = apps) -> Snapshot:
        return Snapshot(some, sites, {}, {}, policy)

    # Unmeasured runs first: the hub's planner lives long, and a fresh process spends its
    # first run growing its heap (fresh pages fault), which is not placement. Their
    # times are printed too.
    warmups = [
        timed(lambda: Planner(snapshot(Governed(PlacementGovernor(compiled), raws))))[0]
        for _ in range(args.warmup)
    ]
    fulls = []
    planner = None
    for _ in range(args.runs):
        planner = None  # each run starts alone, as the hub's one planner does
        gc.collect()
        seconds, planner = timed(
            lambda: Planner(snapshot(Governed(PlacementGovernor(compiled), raws)))
        )
        fulls.append(seconds)
    assert planner is not None
    decisions = planner.decisions
    placed = sum(d.placed for d in decisions.values())
    unplaced = sum(1 for d in decisions.values() if d.unplaced)

    # Re-plans against the planner of the last full run, each from the state it left.
    current = {
        name: dict(zip(d.sites, d.counts or [1] * len(d.sites), strict=True))
        for name, d in decisions.items()
    }
    base = dataclasses.replace(planner.snapshot, current=current)
    planner.update(base)
    holders = Counter(s for a in apps if not a.every_site for s in decisions[a.name].sites)

    def one_offline(fleet_now: tuple[SiteView, ...], name: str) -> tuple[SiteView, ...]:
        return tuple(
            dataclasses.replace(s, phase=SitePhase.OFFLINE) if s.name == name else s
            for s in fleet_now
        )

    # Sites that hold Replicas replicas, so going offline moves something: five drawn at
    # random (their median is the figure), and the one that holds the most.
    drawn = random.Random(11).sample(sorted(holders), 5)
    busiest = holders.most_common(1)[0][0]
    offline, site_runs, moved_runs = sites, [], []
    for name in [*drawn, busiest]:
        offline = one_offline(offline, name)
        step = dataclasses.replace(base, sites=offline)
        seconds, moved = timed(functools.partial(planner.update, step))
        site_runs.append(seconds)
        moved_runs.append(len(moved))
    replan_site = statistics.median(site_runs[:-1])
    gate = base.policy
    assert isinstance(gate, Governed)
    renewed = Governed(gate.governor.renewed(policies(changed=True)), raws)
    after_site = dataclasses.replace(base, sites=offline)
    replan_policy, moved_policy = timed(
        lambda: planner.update(dataclasses.replace(after_site, policy=renewed))
    )

    some = apps[:sample]
    NaivePlanner.compiled, NaivePlanner.raws = compiled, raws
    baseline_sample, naive = timed(lambda: NaivePlanner(Snapshot(some, sites, {}, {})))
    planned_sample, same = timed(
        lambda: Planner(snapshot(Governed(PlacementGovernor(compiled), raws), some))
    )
    agree = all(naive.decisions[a.name].sites == same.decisions[a.name].sites for a in some)
    scale = len(apps) / len(some)
    baseline = baseline_sample * scale
    full_plan = statistics.median(fulls)
    result = {
        "sites": n_sites,
        "applications": n_apps,
        "label_sets": label_sets,
        "policies": len(compiled),
        "replicas_placed": placed,
        "apps_short": unplaced,
        "full_plan_s": round(full_plan, 3),
        "full_plan_runs_s": [round(f, 3) for f in fulls],
        "full_plan_warmup_s": [round(w, 3) for w in warmups],
        "apps_per_s": round(n_apps / full_plan, 1),
        "replan_site_offline_s": round(replan_site, 4),
        "replan_site_offline_runs_s": [round(r, 4) for r in site_runs[:-1]],
        "replan_site_offline_apps_changed": moved_runs[:-1],
        "replan_busiest_site_offline_s": round(site_runs[-1], 4),
        "replan_busiest_site_apps_changed": moved_runs[-1],
        "busiest_site_holds_replicas_of": holders[busiest],
        "replan_policy_s": round(replan_policy, 4),
        "replan_policy_apps_changed": len(moved_policy),
        "baseline_full_plan_s": round(baseline, 3),
        "baseline_sample_apps": len(some),
        "baseline_agrees": agree,
        "speedup": round(baseline / full_plan, 1),
        "speedup_same_sample": round(baseline_sample / planned_sample, 1),
    }
    print(
        f"\nplacement: {n_sites} sites ({label_sets} label sets), {n_apps} applications, "
        f"{len(compiled)} policies; {placed} replicas placed, {unplaced} apps short"
    )
    print(f"{'measure':<38} {'seconds':>9}")
    print(
        f"{'full plan (median of ' + str(args.runs) + ')':<38} {full_plan:>9.3f}   "
        f"{result['apps_per_s']} apps/s (warm-up: {', '.join(f'{w:.3f}' for w in warmups)})"
    )
    print(
        f"{'re-plan, one site offline (median/5)':<38} {replan_site:>9.4f}   "
        f"{statistics.median(moved_runs[:-1])} apps changed (median)"
    )
    print(
        f"{'re-plan, the busiest site offline':<38} {site_runs[-1]:>9.4f}   "
        f"{moved_runs[-1]} apps changed ({holders[busiest]} held replicas there)"
    )
    print(
        f"{'re-plan, one policy changed':<38} {replan_policy:>9.4f}   "
        f"{len(moved_policy)} apps changed"
    )
    note = f"(naive on {len(some)} apps, x{scale:.0f})" if scale > 1 else "(naive)"
    print(f"{'baseline full plan':<38} {baseline:>9.3f}   {note}")
    print(
        f"speedup {result['speedup']}x (same sample: {result['speedup_same_sample']}x; "
        f"same sites chosen: {agree})"
    )
    print("goals: full plan <= 0.5 s (>= 2,000 apps/s), each re-plan <= 50 ms")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
