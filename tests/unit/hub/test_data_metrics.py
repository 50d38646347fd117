"""The hub's data gauges, summed by stream from what the sites last reported."""

from __future__ import annotations

from typing import Any

from prometheus_client import generate_latest

from edgeplane.api.wire import Object
from edgeplane.hub.metrics import HubMetrics


def site(*streams: dict[str, Any]) -> Object:
    return {"metadata": {"name": "s"}, "status": {"data": {"streams": list(streams)}}}


def test_backlogs_sum_the_oldest_is_the_worst_and_gone_streams_leave() -> None:
    metrics = HubMetrics()
    first = {"name": "temps", "backlogRecords": 3, "backlogBytes": 300, "oldestUnsentSeconds": 4.5}
    second = {"name": "temps", "backlogRecords": 2, "backlogBytes": 20, "oldestUnsentSeconds": 9.0}
    second["dropped"] = {"expired": 7}
    doors = {"name": "doors", "backlogRecords": 0, "backlogBytes": 0}
    quiet: Object = {"metadata": {"name": "quiet"}}
    metrics.data_from([site(first), site(second, doors), quiet])
    text = generate_latest(metrics.registry).decode()
    assert 'edgeplane_data_backlog_records{stream="temps"} 5.0' in text
    assert 'edgeplane_data_backlog_bytes{stream="temps"} 320.0' in text
    assert 'edgeplane_data_oldest_unsent_seconds{stream="temps"} 9.0' in text
    assert 'edgeplane_data_site_dropped_records{reason="expired",stream="temps"} 7.0' in text
    assert 'edgeplane_data_backlog_records{stream="doors"} 0.0' in text
    metrics.data_from([site({"name": "doors", "backlogRecords": 1, "backlogBytes": 1})])
    text = generate_latest(metrics.registry).decode()
    assert 'stream="temps"' not in text
