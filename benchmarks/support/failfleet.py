"""Real sites for ``benchmarks/failover.py``: a SiteGroup that sets their heartbeat, the
applications the benchmark moves, agents that join (through a proxy when given), and
readings of the hub (where a replica runs, an application's events, its counters).

The processes themselves are ``tests/support/fleet.Fleet``'s; the faults are
``tests/support/toxiproxy`` (cuts) and ``tests/support/netns`` (packet loss).
"""

from __future__ import annotations

import re
import sys
import time
from typing import Any

import httpx

from tests.support.fleet import API, TRANSIENT, Agent, Fleet
from tests.support.waiting import wait_until

GROUP = "failover-bench"
MEMBER = {"failover-bench": "yes"}
SLEEPER = ["-c", "import time\nwhile True: time.sleep(60)"]
"""A workload that only runs: failover moves it, nothing more is asked of it."""
APP_LABEL = "edgeplane.io/application"


def site_group(period: float) -> dict[str, Any]:
    """The SiteGroup over the benchmark's sites: heartbeats every ``period`` seconds."""
    return {
        "apiVersion": "edgeplane.io/v1alpha1",
        "kind": "SiteGroup",
        "metadata": {"name": GROUP},
        "spec": {"selector": {"matchLabels": MEMBER}, "health": {"heartbeatSeconds": period}},
    }


def application(name: str, args: list[str], **failover: Any) -> dict[str, Any]:
    """One replica of ``python ARGS`` at the group's sites, with ``failover`` terms."""
    process = {"command": sys.executable, "args": args, "terminationGracePeriodSeconds": 1}
    spec: dict[str, Any] = {
        "workload": {"process": process},
        "resources": {"cpu": "100m", "memory": "16Mi"},
        "placement": {"mode": "Replicas", "replicas": 1, "siteGroups": [GROUP]},
    }
    if failover:
        spec["failover"] = failover
    meta = {"name": name}
    return {
        "apiVersion": "edgeplane.io/v1alpha1",
        "kind": "Application",
        "metadata": meta,
        "spec": spec,
    }


def join(fleet: Fleet, name: str, hub_url: str | None = None) -> Agent:
    """A site of the group (dialling ``hub_url``, a proxy's, when given), Online."""
    # 2 s until the hub's first answer tells the agent its group's period.
    flags = ["--heartbeat-seconds", "2"]
    agent = Agent(name, fleet.root / "sites" / name, hub_url or fleet.hub_url, flags)
    agent.wrap = fleet.wrap
    agent.start(join=fleet.join_token({**MEMBER, "site": name}))
    fleet.agents[name] = agent
    wait_until(lambda: fleet.site_phase(name) == "Online", f"{name} Online", 60, ignore=TRANSIENT)
    return agent


def reader(fleet: Fleet) -> httpx.Client:
    """A keep-alive client of the hub's API as admin (polling every 50 ms is cheap)."""
    headers = {"Authorization": f"Bearer {fleet.token}"}
    return httpx.Client(base_url=f"{fleet.url}{API}", headers=headers, timeout=30)


def assignments(client: httpx.Client, app: str) -> list[dict[str, Any]]:
    params = {"labelSelector": f"{APP_LABEL}={app}"}
    items: list[dict[str, Any]] = (
        client.get("/assignments", params=params).raise_for_status().json()["items"]
    )
    return items


def is_running(assignment: dict[str, Any]) -> bool:
    status = assignment.get("status") or {}
    return status.get("phase") == "Running" and (status.get("ready") or 0) >= 1


def running_at(client: httpx.Client, app: str) -> set[str]:
    """The sites where ``app``'s assignment is Running and ready."""
    return {i["spec"]["site"] for i in assignments(client, app) if is_running(i)}


def recovery(
    client: httpx.Client, app: str, lost: str, started: float, within: float = 120
) -> tuple[str, dict[str, float]]:
    """Polls every 50 ms until ``app`` runs at a site other than ``lost``: that site, and
    the seconds since ``started`` (monotonic) at which ``lost`` was first seen Offline,
    an Assignment first existed elsewhere, and it first ran there."""
    seen: dict[str, float] = {}

    def look() -> str | None:
        at = round(time.monotonic() - started, 3)
        if phases(client, [lost])[lost] == "Offline":
            seen.setdefault("offline_s", at)
        elsewhere = [i for i in assignments(client, app) if i["spec"]["site"] != lost]
        if elsewhere:
            seen.setdefault("placed_s", at)
        return next((i["spec"]["site"] for i in elsewhere if is_running(i)), None)

    to = wait_until(
        look, f"{app} Running elsewhere than {lost}", within, every=0.05, ignore=TRANSIENT
    )
    return to, {**seen, "running_s": round(time.monotonic() - started, 3)}


def the_one_site(client: httpx.Client, app: str, within: float = 120) -> str:
    """The site ``app``'s single replica runs at, once it runs."""
    found = wait_until(lambda: running_at(client, app), f"{app} Running", within, ignore=TRANSIENT)
    return next(iter(found))


def events(client: httpx.Client, app: str, reason: str = "FailedOver") -> list[str]:
    """The messages of the application's status events with ``reason``."""
    status = client.get(f"/applications/{app}").raise_for_status().json().get("status") or {}
    return [e["message"] for e in status.get("events") or [] if e.get("reason") == reason]


def counter(fleet: Fleet, name: str, series: str = "") -> float:
    """A counter of the hub's ``/metrics``, summed over the series whose labels contain
    ``series``."""
    headers = {"Authorization": f"Bearer {fleet.token}"}
    text = httpx.get(f"{fleet.url}/metrics", headers=headers, timeout=60).text
    # A route's label may hold braces itself ("/sites/{site}/heartbeat").
    found = re.findall(rf"^{name}\{{(.*)\}} (\S+)$", text, re.M)
    return sum(float(value) for labels, value in found if series in labels)


def phases(client: httpx.Client, names: list[str]) -> dict[str, str | None]:
    """Each site's phase now."""
    return {n: (client.get(f"/sites/{n}").json().get("status") or {}).get("phase") for n in names}


def settle(seconds: float) -> None:
    """Let the fleet run on for ``seconds`` (a schedule of the benchmark, not a wait for a
    state: what happens meanwhile is what is measured); nothing when not positive."""
    time.sleep(max(0.0, seconds))
