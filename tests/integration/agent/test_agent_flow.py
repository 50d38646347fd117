"""The whole flow with a real hub and real agent processes on loopback: declare →
place → ship → run → observe, and what happens when an agent or the hub goes away."""

from __future__ import annotations

import os
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.fleet import (
    DEMO_SERVICE,
    Agent,
    Fleet,
    demo_app,
    endpoint,
    tarball,
    wait_for,
    who,
)

pytestmark = pytest.mark.timeout(240)


def push_demo(fleet: Fleet, version: str) -> dict[str, object]:
    return fleet.push_artifact(
        "demo-service", version, tarball(DEMO_SERVICE, {"VERSION": f"{version}\n"})
    )


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0] != "Z"


def test_deploy_update_remove(fleet: Fleet) -> None:
    push_demo(fleet, "1.0.0")
    push_demo(fleet, "2.0.0")
    fleet.add_agent("site-a", {"region": "eu-west"})
    fleet.add_agent("site-b", {"region": "us-east"})
    fleet.ok("POST", "/applications", demo_app("web"))
    first = wait_for(lambda: fleet.running("web", {"site-a", "site-b"}), "web on both sites")
    before = {site: who(endpoint(a)) for site, a in first.items()}
    assert {s: (w["site"], w["version"]) for s, w in before.items()} == {
        "site-a": ("site-a", "1.0.0"),
        "site-b": ("site-b", "1.0.0"),
    }

    fleet.ok("PUT", "/applications/web", demo_app("web", version="2.0.0"))
    second = wait_for(
        lambda: (
            r
            if (r := fleet.running("web", {"site-a", "site-b"}, generation=2))
            and all(who(endpoint(a))["version"] == "2.0.0" for a in r.values())
            else None
        ),
        "web updated to 2.0.0 on both sites",
    )
    for site, assignment in second.items():
        assert assignment["metadata"]["generation"] == 2
        assert not alive(before[site]["pid"]), "the old version must be stopped"

    pids = [who(endpoint(a))["pid"] for a in second.values()]
    fleet.ok("DELETE", "/applications/web")
    wait_for(lambda: not fleet.assignments("web"), "assignments removed")
    wait_for(lambda: not any(alive(p) for p in pids), "workloads stopped")


def test_kill_9_agent_keeps_workloads_and_the_restart_adopts_them(fleet: Fleet) -> None:
    push_demo(fleet, "1.0.0")
    agent = fleet.add_agent("site-a")
    fleet.ok("POST", "/applications", demo_app("web"))
    running = wait_for(lambda: fleet.running("web", {"site-a"}), "web running")
    url, status = endpoint(running["site-a"]), running["site-a"]["status"]
    pid = who(url)["pid"]

    agent.kill9()
    assert who(url)["pid"] == pid, "the workload outlives its agent"

    agent.start()  # no join token: the stored credential is reused
    log = agent.log
    wait_for(lambda: "adopt" in log.read_text().lower(), "the restarted agent adopting", 60)
    # Time for the supervisor to have restarted it, had it not adopted it.
    wait_for(lambda: fleet.ok("GET", "/sites/site-a")["status"].get("phase") == "Online", "online")
    assert who(url)["pid"] == pid
    after = fleet.assignments("web")["site-a"]["status"]
    assert after["restarts"] == status.get("restarts", 0) == 0
    assert after["startedAt"] == status["startedAt"]
    assert (agent.data_dir / "credential").stat().st_mode & 0o777 == 0o600


CRASHER = """
import os, sys, time
with open(os.environ["COUNT_FILE"], "a") as f:
    f.write("start\\n")
time.sleep(0.3)
sys.exit(3)
"""


def crashing_app(count_file: Path) -> dict[str, object]:
    return {
        "apiVersion": "edgeplane.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "crasher"},
        "spec": {
            "workload": {
                "process": {
                    "command": "python3",
                    "args": ["-c", CRASHER],
                    "env": {"COUNT_FILE": str(count_file)},
                    "restartPolicy": "Always",
                }
            },
            "placement": {"mode": "EverySite"},
        },
    }


