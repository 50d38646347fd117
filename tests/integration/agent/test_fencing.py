"""Self-fencing with a real hub and a real agent: a ``failover.fencing: Strict``
application runs; the hub stops (the site is cut off from it); the agent stops that
workload by itself when its lease ends, and leaves a workload without fencing running;
the hub starts again, and once the agent has heard it and listed its assignments the
fenced workload runs again. (The hub's side of failover is not involved: one site.)"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edgeplane.agent.runtimes.process.processes import proc_stat
from tests.support.fleet import DEMO_SERVICE, Fleet, demo_app, endpoint, tarball, wait_for, who

HEARTBEAT_SECONDS = "2"
"""The hub's period for its sites: a 6 s lease, so the agent fences 4 s after its last
heartbeat answered Online."""


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    fleet = Fleet(tmp_path, hub_args=("--heartbeat-seconds", HEARTBEAT_SECONDS))
    fleet.start_hub()
    try:
        yield fleet
    finally:
        fleet.close()


def strict_app(name: str) -> dict[str, Any]:
    app = demo_app(name, mode="Replicas", replicas=1)
    app["spec"]["failover"] = {"fencing": "Strict"}
    return app


def pid_of(fleet: Fleet, app: str) -> int | None:
    """The pid of the app's instance once it runs (and answers) at site f-1."""
    running = fleet.running(app, {"f-1"})
    return int(who(endpoint(running["f-1"]))["pid"]) if running else None


def gone(pid: int) -> bool:
    """Stopped and reaped by the agent (no zombie left)."""
    return proc_stat(pid) is None


def test_a_cut_off_site_stops_its_strict_workload_and_starts_it_when_the_hub_is_back(
    fleet: Fleet,
) -> None:
    fleet.push_artifact("demo-service", "1.0.0", tarball(DEMO_SERVICE))
    fleet.add_agent("f-1")
    wait_for(lambda: fleet.site_phase("f-1") == "Online", "f-1 Online")
    fleet.ok("POST", "/applications", strict_app("single"))
    fleet.ok("POST", "/applications", demo_app("free"))
    single = wait_for(lambda: pid_of(fleet, "single"), "the Strict app to run")
    free = wait_for(lambda: pid_of(fleet, "free"), "the app without fencing to run")
    assignment = fleet.assignments("single")["f-1"]
    assert assignment["spec"]["fencing"] == "Strict"

    fleet.stop_hub()
    wait_for(lambda: gone(single), "the agent to stop the Strict workload by itself")
    assert not gone(free), "a workload without fencing is never fenced"

    fleet.start_hub()
    again = wait_for(lambda: pid_of(fleet, "single"), "the Strict app to run again")
    assert again != single
    assert pid_of(fleet, "free") == free, "the other workload ran on throughout"
    log = fleet.agents["f-1"].log.read_text()
    assert "fencing" in log and "fenced workloads may run" in log
