"""What the autoscaling tests share: edge and cloud sites in ordered SiteGroups, an
autoscaled application, and readings of its status and events.

Neighbours: ``test_external`` (a metric reported to the hub's API),
``test_workload_metric`` (a metric each instance reports to its agent, under load).
"""

from __future__ import annotations

import itertools
import sys
from typing import Any

from tests.support.fleet import Fleet

SLEEPER = ["-c", "import time\nwhile True: time.sleep(60)"]
FAST = ("--autoscale-seconds", "1")
"""The hub's autoscaler every second (HPA's 15 s would only make the tests long)."""


def groups(fleet: Fleet) -> None:
    """``edge`` (tier edge) before ``cloud`` (tier cloud): edge first, cloud when full."""
    for tier in ("edge", "cloud"):
        fleet.ok(
            "POST",
            "/sitegroups",
            {
                "apiVersion": "edgeplane.io/v1alpha1",
                "kind": "SiteGroup",
                "metadata": {"name": tier},
                "spec": {"selector": {"matchLabels": {"tier": tier}}},
            },
        )


def application(
    name: str, autoscaling: dict[str, Any], process: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Divided over [edge, cloud], at most 2 per site, autoscaled."""
    process = process or {"command": sys.executable, "args": SLEEPER}
    return {
        "apiVersion": "edgeplane.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": name},
        "spec": {
            "workload": {"process": {**process, "terminationGracePeriodSeconds": 1}},
            "resources": {"cpu": "50m", "memory": "16Mi"},
            "placement": {
                "mode": "Replicas",
                "replicas": 1,
                "division": "Divided",
                "maxPerSite": 2,
                "siteGroups": ["edge", "cloud"],
            },
            "autoscaling": autoscaling,
        },
    }


def status(fleet: Fleet, name: str) -> dict[str, Any]:
    return dict(fleet.ok("GET", f"/applications/{name}").get("status") or {})


def placed(fleet: Fleet, name: str) -> dict[str, int]:
    """Site -> replicas of the application's assignments."""
    return {site: a["spec"]["replicas"] for site, a in fleet.assignments(name).items()}


def ready_as(fleet: Fleet, name: str, wanted: dict[str, int]) -> dict[str, int] | None:
    """The placement once it is ``wanted`` and every replica is Ready."""
    found = fleet.assignments(name)
    if {s: a["spec"]["replicas"] for s, a in found.items()} != wanted:
        return None
    for a in found.values():
        st = a.get("status") or {}
        if st.get("ready") != a["spec"]["replicas"] or st.get("phase") != "Running":
            return None
    return wanted


def directions(events: list[dict[str, Any]]) -> list[str]:
    """The application's scaling events in order: ``up``/``down``."""
    moves = {"ScaledUp": "up", "ScaledDown": "down"}
    return [moves[e["reason"]] for e in events if e["reason"] in moves]


def reversals(moves: list[str]) -> int:
    """How often the direction changed (flapping: up, down, up...)."""
    return sum(1 for a, b in itertools.pairwise(moves) if a != b)