def starts(count_file: Path) -> int:
    return len(count_file.read_text().splitlines()) if count_file.exists() else 0


def test_hub_down_30_s_workloads_keep_running_and_status_converges(
    fleet: Fleet, tmp_path: Path
) -> None:
    push_demo(fleet, "1.0.0")
    fleet.add_agent("site-a")
    count_file = tmp_path / "crasher.starts"
    fleet.ok("POST", "/applications", demo_app("web"))
    fleet.ok("POST", "/applications", crashing_app(count_file))
    url = endpoint(wait_for(lambda: fleet.running("web", {"site-a"}), "web running")["site-a"])
    wait_for(lambda: starts(count_file) >= 2, "the crasher restarted once")
    pid = who(url)["pid"]

    fleet.stop_hub()
    outage_started, seen = time.monotonic(), starts(count_file)
    while time.monotonic() - outage_started < 30:
        assert who(url)["pid"] == pid, "the workload keeps running while the hub is down"
        time.sleep(1)
    restarted_offline = starts(count_file) - seen
    assert restarted_offline >= 1, "a crashing workload is still restarted locally"

    fleet.start_hub()
    local = starts(count_file)

    def converged() -> bool:
        crasher = fleet.assignments("crasher")["site-a"]["status"]
        site = fleet.ok("GET", "/sites/site-a")["status"]
        fresh = time.time() - _parse(site["lastHeartbeat"]) < 10
        return crasher.get("restarts", 0) >= local - 1 and site["phase"] == "Online" and fresh

    wait_for(converged, "status converging after the outage", 60)
    assert who(url)["pid"] == pid
    crasher = fleet.assignments("crasher")["site-a"]["status"]
    assert crasher["phase"] in ("CrashLoopBackOff", "Running", "Starting")
    assert crasher.get("reason") or crasher["phase"] != "CrashLoopBackOff"


