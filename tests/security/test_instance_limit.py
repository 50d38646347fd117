"""A site's instance cap, with a real hub and a real agent: an Assignment of 2^31-1
replicas that asks for no resources (so no capacity bounds it) runs only as many
instances as the agent's ``--max-instances``, says why the rest wait, and the agent
keeps serving (before the cap, it built a list of two billion instance keys)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.agent.test_replicas import NAME, assignment
from tests.support.fleet import DEMO_SERVICE, Fleet, demo_app, tarball, wait_for

pytestmark = pytest.mark.timeout(240)
HUGE = 2**31 - 1


def capped(fleet: Fleet) -> dict[str, Any] | None:
    status = fleet.ok("GET", f"/assignments/{NAME}").get("status") or {}
    return status if status.get("ready") == 3 and status.get("reason") == "InstanceLimit" else None


def test_a_huge_replica_count_runs_only_the_sites_instance_cap(fleet: Fleet) -> None:
    pushed = fleet.push_artifact("demo-service", "1.0.0", tarball(DEMO_SERVICE))
    agent = fleet.add_agent("site-a", None, "--max-instances", "3")
    wait_for(lambda: fleet.site_phase("site-a") == "Online", "site-a online")
    fleet.ok("POST", "/applications", demo_app("web", version="0.0.0-not-pushed"))
    huge = assignment(str(pushed["sha256"]), HUGE)
    del huge["spec"]["resources"]  # asks for nothing: every capacity holds it
    fleet.ok("POST", "/assignments", huge)

    status = wait_for(lambda: capped(fleet), "3 instances running, the rest waiting")
    assert f"{HUGE - 3} of {HUGE} replicas wait" in status["message"]
    assert "--max-instances" in status["message"]
    assert len(status["endpoints"]) == 3
    assert agent.process is not None and agent.process.poll() is None
    wait_for(lambda: fleet.site_phase("site-a") == "Online", "site-a still online")
