"""Which sites the health controller marks Offline, by the hub's clock only."""

from __future__ import annotations

from typing import Any

import pytest

from edgeplane.hub.controllers.health import stale

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
