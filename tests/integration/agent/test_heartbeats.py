"""A real agent's heartbeats against a real hub: with ``--hub-protocol v2`` (the default)
they go through the heartbeat route and write nothing to the store, and an answer saying
Offline makes the agent report itself Online again; with v1 they are status writes."""

from __future__ import annotations

import re

import httpx

from tests.support.fleet import Fleet, wait_for

HEARTBEAT = '"POST",route="/api/v1alpha1/sites/{site}/heartbeat",status="200"'
STATUS_WRITE = '"PATCH",route="/api/v1alpha1/{plural}/{name}/status",status="200"'


def answered(fleet: Fleet, labels: str) -> int:
    """How many requests of this method, route and status the hub has answered."""
    headers = {"Authorization": f"Bearer {fleet.token}"}
    text = httpx.get(f"{fleet.url}/metrics", headers=headers, timeout=30).text
    line = re.search(rf"edgeplane_http_requests_total{{method={re.escape(labels)}}} (\S+)", text)
    return int(float(line.group(1))) if line else 0


def store_version(fleet: Fleet) -> int:
    return int(fleet.ok("GET", "/sites", params={"limit": "1"})["metadata"]["resourceVersion"])


def test_v2_heartbeats_write_nothing_and_an_offline_answer_brings_the_site_back(
    fleet: Fleet,
) -> None:
    fleet.add_agent("hb-1")
    wait_for(lambda: fleet.site_phase("hb-1") == "Online", "hb-1 Online")
    wait_for(lambda: answered(fleet, HEARTBEAT) >= 1, "a heartbeat through the route")
    version, writes = store_version(fleet), answered(fleet, STATUS_WRITE)
    beats = answered(fleet, HEARTBEAT)
    wait_for(lambda: answered(fleet, HEARTBEAT) >= beats + 3, "three more heartbeats")
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
    assert answered(fleet, HEARTBEAT) == 0
