"""A real hub process: what its placement controller is woken by, as its ``/metrics``
count it (an old agent's heartbeat PATCH wakes nothing, a ready replica only updates
its application's status), and ``explain`` telling the recorded decision and the story
of two changes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from edgeplane.api.kinds import API_VERSION
from edgeplane.api.wire import Object
from edgeplane.client.errors import ClientError
from edgeplane.client.hub import HubClient
from tests.support.hub import HubProcess, running_hub
from tests.support.waiting import wait_until


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubProcess]:
    with running_hub(tmp_path_factory.mktemp("hub") / "data") as process:
        yield process


@pytest.fixture
def client(hub: HubProcess) -> Iterator[HubClient]:
    with HubClient(hub.url, hub.token) as direct:
        yield direct


def counted(hub: HubProcess) -> tuple[float, float]:
    """(placement passes, status-only updates) from the hub's /metrics."""
    text = httpx.get(f"{hub.url}/metrics", headers=hub.headers(), timeout=5).text
    values = dict(line.rsplit(" ", 1) for line in text.splitlines() if line.startswith("edge"))
    return (
        float(values["edgeplane_placement_passes_total"]),
        float(values["edgeplane_status_updates_total"]),
    )


def now(offset: float = 0) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + offset))


def add_site(client: HubClient, name: str, **labels: str) -> None:
    meta = {"name": name, "labels": labels}
    site = {"apiVersion": API_VERSION, "kind": "Site", "metadata": meta}
    client.create("sites", {**site, "spec": {"runtime": "process"}})
    status = {"phase": "Online", "lastHeartbeat": now(), "capacity": {"cpu": "2"}}
    client.patch_status("sites", name, {"status": status})


def add_app(client: HubClient, name: str, replicas: int, zone: str) -> None:
    selector = {"matchLabels": {"zone": zone}}
    spec = {
        "workload": {"process": {"command": "python3"}},
        "placement": {"mode": "Replicas", "replicas": replicas, "selector": selector},
    }
    meta = {"name": name}
    client.create(
        "applications",
        {"apiVersion": API_VERSION, "kind": "Application", "metadata": meta, "spec": spec},
    )


def patched(client: HubClient, app: str, patch: dict[str, Any]) -> None:
    """A merge patch, again when the controller wrote the status in between (409)."""
    for _ in range(20):
        try:
            client.patch("applications", app, patch)
            return
        except ClientError as e:
            if e.status != 409:
                raise
    raise AssertionError(f"application {app} kept changing under the test")


def assignments(client: HubClient, app: str) -> dict[str, Object]:
    found = client.list_all("assignments", f"edgeplane.io/application={app}")
    return {a["spec"]["site"]: a for a in found}


def settled(client: HubClient, app: str, count: int) -> dict[str, Object]:
    """Placed at ``count`` sites, its status written, and its decision recorded."""
    found = wait_until(lambda: assignments(client, app), accept=lambda f: len(f) == count)
    wait_until(
        lambda: client.get("applications", app).get("status") or {},
        accept=lambda s: sorted(s.get("sites") or []) == sorted(found),
    )
    wait_until(
        lambda: client.explain(app),
        accept=lambda e: e["source"] == "recorded" and sorted(e["sites"]) == sorted(found),
    )
    return found


def test_heartbeats_wake_nothing_and_a_ready_replica_only_a_status(
    hub: HubProcess, client: HubClient
) -> None:
    for name in ("h1", "h2"):
        add_site(client, name, zone="q")
    add_app(client, "quiet", 2, "q")
    placed = settled(client, "quiet", 2)
    passes, updates = counted(hub)
    # An older agent's heartbeat: a status PATCH with lastHeartbeat alone.
    client.patch_status("sites", "h1", {"status": {"lastHeartbeat": now(1)}})
    # Then one replica reports Running: the application's ready count follows.
    running = {"phase": "Running", "ready": 1, "observedGeneration": 1}
    client.patch_status("assignments", placed["h1"]["metadata"]["name"], {"status": running})
    status = wait_until(
        lambda: client.get("applications", "quiet")["status"], accept=lambda s: s.get("ready") == 1
    )
    assert status["conditions"][1]["message"] == "1/2 ready"
    after = counted(hub)
    assert after[0] == passes  # neither the heartbeat nor the ready replica ran a pass
    assert after[1] > updates


def test_explain_tells_the_recorded_decision_and_its_story(
    hub: HubProcess, client: HubClient
) -> None:
    for name in ("e1", "e2", "e3"):
        add_site(client, name, zone="t")
    add_app(client, "told", 1, "t")
    (first,) = settled(client, "told", 1)
    # A label change takes its site out of the selector; a replica change adds one.
    client.patch("sites", first, {"metadata": {"labels": {"zone": "elsewhere"}}})
    (second,) = wait_until(
        lambda: assignments(client, "told"), accept=lambda f: len(f) == 1 and first not in f
    )
    patched(client, "told", {"spec": {"placement": {"replicas": 2}}})
    placed = settled(client, "told", 2)
    answer = client.explain("told")
    assert answer["source"] == "recorded" and answer["generation"] == 2
    assert sorted(answer["sites"]) == sorted(placed)
    third = (set(placed) - {second}).pop()
    story = [(e["trigger"], e["added"], e["removed"]) for e in answer["story"]]
    assert story == [
        ("Application told ADDED", [first], []),
        (f"Site {first} MODIFIED (labels)", [second], [first]),
        ("Application told MODIFIED (spec)", [third], []),
    ]
    # One site's checks are worked out now, and say so; the story comes along.
    one = client.explain("told", first)
    assert one["source"] == "fresh" and one["note"] == "one site's checks are evaluated now"
    assert one["site"]["feasible"] is False and len(one["story"]) == 3
