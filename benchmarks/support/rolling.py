"""The pure half of ``benchmarks/rollout.py``: the fleet's rings, the manifests, and the
clocks that turn what the hub showed into the two figures (no I/O here).

Sites are split in three rings, each one ``edgeplane sim`` process with a label
``ring=<name>``: ``canary`` (10 sites), ``wave1`` (10 % of the fleet) and ``rest``.
Two SiteGroups name the first two; the application's ``rollout.groups`` roll them out
in that order, then the implicit ``rest`` wave. ``RollbackClock`` follows the
Assignments' watch events of a rollout of a failing revision: when the first site
reported the failure, and when every Assignment that named the failing revision named
the stable one again. Neighbours: ``rollfleet`` (the hub, the simulators, the runs),
``stats`` (percentiles).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

CANARY_SITES = 10
WAVE_PERCENT = 10
RINGS = ("canary", "wave1", "rest")
GROUPS = {"canary": "rollout-canary", "wave1": "rollout-wave1"}
"""The SiteGroup of each ring that has one (``rest`` is the rollout's implicit wave)."""
WAVES = {"canary": "canary", "wave1": "wave-1"}
"""The rollout group (wave) of each ring that has a SiteGroup."""
FAILING = frozenset({"Failed", "CrashLoopBackOff", "Unhealthy"})
"""The phases the hub counts as a failure (``hub/controllers/rollouts.py``)."""
FAIL_ENV = "EDGEPLANE_SIM_FAIL"
APP = "rolled"
TERMINAL = frozenset({"Succeeded", "RolledBack", "Failed", "Aborted"})


def ring_sizes(sites: int) -> dict[str, int]:
    """Sites per ring: 10 canaries, 10 % of the fleet (at least 1), the rest (at least 1)."""
    if sites < CANARY_SITES + 2:
        raise ValueError(f"--sites {sites}: give at least {CANARY_SITES + 2} (10 canaries)")
    wave = max(1, sites * WAVE_PERCENT // 100)
    return {"canary": CANARY_SITES, "wave1": wave, "rest": sites - CANARY_SITES - wave}


def site_group(ring: str) -> dict[str, Any]:
    return {
        "apiVersion": "edgeplane.io/v1alpha1",
        "kind": "SiteGroup",
        "metadata": {"name": GROUPS[ring]},
        "spec": {"selector": {"matchLabels": {"ring": ring}}},
    }


def template(release: str, failing: bool = False) -> dict[str, Any]:
    """``spec.workload`` of one release; a failing one exits 1 at every start (the
    simulator's ``EDGEPLANE_SIM_FAIL``), crash-looping."""
    env = {"RELEASE": release, **({FAIL_ENV: "1"} if failing else {})}
    return {"process": {"command": "/bin/sleep", "args": ["infinity"], "env": env}}


def application(soak_seconds: float, release: str = "1") -> dict[str, Any]:
    """An EverySite application over every site, rolled out canary, wave1, rest."""
    groups = [{"name": WAVES[ring], "siteGroup": group} for ring, group in GROUPS.items()]
    rollout = {"groups": groups, "maxUnavailable": "10%", "minSuccessSeconds": soak_seconds}
    return {
        "apiVersion": "edgeplane.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": APP},
        "spec": {
            "workload": template(release),
            "resources": {"cpu": "10m", "memory": "1Mi"},
            "placement": {"mode": "EverySite"},
            "rollout": rollout,
        },
    }


def overhead(wall_s: float, soak_seconds: float, waves: int) -> float:
    """The rollout's time beyond its soaks: every wave soaks ``soak_seconds`` once."""
    return wall_s - soak_seconds * waves


def failing(item: Mapping[str, Any]) -> bool:
    """Whether the site reports its Assignment's current spec as failing."""
    status = item.get("status") or {}
    current = status.get("observedGeneration") == item["metadata"].get("generation")
    return current and status.get("phase") in FAILING


@dataclass
class RollbackClock:
    """When the revision rolled out over ``stable`` was first reported failing, and when
    every Assignment that named it named ``stable`` again (times as the watch delivered
    the events). Any revision but ``stable`` is the new one: the run makes only one."""

    stable: int
    bad: int | None = None
    at_bad: set[str] = field(default_factory=set)
    reached: set[str] = field(default_factory=set)
    """Every site ever told to run the new revision."""
    failed_at: float | None = None
    first_back_at: float | None = None
    all_back_at: float | None = None

    def note(self, item: Mapping[str, Any], at: float) -> None:
        site, revision = item["spec"]["site"], int(item["spec"]["revision"])
        if revision != self.stable:
            self.bad = revision
            self.at_bad.add(site)
            self.reached.add(site)
            if self.failed_at is None and failing(item):
                self.failed_at = at
        elif site in self.at_bad:
            self.at_bad.discard(site)
            if self.first_back_at is None:
                self.first_back_at = at
            if not self.at_bad:
                self.all_back_at = at

    @property
    def done(self) -> bool:
        return self.all_back_at is not None and not self.at_bad

    def figures(self) -> dict[str, Any]:
        """Seconds from the first failure seen to the first and the last rewrite back."""

        def since(at: float | None) -> float | None:
            if at is None or self.failed_at is None:
                return None
            return round(at - self.failed_at, 3)

        return {
            "rollback_issue_s": since(self.all_back_at),
            "first_back_s": since(self.first_back_at),
            "sites_that_ran_bad": len(self.reached),
        }


def wave_times(rollout: Mapping[str, Any]) -> list[tuple[str, int, str | None, str | None]]:
    """Each wave of ``status.rollout``: name, sites, startedAt, passedAt."""
    return [
        (str(w.get("name")), int(w.get("sites") or 0), w.get("startedAt"), w.get("passedAt"))
        for w in rollout.get("waves") or ()
    ]


def median(values: Sequence[float | None]) -> float | None:
    """The median of the known values (None when none is)."""
    known = [v for v in values if v is not None and not math.isnan(v)]
    return round(statistics.median(known), 3) if known else None
