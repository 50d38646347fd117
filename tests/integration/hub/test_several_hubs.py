"""Several hubs on one PostgreSQL: real hub processes sharing a real database.

Exactly one leads (runs the controllers); the other serves the same API and its
watches see what the leader writes; killing the leader (SIGKILL) hands the controllers
over within a lease period and loses no acknowledged write.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from edgeplane.api.wellknown import APPLICATION_LABEL
from tests.conftest import drop_database, fresh_database
from tests.support.builders import site
from tests.support.fleet import wait_for
from tests.support.hub import HubProcess, running_hub

API = "/api/v1alpha1"
LEASE_SECONDS = 3.0
MARGIN_SECONDS = 15.0
"""Past the lease period, for a loaded machine: polled with this deadline, not timed."""


@pytest.fixture
def database(postgres_url: str) -> Iterator[str]:
    url = asyncio.run(fresh_database(postgres_url))
    try:
        yield url
    finally:
        asyncio.run(drop_database(postgres_url, url))


def _leads(hub: HubProcess) -> bool:
    answer = httpx.get(f"{hub.url}/readyz", timeout=5)
    return answer.status_code == 200 and answer.json()["leader"] is True


def _leader_gauge(hub: HubProcess) -> float:
    text = httpx.get(f"{hub.url}/metrics", headers=hub.headers(), timeout=5).text
    line = next(x for x in text.splitlines() if x.startswith("edgeplane_hub_leader "))
    return float(line.split()[1])


@contextlib.contextmanager
def two_hubs(tmp_path: Path, database: str, *extra: str) -> Iterator[tuple[HubProcess, HubProcess]]:
    """Hub A started first (so it leads), then hub B, on one database."""
    flags = ("--lease-seconds", f"{LEASE_SECONDS:g}", *extra)
    with running_hub(tmp_path / "a", *flags, database_url=database) as a:
        wait_for(lambda: _leads(a), "hub A to lead", LEASE_SECONDS + MARGIN_SECONDS)
        with running_hub(tmp_path / "b", *flags, database_url=database) as b:
            yield a, b


def _post(hub: HubProcess, plural: str, obj: Mapping[str, object]) -> dict[str, Any]:
    answer = httpx.post(f"{hub.url}{API}/{plural}", json=obj, headers=hub.headers(), timeout=10)
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    return created


def _online_site(hub: HubProcess, name: str) -> None:
    """A Site an admin wrote Online with room, as its agent would report it."""
    _post(hub, "sites", site(name))
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    status = {"phase": "Online", "capacity": {"cpu": "2", "memory": "1Gi"}, "lastHeartbeat": now}
    answer = httpx.put(
        f"{hub.url}{API}/sites/{name}/status",
        json={"status": status},
        headers=hub.headers(),
        timeout=10,
    )
    assert answer.status_code == 200, answer.text


def _app(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "edgeplane.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": name},
        "spec": {
            "workload": {"process": {"command": "python3"}},
            "resources": {"cpu": "100m"},
            "placement": {"mode": "EverySite"},
        },
    }


def _placed_at(hub: HubProcess, app: str) -> set[str]:
    answer = httpx.get(
        f"{hub.url}{API}/assignments",
        params={"labelSelector": f"{APPLICATION_LABEL}={app}"},
        headers=hub.headers(),
        timeout=10,
    )
    answer.raise_for_status()
    return {a["spec"]["site"] for a in answer.json()["items"]}


class AssignmentWatch(threading.Thread):
    """A watch of Assignments on one hub, read in the background."""

    def __init__(self, hub: HubProcess, since: str) -> None:
        super().__init__(daemon=True)
        self.hub, self.since = hub, since
        self.events: list[dict[str, Any]] = []
        self.opened = threading.Event()

    def run(self) -> None:
        with (
            contextlib.suppress(httpx.HTTPError),
            httpx.stream(
                "GET",
                f"{self.hub.url}{API}/assignments?watch=true&resourceVersion={self.since}",
                headers=self.hub.headers(),
                timeout=httpx.Timeout(10, read=60),
            ) as answer,
        ):
            self.opened.set()
            for line in answer.iter_lines():
                if line:
                    self.events.append(json.loads(line))

    def added_for(self, app: str) -> set[str]:
        return {
            e["object"]["spec"]["site"]
            for e in list(self.events)
            if e["type"] == "ADDED" and e["object"]["spec"]["application"] == app
        }


def _resource_version(hub: HubProcess) -> str:
    answer = httpx.get(f"{hub.url}{API}/assignments", headers=hub.headers(), timeout=10)
    return str(answer.json()["metadata"]["resourceVersion"])


@pytest.mark.postgres
def test_one_hub_leads_and_places_what_was_applied_through_the_other(
    tmp_path: Path, database: str
) -> None:
    with two_hubs(tmp_path, database) as (a, b):
        assert _leads(a) and not _leads(b)
        assert (_leader_gauge(a), _leader_gauge(b)) == (1.0, 0.0)
        watch = AssignmentWatch(b, _resource_version(b))
        watch.start()
        assert watch.opened.wait(10)
        _online_site(b, "s1")
        _online_site(a, "s2")
        _post(b, "applications", _app("web"))
        wait_for(lambda: _placed_at(b, "web") == {"s1", "s2"}, "web placed at s1 and s2")
        # Hub A wrote the Assignments; hub B's watch saw them (its pump polls the log).
        wait_for(lambda: watch.added_for("web") == {"s1", "s2"}, "hub B's watch to see them")
        assert _leads(a) and not _leads(b), "one leader all along"


class AgentOn(threading.Thread):
    """Plays site s1's agent on one hub: long-polls its relay queue there, answers once."""

    def __init__(self, hub: HubProcess, answer: str) -> None:
        super().__init__(daemon=True)
        self.hub, self.answer = hub, answer
        self.requests: list[dict[str, Any]] = []

    def run(self) -> None:
        with httpx.Client(base_url=self.hub.url, headers=self.hub.headers(), timeout=30) as c:
            deadline = time.monotonic() + MARGIN_SECONDS * 2
            while not self.requests and time.monotonic() < deadline:
                polled = c.get(f"{API}/sites/s1/requests", params={"waitSeconds": "5"})
                self.requests += polled.json()["items"]
            for request in self.requests:
                c.post(f"{API}/sites/s1/requests/{request['id']}", content=self.answer)


