"""Data home end to end, with a real hub and real agents: workloads publish numbered
records, and every record the agent acknowledged arrives at the hub's sink exactly once
(counted by number), through an agent killed with -9 mid-stream and restarted, and
through the hub stopped and started again while the workload keeps publishing; an
aggregated stream's summaries count every acknowledged record once, through a kill -9."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.integration.dataplane.datahome import (
    TEMPS,
    acknowledged,
    all_arrived_once,
    bodies_at,
    publisher_app,
)
from tests.support.fleet import Fleet, wait_for

pytestmark = pytest.mark.timeout(240)


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


def test_an_aggregated_stream_sends_summaries_that_count_every_record_once(
    fleet: Fleet, tmp_path: Path
) -> None:
    count = 2000
    aggregation = {
        "windowSeconds": 2,
        "field": "n",
        "functions": ["count", "sum", "max"],
        "raw": "threshold",
        "threshold": {"above": count - 11},
    }
    fleet.ok(
        "POST", "/datastreams", {**TEMPS, "spec": {**TEMPS["spec"], "aggregation": aggregation}}
    )
    agent = fleet.add_agent("store-3")
    wait_for(lambda: fleet.site_phase("store-3") == "Online", "store-3 online")
    ledger = tmp_path / "ledger"
    fleet.ok("POST", "/applications", publisher_app("pub", ledger, count))
    wait_for(lambda: len(acknowledged(ledger)) > 500, "publishing under way", 90)
    agent.kill9()  # records held for open windows must be summed again, and only once
    agent.start()
    wait_for(lambda: len(acknowledged(ledger)) == count, "every record acknowledged", 120)

    def summed() -> tuple[int, int, list[int]] | None:
        bodies = [json.loads(b) for b in bodies_at(fleet)]
        summaries = [b for b in bodies if "window" in b]
        total = sum(b["count"] for b in summaries)
        raw = sorted(b["n"] for b in bodies if "window" not in b)
        return (total, sum(b["sum"] for b in summaries), raw) if total >= count else None

    total, numbers, raw = wait_for(summed, f"summaries of {count} records", 120)
    assert total == count and numbers == sum(range(count))
    assert raw == list(range(count - 10, count))  # past the threshold: sent as they were