def _parse(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def test_tampered_artifact_is_refused_and_nothing_starts(fleet: Fleet) -> None:
    record = push_demo(fleet, "1.0.0")
    blob = fleet.hub_dir / "artifacts" / "sha256" / str(record["sha256"])
    blob.write_bytes(blob.read_bytes()[:-100] + b"x" * 100)  # same size, other bytes
    fleet.add_agent("site-a")
    fleet.ok("POST", "/applications", demo_app("web"))

    def refused() -> dict[str, object] | None:
        status = (fleet.assignments("web").get("site-a") or {}).get("status") or {}
        return status if status.get("reason") == "ArtifactInvalid" else None

    status = wait_for(refused, "the tampered artifact refused")
    assert status["phase"] == "Failed"
    assert "sha256" in str(status["message"])
    assert not status.get("endpoints")


def test_reused_join_token_is_refused_and_creates_nothing(fleet: Fleet) -> None:
    token = fleet.join_token({"region": "eu-west"})
    first = fleet.agents["a"] = Agent("a", fleet.root / "sites" / "a", fleet.url)
    first.start(join=token)
    wait_for(lambda: fleet.api("GET", "/sites/a").status_code == 200, "site a joined")
    again = Agent("b", fleet.root / "sites" / "b", fleet.url)
    assert again.start(join=token).wait(60) == 1
    assert "already used" in again.log.read_text()
    assert fleet.api("GET", "/sites/b").status_code == 404
    assert not (fleet.root / "sites" / "b" / "credential").exists()


def test_logs_through_the_hub(fleet: Fleet) -> None:
    push_demo(fleet, "1.0.0")
    fleet.add_agent("site-a")
    fleet.ok("POST", "/applications", demo_app("web"))
    url = endpoint(wait_for(lambda: fleet.running("web", {"site-a"}), "web running")["site-a"])
    httpx.get(f"{url}/hello-from-the-test", timeout=5)
    response = wait_for(
        lambda: (
            r
            if (
                r := fleet.api(
                    "GET", "/sites/site-a/logs", params={"application": "web", "tail": "5"}
                )
            ).status_code
            == 200
            and "hello-from-the-test" in r.text
            else None
        ),
        "the request line in the logs",
    )
    assert len(response.text.strip().splitlines()) <= 5


def test_a_policy_change_moves_an_application_out_of_a_jurisdiction(fleet: Fleet) -> None:
    push_demo(fleet, "1.0.0")
    fleet.add_agent("us-site", {"jurisdiction": "us"})
    fleet.add_agent("eu-site", {"jurisdiction": "eu"})
    wait_for(
        lambda: fleet.site_phase("us-site") == fleet.site_phase("eu-site") == "Online", "online"
    )
    app = demo_app(
        "records", mode="Replicas", replicas=1, selector={"matchLabels": {"jurisdiction": "us"}}
    )
    fleet.ok("POST", "/applications", app)
    running = wait_for(lambda: fleet.running("records", {"us-site"}), "records at the US site")
    old_pid = who(endpoint(running["us-site"]))["pid"]

    app["spec"]["placement"].pop("selector")
    fleet.ok("PUT", "/applications/records", app)  # anywhere now; stays put
    policy = {
        "apiVersion": "edgeplane.io/v1alpha1",
        "kind": "Policy",
        "metadata": {"name": "records-stay-in-eu"},
        "spec": {
            "scope": "Placement",
            "enforcement": "Deny",
            "rules": [{"name": "eu", "expression": 'site.labels["jurisdiction"] == "eu"'}],
        },
    }
    fleet.ok("POST", "/policies", policy)
    moved = wait_for(lambda: fleet.running("records", {"eu-site"}), "records moved to the EU site")
    assert who(endpoint(moved["eu-site"]))["site"] == "eu-site"
    wait_for(lambda: not alive(old_pid), "the US instance stopped")
    status = fleet.ok("GET", "/applications/records")["status"]
    assert "1 site(s) excluded by policy records-stay-in-eu" in status["message"]


def test_divided_replicas_run_as_many_instances_at_each_site(fleet: Fleet) -> None:
    push_demo(fleet, "1.0.0")
    fleet.add_agent("site-a", {"region": "eu"})
    fleet.add_agent("site-b", {"region": "us"})
    # Both joined first: a site that joins later does not take replicas that run (stickiness).
    wait_for(lambda: fleet.site_phase("site-a") == fleet.site_phase("site-b") == "Online", "online")
    weights = [
        {"selector": {"matchLabels": {"region": "eu"}}, "weight": 2},
        {"selector": {}, "weight": 1},
    ]
    app = demo_app("batch", mode="Replicas", replicas=3, division="Divided", weights=weights)
    fleet.ok("POST", "/applications", app)

    def ready(counts: dict[str, int]) -> dict[str, Any] | None:
        found = fleet.assignments("batch")
        if {s: a["spec"]["replicas"] for s, a in found.items()} != counts:
            return None
        for item in found.values():
            status = item.get("status") or {}
            wanted = item["spec"]["replicas"]
            if status.get("phase") != "Running" or status.get("ready") != wanted:
                return None
            if len(status.get("endpoints") or []) != wanted:
                return None
        return found

    first = wait_for(lambda: ready({"site-a": 2, "site-b": 1}), "2 instances at a, 1 at b")
    answers = [who(e["url"]) for a in first.values() for e in a["status"]["endpoints"]]
    assert sorted(w["site"] for w in answers) == ["site-a", "site-a", "site-b"]
    assert len({w["pid"] for w in answers}) == 3

    app["spec"]["placement"]["replicas"] = 6
    fleet.ok("PUT", "/applications/batch", app)
    grown = wait_for(lambda: ready({"site-a": 4, "site-b": 2}), "4 instances at a, 2 at b")
    pids = {who(e["url"])["pid"] for a in grown.values() for e in a["status"]["endpoints"]}
    assert len(pids) == 6 and {w["pid"] for w in answers} <= pids  # nothing restarted
    status = fleet.ok("GET", "/applications/batch")["status"]
    assert (status["replicas"], status["ready"], status["unplaced"]) == (6, 6, 0)