def _logs(hub: HubProcess) -> httpx.Response:
    return httpx.get(
        f"{hub.url}{API}/sites/s1/logs",
        params={"application": "web"},
        headers=hub.headers(),
        timeout=30,
    )


@pytest.mark.postgres
def test_logs_asked_of_one_hub_reach_an_agent_connected_to_the_other(
    tmp_path: Path, database: str
) -> None:
    with two_hubs(tmp_path, database) as (a, b):
        _online_site(a, "s1")
        _post(a, "applications", _app("web"))
        wait_for(lambda: _placed_at(a, "web") == {"s1"}, "web placed at s1")
        silent = _logs(a)  # no agent anywhere: the request waits its time on both hubs
        assert (silent.status_code, silent.json()["reason"]) == (504, "SiteUnreachable")
        assert "through any hub sharing this database" in silent.json()["message"]
        agent = AgentOn(b, "line 1\nline 2\n")
        agent.start()
        answer = _logs(a)
        agent.join(30)
        assert (answer.status_code, answer.text) == (200, "line 1\nline 2\n")
        (request,) = agent.requests
        assert (request["type"], request["tail"]) == ("logs", 100)


class Writer(threading.Thread):
    """Writes Sites through one hub until it stops answering; keeps what it acknowledged."""

    def __init__(self, hub: HubProcess) -> None:
        super().__init__(daemon=True)
        self.hub = hub
        self.acknowledged: list[str] = []

    def run(self) -> None:
        with httpx.Client(base_url=self.hub.url, headers=self.hub.headers(), timeout=5) as c:
            for i in range(100_000):
                name = f"w{i}"
                try:
                    if c.post(f"{API}/sites", json=site(name)).status_code != 201:
                        return
                except httpx.HTTPError:
                    return
                self.acknowledged.append(name)


