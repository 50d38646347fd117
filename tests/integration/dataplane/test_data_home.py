"""Data home end to end, with a real hub and real agents: workloads publish numbered
records, and every record the agent acknowledged arrives at the hub's sink exactly once
(counted by number), through an agent killed with -9 mid-stream and restarted, and
through the hub stopped and started again while the workload keeps publishing."""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.fleet import Fleet, wait_for

PUBLISHER = Path(__file__).with_name("publisher.py")
pytestmark = pytest.mark.timeout(240)


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    fleet = Fleet(tmp_path)
    fleet.start_hub()
    try:
        yield fleet
    finally:
        fleet.close()


def publisher_app(name: str, ledger: Path, count: int, per_request: int = 10) -> dict[str, Any]:
    args = [str(PUBLISHER), str(ledger), "temps", str(count), str(per_request)]
    return {
        "apiVersion": "edgeplane.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": name, "labels": {"team": "cold"}},
        "spec": {
            "workload": {"process": {"command": sys.executable, "args": args}},
            "resources": {"cpu": "10m", "memory": "16Mi"},
            "placement": {"mode": "Replicas", "replicas": 1},
        },
    }


TEMPS = {
    "apiVersion": "edgeplane.io/v1alpha1",
    "kind": "DataStream",
    "metadata": {"name": "temps"},
    "spec": {"selector": {"matchLabels": {"team": "cold"}}, "priority": "high"},
}


def acknowledged(ledger: Path) -> list[int]:
    try:
        return [int(n) for n in ledger.read_text().split()]
    except FileNotFoundError:
        return []


def arrived(fleet: Fleet) -> Counter[int]:
    """How often each record number is stored at the hub (every page)."""
    seen: Counter[int] = Counter()
    after = 0
    while True:
        page = fleet.ok("GET", "/datastreams/temps/records", params={"after": after, "limit": 1000})
        seen.update(json.loads(item["body"])["n"] for item in page["items"])
        if not page["items"]:
            return seen
        after = page["next"]


def all_arrived_once(fleet: Fleet, ledger: Path, count: int) -> Counter[int]:
    """Wait until the ledger is complete and each of its records is at the hub."""
    wait_for(lambda: len(acknowledged(ledger)) == count, f"{count} records acknowledged", 120)

    def complete() -> Counter[int] | None:
        found = arrived(fleet)
        return found if found.total() >= count else None

    seen = wait_for(complete, f"{count} records at the hub", 120)
    assert sorted(acknowledged(ledger)) == list(range(count))
    return seen


def test_acknowledged_records_arrive_exactly_once_through_an_agent_kill_9(
    fleet: Fleet, tmp_path: Path
) -> None:
    fleet.ok("POST", "/datastreams", TEMPS)
    agent = fleet.add_agent("store-1", None, "--data-report-seconds", "1")
    wait_for(lambda: fleet.site_phase("store-1") == "Online", "store-1 online")
    ledger, count = tmp_path / "ledger", 3000
    fleet.ok("POST", "/applications", publisher_app("pub", ledger, count))
    wait_for(lambda: len(acknowledged(ledger)) > 300, "publishing under way", 90)
    agent.kill9()  # mid-stream: records spooled, sent, in flight and unsent
    during = len(acknowledged(ledger))
    agent.start()
    seen = all_arrived_once(fleet, ledger, count)
    assert during < count, "the kill came after the last record"
    assert set(seen) == set(range(count))
    assert max(seen.values()) == 1, "a record was stored twice"
    # The site says so too: nothing waits, and what the restarted agent sent counts.
    data = wait_for(lambda: drained(fleet, "store-1"), "store-1 reporting an empty backlog")
    (temps,) = data["streams"]
    assert temps["name"] == "temps" and temps["backlogBytes"] == 0
    assert 0 < temps["sentRecords"] <= count and data["failures"] == 0
    assert "oldestUnsentSeconds" not in temps and data["sentBytes"] > 0


def drained(fleet: Fleet, site: str) -> dict[str, Any] | None:
    """The site's reported ``status.data`` once its temps backlog is empty."""
    data = (fleet.ok("GET", f"/sites/{site}").get("status") or {}).get("data") or {}
    streams = data.get("streams") or []
    if len(streams) == 1 and streams[0]["backlogRecords"] == 0 and streams[0]["sentRecords"]:
        return dict(data)
    return None


def test_records_published_while_the_hub_is_down_arrive_once_it_is_back(
    fleet: Fleet, tmp_path: Path
) -> None:
    fleet.ok("POST", "/datastreams", TEMPS)
    fleet.add_agent("store-2")
    wait_for(lambda: fleet.site_phase("store-2") == "Online", "store-2 online")
    ledger, count = tmp_path / "ledger", 2000
    fleet.ok("POST", "/applications", publisher_app("pub", ledger, count))
    wait_for(lambda: len(acknowledged(ledger)) > 200, "publishing under way", 90)
    fleet.stop_hub()
    before = len(acknowledged(ledger))
    # The agent takes records while its hub is away: they wait in its spool.
    wait_for(lambda: len(acknowledged(ledger)) > before + 200, "publishing without a hub", 90)
    fleet.start_hub()
    seen = all_arrived_once(fleet, ledger, count)
    assert set(seen) == set(range(count)) and max(seen.values()) == 1
