"""A real agent's heartbeats against a real hub: with ``--hub-protocol v2`` (the default)
they go through the heartbeat route and write nothing to the store, and an answer saying
Offline (an admin's mark, or the health controller's after the agent was frozen) makes
the agent report itself Online again; with v1 they are status writes."""

from __future__ import annotations

import re
import signal
from pathlib import Path

import httpx

from tests.support.fleet import Agent, Fleet, wait_for
from tests.support.hub import running_hub

HEARTBEAT = '"POST",route="/api/v1alpha1/sites/{site}/heartbeat",status="{}"'
STATUS_WRITE = '"PATCH",route="/api/v1alpha1/{plural}/{name}/status",status="200"'


def answered(fleet: Fleet, labels: str) -> int:
    """How many requests of this method, route and status the hub has answered."""
    headers = {"Authorization": f"Bearer {fleet.token}"}
    text = httpx.get(f"{fleet.url}/metrics", headers=headers, timeout=30).text
    line = re.search(rf"edgeplane_http_requests_total{{method={re.escape(labels)}}} (\S+)", text)
    return int(float(line.group(1))) if line else 0


def heartbeats(fleet: Fleet) -> int:
    """Heartbeats answered: 204 (Online, nothing to rotate) or 200 (anything else)."""
    return sum(answered(fleet, HEARTBEAT.replace("{}", code)) for code in ("200", "204"))


def store_version(fleet: Fleet) -> int:
    return int(fleet.ok("GET", "/sites", params={"limit": "1"})["metadata"]["resourceVersion"])


def test_v2_heartbeats_write_nothing_and_an_offline_answer_brings_the_site_back(
    fleet: Fleet,
) -> None:
    fleet.add_agent("hb-1")
    wait_for(lambda: fleet.site_phase("hb-1") == "Online", "hb-1 Online")
    wait_for(lambda: heartbeats(fleet) >= 1, "a heartbeat through the route")
    version, writes = store_version(fleet), answered(fleet, STATUS_WRITE)
    beats = heartbeats(fleet)
    wait_for(lambda: heartbeats(fleet) >= beats + 3, "three more heartbeats")
    assert answered(fleet, STATUS_WRITE) == writes, "a heartbeat wrote the Site's status"
    assert store_version(fleet) == version, "heartbeats wrote to the store"

    # As the health controller would: the hub holds the site Offline.
    marked = fleet.api(
        "PATCH",
        "/sites/hb-1/status",
        {"status": {"phase": "Offline"}},
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert marked.status_code == 200, marked.text
    wait_for(lambda: fleet.site_phase("hb-1") == "Online", "the agent to say it is back")
    assert answered(fleet, STATUS_WRITE) > writes


def test_v1_heartbeats_are_status_writes(fleet: Fleet) -> None:
    fleet.add_agent("hb-1", None, "--hub-protocol", "v1")
    wait_for(lambda: fleet.site_phase("hb-1") == "Online", "hb-1 Online")
    writes = answered(fleet, STATUS_WRITE)
    wait_for(lambda: answered(fleet, STATUS_WRITE) >= writes + 2, "heartbeats as status writes")
    assert heartbeats(fleet) == 0


def test_a_silent_agent_is_marked_offline_and_its_next_heartbeat_brings_it_back(
    tmp_path: Path,
) -> None:
    """The health controller's Offline, not an admin's: the agent is frozen (SIGSTOP)
    past --offline-after-seconds, then thawed; the answer to its next heartbeat says
    Offline and it reports itself Online."""
    with running_hub(tmp_path / "hub", "--offline-after-seconds", "3") as hub:
        made = httpx.post(
            f"{hub.url}/api/v1alpha1/jointokens",
            json={"labels": {}, "ttlSeconds": 600},
            headers=hub.headers(),
        )
        agent = Agent("hb-1", tmp_path / "sites" / "hb-1", hub.url, ["--heartbeat-seconds", "1"])
        process = agent.start(join=made.json()["token"])
        try:

            def phase() -> str | None:
                got = httpx.get(f"{hub.url}/api/v1alpha1/sites/hb-1", headers=hub.headers())
                return (got.json().get("status") or {}).get("phase") if got.is_success else None

            wait_for(lambda: phase() == "Online", "hb-1 Online")
            process.send_signal(signal.SIGSTOP)
            wait_for(lambda: phase() == "Offline", "the health controller to mark hb-1 Offline")
            process.send_signal(signal.SIGCONT)
            wait_for(lambda: phase() == "Online", "hb-1 back Online after its next heartbeat")
        finally:
            process.send_signal(signal.SIGCONT)
            agent.stop()
            agent.kill_leftovers()