@pytest.mark.postgres
def test_killing_the_leader_hands_over_within_a_lease_and_loses_nothing(
    tmp_path: Path, database: str
) -> None:
    with two_hubs(tmp_path, database) as (a, b):
        _online_site(b, "s1")
        _post(a, "applications", _app("before"))
        wait_for(lambda: _placed_at(b, "before") == {"s1"}, "placement by hub A")
        writer = Writer(a)
        writer.start()
        wait_for(lambda: len(writer.acknowledged) >= 20, "writes acknowledged by hub A")
        a.process.kill()  # SIGKILL: no release, the lease must run out
        a.process.wait()
        writer.join(30)
        wait_for(lambda: _leads(b), "hub B to lead", LEASE_SECONDS + MARGIN_SECONDS)
        assert _leader_gauge(b) == 1.0
        stored = httpx.get(f"{b.url}{API}/sites", headers=b.headers(), timeout=10).json()
        names = {s["metadata"]["name"] for s in stored["items"]}
        assert set(writer.acknowledged) <= names, "every write hub A acknowledged is stored"
        _online_site(b, "s2")
        _post(b, "applications", _app("after"))
        # The writer's Sites are Pending: placement may count them too.
        wait_for(lambda: {"s1", "s2"} <= _placed_at(b, "after"), "placement by hub B")


@pytest.mark.postgres
def test_a_hub_stopping_cleanly_hands_over_at_once(tmp_path: Path, database: str) -> None:
    flags = ("--lease-seconds", "300")  # a handover that waited for the lease would time out
    with two_hubs(tmp_path, database, *flags) as (a, b):
        assert a.stop() == 0
        wait_for(lambda: _leads(b), "hub B to lead after A released the lease", MARGIN_SECONDS)


@pytest.mark.parametrize(
    ("value", "message"),
    [("1", "use 3 to 300 seconds"), ("301", "use 3 to 300 seconds"), ("soon", "not a number")],
    ids=["too-short", "too-long", "not-a-number"],
)
def test_lease_seconds_out_of_bounds_is_refused(tmp_path: Path, value: str, message: str) -> None:
    command = [sys.executable, "-m", "edgeplane.hub", "--data-dir", str(tmp_path / "h")]
    done = subprocess.run(
        [*command, "--lease-seconds", value], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "--lease-seconds" in done.stderr and message in done.stderr
    assert not (tmp_path / "h").exists(), "nothing was made"


OFFLINE_AFTER = 12.0
"""Past the 5 s lease flush of the follower and the leader's health period, with room."""


def _heartbeat(hub: HubProcess, site: str) -> str:
    answer = httpx.post(f"{hub.url}{API}/sites/{site}/heartbeat", headers=hub.headers(), timeout=5)
    if answer.status_code == 204:  # Online, nothing to rotate
        return "Online"
    assert answer.status_code == 200, answer.text
    phase: str = answer.json()["phase"]
    return phase


def _phase(hub: HubProcess, site: str) -> str:
    answer = httpx.get(f"{hub.url}{API}/sites/{site}", headers=hub.headers(), timeout=5)
    phase: str = answer.json()["status"]["phase"]
    return phase


@pytest.mark.postgres
def test_a_site_heartbeating_the_follower_stays_online_on_the_leader(
    tmp_path: Path, database: str
) -> None:
    flags = ("--offline-after-seconds", f"{OFFLINE_AFTER:g}")
    with two_hubs(tmp_path, database, *flags) as (a, b):
        _online_site(b, "beating")
        _online_site(b, "quiet")
        phases, until = set(), time.monotonic() + 3 * OFFLINE_AFTER
        # Heartbeats go to hub B only; hub A's health controller decides, from the
        # renewals B flushes to the store.
        while time.monotonic() < until or _phase(a, "quiet") != "Offline":
            phases.add(_heartbeat(b, "beating"))
            assert time.monotonic() < until + MARGIN_SECONDS, "the quiet site never went Offline"
            time.sleep(1.0)  # an agent's heartbeat period (short), not a wait for a result
        assert phases == {"Online"}, "every heartbeat was answered Online"
        assert _phase(a, "beating") == "Online"
        assert _leads(a) and not _leads(b)
