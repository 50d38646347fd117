"""Helpers of the data-home tests: the publishing workload as an Application, the
DataStream it publishes to, and what arrived at the hub's sink."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from tests.support.fleet import TRANSIENT, Fleet, wait_for
from tests.support.waiting import wait_until

PUBLISHER = Path(__file__).with_name("publisher.py")


def publisher_app(
    name: str, ledger: Path, count: int, per_request: int = 10, pad: int = 0
) -> dict[str, Any]:
    args = [str(PUBLISHER), str(ledger), "temps", str(count), str(per_request), "0.05", str(pad)]
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


TEMPS: dict[str, Any] = {
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


def bodies_at(fleet: Fleet, stream: str = "temps") -> list[str]:
    """Every record body of ``stream`` stored at the hub (every page)."""
    bodies: list[str] = []
    after = 0
    while True:
        page = fleet.ok(
            "GET", f"/datastreams/{stream}/records", params={"after": after, "limit": 1000}
        )
        bodies += [item["body"] for item in page["items"]]
        if not page["items"]:
            return bodies
        after = page["next"]


def arrived(fleet: Fleet) -> Counter[int]:
    """How often each record number is stored at the hub."""
    return Counter(json.loads(body)["n"] for body in bodies_at(fleet))


def all_arrived_once(fleet: Fleet, ledger: Path, count: int) -> Counter[int]:
    """Wait until the ledger is complete and each of its records is at the hub."""
    wait_for(lambda: len(acknowledged(ledger)) == count, f"{count} records acknowledged", 120)

    def complete() -> Counter[int] | None:
        found = arrived(fleet)
        return found if found.total() >= count else None

    def total() -> str:
        found = arrived(fleet)
        return f"{found.total()} records, {len(found)} distinct"

    seen = wait_until(
        complete, f"{count} records at the hub", 120, every=0.2, ignore=TRANSIENT, seen=total
    )
    assert sorted(acknowledged(ledger)) == list(range(count))
    return seen
