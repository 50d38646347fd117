"""Which sites the health controller marks Offline, by the hub's clock only; and the
nodes rule: a site whose nodes are all NotReady is Offline, Online again with one Ready."""

from __future__ import annotations

from typing import Any

import pytest

from edgeplane.hub.controllers.health import nodes_down, stale
from edgeplane.hub.sitewrites import nodes_checked

NOW = 1_800_000_000.0  # 2027-01-15T08:00:00Z
AT = "2027-01-15T08:00:{:02d}Z"


def site(phase: str | None, heartbeat: str | None = None, created: str | None = None) -> Any:
    status: dict[str, Any] = {} if phase is None else {"phase": phase}
    if heartbeat:
        status["lastHeartbeat"] = heartbeat
    return {"metadata": {"name": "s", "creationTimestamp": created}, "status": status}


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        (site("Online", AT.format(0)), False),
        (site("Online", "2027-01-15T07:59:00Z"), True),
        (site("Online"), True),
        (site("Online", "2099-01-01T00:00:00Z"), True),
        (site("Online", AT.format(3)), False),
        (site("Online", "not a time"), True),
        (site("Online", "9999-12-31T23:59:59Z"), True),
        (site("Pending", created=AT.format(0)), False),
        (site("Pending", created="2027-01-15T07:59:00Z"), True),
        (site("Pending"), True),
        (site("Offline", "2020-01-01T00:00:00Z"), False),
        (site("Cordoned"), False),
        (site(None), False),
    ],
    ids=[
        "online-fresh",
        "online-silent",
        "online-never",
        "online-dated-2099",
        "online-another-hub-a-little-ahead",
        "online-garbage",
        "online-last-second-of-9999",
        "pending-just-joined",
        "pending-never-reported",
        "pending-without-times",
        "offline-stays",
        "cordoned-stays",
        "no-status",
    ],
)
def test_stale(obj: Any, expected: bool) -> None:
    assert stale(obj, 40.0, NOW) is expected


# -- nodes: a site whose nodes are all NotReady is Offline ------------------------------


def reported(phase: str, nodes: int | None, ready: int | None, was: str | None = None) -> Any:
    inventory = {k: v for k, v in (("nodes", nodes), ("readyNodes", ready)) if v is not None}
    status: dict[str, Any] = {"phase": phase, "inventory": inventory}
    if was is not None:
        reason = "NodesNotReady" if was == "False" else "NodesReady"
        status["conditions"] = [
            {"type": "Ready", "status": "True"},
            {"type": "NodesReady", "status": was, "reason": reason, "lastTransitionTime": AT[:-6]},
        ]
    return status


@pytest.mark.parametrize(
    ("status", "phase", "condition"),
    [
        (reported("Online", 2, 0), "Offline", ("False", "NodesNotReady")),
        (reported("Online", 2, 0, was="False"), "Offline", ("False", "NodesNotReady")),
        (reported("Offline", 2, 1, was="False"), "Online", ("True", "NodesReady")),
        (reported("Online", 2, 2), "Online", ("True", "NodesReady")),
        (reported("Offline", 2, 1), "Offline", ("True", "NodesReady")),
        (reported("Cordoned", 2, 1, was="False"), "Cordoned", ("True", "NodesReady")),
        (reported("Online", 0, 0), "Online", ("True", "NodesReady")),
        (reported("Online", 2, None), "Online", None),
        (reported("Online", None, None), "Online", None),
    ],
    ids=[
        "all-not-ready-goes-offline",
        "stays-offline",
        "a-node-ready-comes-back",
        "all-ready",
        "offline-for-silence-stays",
        "cordoned-stays",
        "no-nodes-is-not-cut-off",
        "ready-not-reported",
        "process-site",
    ],
)
def test_the_nodes_rule(status: Any, phase: str, condition: tuple[str, str] | None) -> None:
    checked = nodes_checked(status, NOW)
    assert checked["phase"] == phase
    found = [c for c in checked.get("conditions") or [] if c["type"] == "NodesReady"]
    assert [(c["status"], c["reason"]) for c in found] == ([condition] if condition else [])
    assert {"type": "Ready", "status": "True"} in (checked.get("conditions") or [{}]) or (
        "conditions" not in status
    )  # the site's other conditions are kept


def test_the_transition_time_moves_only_on_a_change() -> None:
    same = nodes_checked(reported("Online", 2, 0, was="False"), NOW)
    flipped = nodes_checked(reported("Online", 2, 0, was="True"), NOW)
    assert [c["lastTransitionTime"] for c in same["conditions"] if c["type"] == "NodesReady"] == [
        AT[:-6]
    ]
    assert [
        c["lastTransitionTime"] for c in flipped["conditions"] if c["type"] == "NodesReady"
    ] == ["2027-01-15T08:00:00Z"]


@pytest.mark.parametrize(
    ("phase", "down"),
    [("Online", True), ("Pending", True), ("Offline", False), ("Cordoned", False)],
    ids=["online", "pending", "offline-already", "cordoned"],
)
def test_the_health_controller_takes_sites_whose_nodes_are_down(phase: str, down: bool) -> None:
    assert nodes_down({"status": reported(phase, 3, 0)}) is down
    assert nodes_down({"status": reported(phase, 3, 1)}) is False


# -- leases: a site is heard from at the newer of its lease and its stored heartbeat -----


@pytest.mark.parametrize(
    ("obj", "lease", "expected"),
    [
        (site("Online", "2027-01-15T07:59:00Z"), NOW - 5, False),
        (site("Online", AT.format(0)), NOW - 100, False),
        (site("Online", "2027-01-15T07:59:00Z"), NOW - 100, True),
        (site("Online"), NOW - 1, False),
        (site("Online"), NOW + 3600, True),
        (site("Online", "2099-01-01T00:00:00Z"), NOW - 1, False),
        (site("Pending", created="2027-01-15T07:59:00Z"), NOW - 1, False),
        (site("Offline", "2020-01-01T00:00:00Z"), NOW - 1000, False),
    ],
    ids=[
        "stored-old-lease-fresh",
        "stored-fresh-lease-old",
        "both-old",
        "lease-only",
        "lease-in-the-future-counts-as-none",
        "stored-in-the-future-lease-fresh",
        "pending-with-a-fresh-lease",
        "offline-stays",
    ],
)
def test_stale_with_a_lease(obj: Any, lease: float, expected: bool) -> None:
    assert stale(obj, 40.0, NOW, lease) is expected
