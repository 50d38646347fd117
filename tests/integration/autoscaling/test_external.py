"""Autoscaling on a metric reported to the hub's API (a queue's depth), against a real
hub and real agents at two edge sites and one cloud site.

Demand grows: replicas grow to the edge's room (two per site), then into the cloud,
never past ``maxReplicas``. Demand falls: after the scale-down window, replicas leave,
the cloud's first, without going back up. The decisions are in the status, its events
and ``explain``; a report of a metric the application does not have changes nothing.
"""

from __future__ import annotations

from pathlib import Path

from tests.integration.autoscaling.scaling import (
    FAST,
    application,
    directions,
    groups,
    placed,
    ready_as,
    reversals,
    status,
)
from tests.support.fleet import Fleet, wait_for

QUEUE = {
    "minReplicas": 1,
    "maxReplicas": 5,
    "metrics": [
        {
            "type": "External",
            "external": {
                "metric": {"name": "queue_depth"},
                "target": {"type": "AverageValue", "averageValue": 10},
            },
        }
    ],
    "behavior": {
        "scaleUp": {"policies": [{"type": "Pods", "value": 10, "periodSeconds": 15}]},
        "scaleDown": {"stabilizationWindowSeconds": 6},
    },
}


def report(fleet: Fleet, depth: float) -> None:
    body = {"metrics": [{"name": "queue_depth", "value": depth}]}
    fleet.ok("POST", "/applications/worker/metrics", body)


def test_replicas_follow_a_reported_metric_edge_first_within_bounds(tmp_path: Path) -> None:
    fleet = Fleet(tmp_path, hub_args=FAST)
    try:
        fleet.start_hub()
        groups(fleet)
        for name, tier in (("edge-1", "edge"), ("edge-2", "edge"), ("cloud-1", "cloud")):
            fleet.add_agent(name, {"tier": tier})
        fleet.ok("POST", "/applications", application("worker", QUEUE))
        wait_for(
            lambda: (
                ready_as(fleet, "worker", {"edge-1": 1}) or ready_as(fleet, "worker", {"edge-2": 1})
            ),
            "one replica at the edge",
        )

        report(fleet, 35)  # 35 / 10 per replica: 4, the edge's room
        wait_for(lambda: ready_as(fleet, "worker", {"edge-1": 2, "edge-2": 2}), "4 at the edge")
        report(fleet, 1000)  # 100 wanted: 5 at most, the fifth in the cloud
        full = {"edge-1": 2, "edge-2": 2, "cloud-1": 1}
        wait_for(lambda: ready_as(fleet, "worker", full), "edge full, then the cloud")
        wait_for(
            lambda: status(fleet, "worker")["autoscaling"]["reason"] == "AtMaxReplicas" or None,
            "the autoscaler saying it is at maxReplicas",
        )
        assert placed(fleet, "worker") == full

        explained = fleet.ok("GET", "/applications/worker/explain")["autoscaling"]
        assert explained["desiredReplicas"] == 5
        assert explained["metrics"][0]["name"] == "queue_depth"
        assert explained["metrics"][0]["value"] == 1000

        refused = fleet.api(
            "POST", "/applications/worker/metrics", {"metrics": [{"name": "cpu", "value": 1}]}
        )
        assert refused.status_code == 400, refused.text
        assert refused.json()["field"] == "metrics[0].name"
        held = status(fleet, "worker")["autoscaling"]["externalMetrics"]
        assert [(m["name"], m["value"]) for m in held] == [("queue_depth", 1000)]

        report(fleet, 15)  # 2 wanted, after the 6 s window: the cloud's replica goes first
        wait_for(
            lambda: (
                ready_as(fleet, "worker", {"edge-1": 1, "edge-2": 1})
                or ready_as(fleet, "worker", {"edge-1": 2})
                or ready_as(fleet, "worker", {"edge-2": 2})
            ),
            "two replicas, both at the edge",
            60,
        )
        events = status(fleet, "worker").get("events") or []
        moves = directions(events)
        assert moves[0] == "up" and moves[-1] == "down", events
        assert reversals(moves) == 1, events  # up, then down: no flapping
    finally:
        fleet.close()


def test_autoscaling_is_refused_where_it_cannot_work(tmp_path: Path) -> None:
    fleet = Fleet(tmp_path)
    try:
        fleet.start_hub()
        app = application("every", QUEUE)
        app["spec"]["placement"] = {"mode": "EverySite"}
        refused = fleet.api("POST", "/applications", app)
        assert refused.status_code == 422, refused.text
        assert "spec.autoscaling" in refused.json()["message"]

        zero = application(
            "zero",
            {
                **QUEUE,
                "minReplicas": 0,
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {
                            "name": "cpu",
                            "target": {"type": "Utilization", "averageUtilization": 50},
                        },
                    }
                ],
            },
        )
        refused = fleet.api("POST", "/applications", zero)
        assert refused.status_code == 422, refused.text
        assert "minReplicas" in refused.json()["message"]
        assert fleet.api("GET", "/applications/zero").status_code == 404
    finally:
        fleet.close()
