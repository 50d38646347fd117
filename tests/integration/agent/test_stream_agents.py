"""Real agents on the site's one stream (protocol v2, the default) and on protocol v1,
against a real hub process: assignments and removals, log requests, a hub restart
resumed from the stored version, and a relist when that version is compacted away.

Which protocol an agent spoke is read from the hub's own request counts (``/metrics``,
by route), so each test shows the path its agent took, not only that work got done.
"""

from __future__ import annotations

import re
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.fleet import Agent, Fleet, wait_for

pytestmark = pytest.mark.timeout(240)
STREAM = "/api/v1alpha1/sites/{site}/stream"
POLL = "/api/v1alpha1/sites/{site}/requests"
WATCH_OR_LIST = "/api/v1alpha1/{plural}"
SMALL_LOG = ("--event-retention", "1", "--event-retention-bytes", "2048")


@pytest.fixture
def small_log_fleet(tmp_path: Path) -> Iterator[Fleet]:
    fleet = Fleet(tmp_path, hub_args=SMALL_LOG)
    fleet.start_hub()
    try:
        yield fleet
    finally:
        fleet.close()


def sleeper(name: str, site: str, says: str = "") -> dict[str, Any]:
    """A process that says one line and sleeps, placed at ``site`` only."""
    code = f"import time; print({says!r}, flush=True); time.sleep(600)"
    return {
        "apiVersion": "edgeplane.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": name},
        "spec": {
            "workload": {"process": {"command": sys.executable, "args": ["-c", code]}},
            "resources": {"cpu": "100m", "memory": "16Mi"},
            "placement": {"mode": "EverySite", "selector": {"matchLabels": {"at": site}}},
        },
    }


def running(fleet: Fleet, app: str, site: str) -> bool:
    status = (fleet.assignments(app).get(site) or {}).get("status") or {}
    return status.get("phase") == "Running"


def requests_by_route(fleet: Fleet) -> dict[str, int]:
    """GET requests the hub answered, by route template (every status summed)."""
    answer = httpx.get(f"{fleet.url}/metrics", headers={"Authorization": f"Bearer {fleet.token}"})
    counts: dict[str, int] = {}
    pattern = r'edgeplane_http_requests_total\{method="GET",route="([^"]+)",status="\d+"\} (\S+)'
    for route, value in re.findall(pattern, answer.text):
        counts[route] = counts.get(route, 0) + int(float(value))
    return counts


def local_assignments(agent: Agent) -> set[str]:
    """What the agent's state.db holds (read beside the running agent: WAL)."""
    with sqlite3.connect(agent.data_dir / "state.db") as db:
        return {row[0] for row in db.execute("SELECT name FROM assignments")}


def local_version(agent: Agent) -> int:
    with sqlite3.connect(agent.data_dir / "state.db") as db:
        row = db.execute("SELECT value FROM meta WHERE key = 'resourceVersion'").fetchone()
    return int(row[0])


def relists(agent: Agent) -> int:
    return agent.log.read_text().count("listed ")


def logs(fleet: Fleet, app: str, site: str, says: str) -> str | None:
    answer = fleet.api("GET", f"/sites/{site}/logs", params={"application": app, "tail": "5"})
    return answer.text if answer.status_code == 200 and says in answer.text else None


def test_a_v2_agent_gets_assignments_removals_and_requests_by_its_stream(fleet: Fleet) -> None:
    agent = fleet.add_agent("site-a", {"at": "site-a"})
    fleet.ok("POST", "/applications", sleeper("web", "site-a", "hello from the stream"))
    wait_for(lambda: running(fleet, "web", "site-a"), "web running at site-a")
    text = wait_for(lambda: logs(fleet, "web", "site-a", "hello"), "the log through the stream")
    assert "hello from the stream" in text
    fleet.ok("DELETE", "/applications/web")
    wait_for(lambda: not local_assignments(agent), "the removal in the agent's state")
    records = agent.data_dir / "runtime" / "process" / "instances"
    wait_for(lambda: not list(records.glob("*.json")), "the workload removed")
    counts = requests_by_route(fleet)
    assert counts.get(STREAM, 0) >= 1
    assert counts.get(POLL, 0) == 0, "a v2 agent polls no request queue"
    assert relists(agent) == 1, "one list, then the stream"


def test_a_v2_agent_resumes_its_stream_after_a_hub_restart(fleet: Fleet) -> None:
    agent = fleet.add_agent("site-a", {"at": "site-a"})
    fleet.ok("POST", "/applications", sleeper("first", "site-a"))
    wait_for(lambda: running(fleet, "first", "site-a"), "first running")
    fleet.stop_hub()
    fleet.start_hub()
    fleet.ok("POST", "/applications", sleeper("second", "site-a"))
    wait_for(lambda: running(fleet, "second", "site-a"), "second running after the restart")
    assert relists(agent) == 1, "the stream resumed from the stored version, no relist"
    assert "listing assignments again" not in agent.log.read_text()
    assert requests_by_route(fleet).get(STREAM, 0) >= 1, "the restarted hub's stream"


def test_a_v2_agent_lists_again_when_its_version_is_compacted(small_log_fleet: Fleet) -> None:
    fleet = small_log_fleet
    agent = fleet.add_agent("site-a", {"at": "site-a"})
    fleet.ok("POST", "/applications", sleeper("first", "site-a"))
    wait_for(lambda: running(fleet, "first", "site-a"), "first running")
    agent.stop()
    stored = local_version(agent)
    fleet.ok("POST", "/applications", sleeper("second", "site-a"))
    wait_for(lambda: fleet.assignments("second"), "second placed while the agent is away")
    for i in range(4):  # more writes, so the log moves past the agent's version
        fleet.ok("POST", "/applications", sleeper(f"elsewhere{i}", "nowhere"))
    wait_for(lambda: gone(fleet, stored), f"the event log compacted past {stored}")
    agent.start()
    wait_for(lambda: running(fleet, "second", "site-a"), "second running after the relist")
    assert "listing assignments again" in agent.log.read_text()
    assert relists(agent) == 2


def gone(fleet: Fleet, version: int) -> bool:
    headers = {"Authorization": f"Bearer {fleet.token}"}
    url = f"{fleet.url}/api/v1alpha1/sites?watch=true&resourceVersion={version}"
    with httpx.stream("GET", url, headers=headers, timeout=30) as answer:
        return answer.status_code == 410


def test_a_v1_agent_still_watches_and_polls(fleet: Fleet) -> None:
    fleet.add_agent("site-v1", {"at": "site-v1"}, "--hub-protocol", "v1")
    fleet.ok("POST", "/applications", sleeper("web", "site-v1", "hello from the poll"))
    wait_for(lambda: running(fleet, "web", "site-v1"), "web running at the v1 site")
    assert wait_for(lambda: logs(fleet, "web", "site-v1", "hello"), "the log through the poll")
    counts = requests_by_route(fleet)
    assert counts.get(STREAM, 0) == 0, "a v1 agent opens no stream"
    assert counts.get(POLL, 0) >= 1
    assert counts.get(WATCH_OR_LIST, 0) >= 2, "a list, then a watch"
