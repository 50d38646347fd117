"""Autoscaling on a metric each instance reports to its agent, under real load.

A load generator sends 25 requests a second, spread over the application's endpoints;
each instance reports the requests it serves per second (``loadservice.py``), its agent
averages them into its assignment's status, and the hub's autoscaler (5 a second per
replica) grows the application to 5: two at each edge site, then one in the cloud.
When the load stops, it shrinks to 1 after its 8 s scale-down window, without going
back up in between, and never past its bounds.
"""

from __future__ import annotations

import itertools
import sys
import threading
from pathlib import Path
from typing import Any

import httpx

from tests.integration.autoscaling.scaling import (
    FAST,
    application,
    directions,
    groups,
    ready_as,
    reversals,
    status,
)
from tests.support.fleet import Fleet, wait_for

SERVICE = Path(__file__).with_name("loadservice.py")
RATE = {
    "minReplicas": 1,
    "maxReplicas": 5,
    "metrics": [
        {
            "type": "Pods",
            "pods": {
                "metric": {"name": "requests_per_second"},
                "target": {"type": "AverageValue", "averageValue": 5},
            },
        }
    ],
    "behavior": {
        "scaleUp": {"policies": [{"type": "Pods", "value": 4, "periodSeconds": 5}]},
        "scaleDown": {"stabilizationWindowSeconds": 8},
    },
}


class Load:
    """Requests at ``per_second`` over the application's endpoints (read again each
    second), on a thread, until stopped."""

    def __init__(self, fleet: Fleet, app: str, per_second: float) -> None:
        self.fleet, self.app, self.every = fleet, app, 1.0 / per_second
        self.stop = threading.Event()
        self.sent = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _urls(self) -> list[str]:
        found = self.fleet.assignments(self.app).values()
        return [e["url"] for a in found for e in (a.get("status") or {}).get("endpoints") or ()]

    def _run(self) -> None:
        with httpx.Client(timeout=2) as client:
            while not self.stop.is_set():
                urls = self._urls()
                for url in itertools.islice(itertools.cycle(urls), int(1 / self.every)):
                    if self.stop.wait(self.every):
                        return
                    try:
                        client.get(url)
                        self.sent += 1
                    except httpx.HTTPError:
                        pass  # an instance stopping: the next second reads them again
                if not urls:
                    self.stop.wait(1.0)

    def __enter__(self) -> Load:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(10)


def test_replicas_grow_with_load_across_sites_and_shrink_without_flapping(
    tmp_path: Path,
) -> None:
    fleet = Fleet(tmp_path, hub_args=FAST)
    seen: list[int] = []
    try:
        fleet.start_hub()
        groups(fleet)
        for name, tier in (("edge-1", "edge"), ("edge-2", "edge"), ("cloud-1", "cloud")):
            fleet.add_agent(name, {"tier": tier}, "--metrics-seconds", "1")
        process: dict[str, Any] = {
            "command": sys.executable,
            "args": [str(SERVICE)],
            "ports": [{"name": "http"}],
        }
        fleet.ok("POST", "/applications", application("api", RATE, process))

        def desired() -> int | None:
            found = (status(fleet, "api").get("autoscaling") or {}).get("desiredReplicas")
            if found is not None:
                seen.append(found)
            return found

        wait_for(lambda: sum(ready_as_any(fleet).values()) == 1 or None, "one replica Ready")
        with Load(fleet, "api", 25):
            full = {"edge-1": 2, "edge-2": 2, "cloud-1": 1}
            wait_for(lambda: desired() and ready_as(fleet, "api", full), "5 Ready", 120)
            metric = status(fleet, "api")["autoscaling"]["currentMetrics"][0]
            assert metric["name"] == "requests_per_second"
        wait_for(
            lambda: (desired() == 1 and sum(ready_as_any(fleet).values()) == 1) or None,
            "back to one replica once the load stopped",
            120,
        )
        assert all(1 <= n <= 5 for n in seen), seen
        moves = directions(status(fleet, "api").get("events") or [])
        assert moves and moves[0] == "up" and moves[-1] == "down", moves
        assert reversals(moves) == 1, moves
    finally:
        fleet.close()


def ready_as_any(fleet: Fleet) -> dict[str, int]:
    """Site -> Ready replicas of ``api`` where every replica there is Ready."""
    found = fleet.assignments("api")
    return {
        s: a["spec"]["replicas"]
        for s, a in found.items()
        if (a.get("status") or {}).get("ready") == a["spec"]["replicas"]
    }
