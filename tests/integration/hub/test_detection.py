"""The hub's failure detector against a real hub process: a site heartbeating at its
period (``--heartbeat-seconds 0.5``) is never suspected; one that stops is declared
unreachable by its suspicion, long before the hard bound (``--offline-after-seconds``),
Offline with the ``Reachable`` condition saying why and ``lastHeartbeat`` its last
heartbeat; when it heartbeats again and writes itself Online, as an agent does, it is
Reachable again and its return is recorded. States and stamps are asserted, never how
long anything took."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from edgeplane.health.liveness import parse_stamp
from tests.integration.hub.test_heartbeats import joined, site_of, status_of
from tests.support.fleet import wait_for
from tests.support.hub import HubProcess, running_hub

PERIOD = 0.5
BEATING_SECONDS = 20.0


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[HubProcess]:
    """Sites heartbeat every ``PERIOD``; the hard bound stays the default 40 s."""
    with running_hub(tmp_path / "hub", "--heartbeat-seconds", str(PERIOD)) as hub:
        yield hub


def phase_after_beat(client: httpx.Client, site: str) -> str:
    """One heartbeat; the phase the hub holds (204: Online and nothing to say)."""
    answer = client.post(f"/sites/{site}/heartbeat")
    if answer.status_code == 204:
        return "Online"
    assert answer.status_code == 200, answer.text
    return str(answer.json()["phase"])


def beat_for(client: httpx.Client, site: str, seconds: float) -> tuple[list[str], float, float]:
    """Heartbeats every ``PERIOD`` for ``seconds`` (on a fixed schedule: a late one is
    sent at once, not pushed later); the phases answered, and when the last one was
    sent and answered (the hub's receive time falls between)."""
    phases, start, sent, answered = [], time.monotonic(), 0.0, 0.0
    beats = int(seconds / PERIOD)
    for k in range(beats):
        ahead = start + k * PERIOD - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)  # the site's heartbeat period, not a wait for the hub
        sent = time.time()
        phases.append(phase_after_beat(client, site))
        answered = time.time()
    return phases, sent, answered


def reachable(status: dict[str, Any]) -> dict[str, Any]:
    found = [c for c in status.get("conditions") or [] if c.get("type") == "Reachable"]
    assert len(found) == 1, status
    condition: dict[str, Any] = found[0]
    return condition


def test_a_stopped_site_is_found_by_its_silence_and_comes_back(hub: HubProcess) -> None:
    credential = joined(hub, "shop-1")
    headers = {"Authorization": f"Bearer {credential}"}
    with httpx.Client(base_url=f"{hub.url}/api/v1alpha1", headers=headers, timeout=30) as site:
        version = site_of(hub, "shop-1")["metadata"]["resourceVersion"]
        phases, sent, answered = beat_for(site, "shop-1", BEATING_SECONDS)
        assert set(phases) == {"Online"}, "a site heartbeating at its period was suspected"
        assert site_of(hub, "shop-1")["metadata"]["resourceVersion"] == version

        # It stops: the detector finds it, well within the 40 s bound.
        status = wait_for(
            lambda: (s := status_of(hub, "shop-1")).get("phase") == "Offline" and s,
            "the silent site Offline",
        )
        gone = reachable(status)
        assert (gone["status"], gone["reason"]) == ("False", "NoHeartbeat")
        assert "suspicion" in gone["message"] and "threshold 8" in gone["message"], gone
        last = parse_stamp(status["lastHeartbeat"])
        assert last is not None and sent - 1 <= last <= answered, (status, sent, answered)

        # It heartbeats again, hears it is held Offline, and says it is back.
        assert phase_after_beat(site, "shop-1") == "Offline"
        back = site.patch(
            "/sites/shop-1/status",
            json={"status": {"phase": "Online"}},
            headers={"Content-Type": "application/merge-patch+json"},
        )
        assert back.status_code == 200, back.text
    status = status_of(hub, "shop-1")
    resumed = reachable(status)
    assert (status["phase"], resumed["status"], resumed["reason"]) == (
        "Online",
        "True",
        "HeartbeatResumed",
    )
    assert resumed["message"].startswith("heard again after "), resumed
    assert status["returns"] == [resumed["lastTransitionTime"]]
    metrics = httpx.get(f"{hub.url}/metrics", headers=hub.headers(), timeout=30).text
    assert 'edgeplane_sites_unreachable_total{reason="suspicion"} 1.0' in metrics
