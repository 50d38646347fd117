"""Identity and liveness (issue 9, class 6), against a real hub and a real agent.

* The join token's labels are authoritative and ``edgeplane.io/`` labels are the hub's:
  a joining party cannot give itself one (422 naming the label, nothing created, the
  token still usable), nor report one on its devices through its status.
* Assignment names cannot collide: ``web`` at site ``a.b`` and ``web.a`` at site ``b``
  both read ``web.a.b`` without the hash the names now end in.
* Liveness is the hub's receive time: a heartbeat dated 2099 does not keep a silent
  site Online, and a site that joined but never reports takes no replica and goes
  Offline after the grace period, while a real agent beside it runs the application.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.fleet import Agent, wait_for
from tests.support.hub import HubProcess, running_hub

API = "/api/v1alpha1"
MERGE_PATCH = {"Content-Type": "application/merge-patch+json"}
OFFLINE_AFTER = 6.0


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubProcess]:
    """One real hub for the module that marks sites Offline after 6 s of silence."""
    data = tmp_path_factory.mktemp("identity") / "hub"
    data.mkdir()
    flags = ("--offline-after-seconds", str(OFFLINE_AFTER), "--bookmark-seconds", "1")
    with running_hub(data, *flags) as process:
        yield process


def _admin(hub: HubProcess) -> httpx.Client:
    return httpx.Client(base_url=hub.url + API, headers=hub.headers(), timeout=15)


def _token(admin: httpx.Client, **labels: str) -> str:
    answer = admin.post("/jointokens", json={"labels": labels, "ttlSeconds": 600})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["token"])


def _join(hub: HubProcess, token: str, site: str, **labels: str) -> httpx.Response:
    body = {"token": token, "site": site, "labels": labels, "inventory": {"cpus": 1}}
    return httpx.post(f"{hub.url}{API}/join", json=body, timeout=15)


def _site(admin: httpx.Client, name: str) -> dict[str, Any] | None:
    answer = admin.get(f"/sites/{name}")
    return dict(answer.json()) if answer.status_code == 200 else None


def _phase(admin: httpx.Client, name: str) -> str | None:
    return ((_site(admin, name) or {}).get("status") or {}).get("phase")


def test_a_joining_site_cannot_take_reserved_labels(hub: HubProcess) -> None:
    with _admin(hub) as admin:
        token = _token(admin, region="eu")
        for key in ("edgeplane.io/site", "edgeplane.io/tier", "auth.edgeplane.io/admin"):
            answer = _join(hub, token, "intruder", **{key: "victim"})
            assert answer.status_code == 422, answer.text
            assert answer.json()["field"] == f"labels[{key}]"
            assert "edgeplane.io/" in answer.json()["message"]
            assert _site(admin, "intruder") is None, "a refused join created the Site"
        # The token was not burnt; what the token pins wins over what the site asks.
        joined = _join(hub, token, "intruder", region="us", shelf="3")
        assert joined.status_code == 201, joined.text
        labels = (_site(admin, "intruder") or {})["metadata"]["labels"]
        assert labels == {"region": "eu", "shelf": "3"}
        # Admins may still pin a reserved label in the token.
        pinned = _token(admin, **{"edgeplane.io/tier": "edge"})
        assert _join(hub, pinned, "pinned").status_code == 201
        assert (_site(admin, "pinned") or {})["metadata"]["labels"] == {"edgeplane.io/tier": "edge"}


def test_a_join_names_what_is_wrong_with_it(hub: HubProcess) -> None:
    """A join body's misspelt field ("label") was dropped and the site joined without
    the labels meant; a bad token was "send 'Authorization: Bearer'" with no field, and
    inventory.runtime was blamed on spec.runtime, a field the body does not have."""
    with _admin(hub) as admin:
        token = _token(admin)
        cases: list[tuple[dict[str, Any], int, str]] = [
            ({"token": token, "site": "typo", "label": {"tier": "edge"}}, 422, "label"),
            ({"token": token, "site": None}, 422, "site"),
            (
                {"token": token, "site": "rt", "inventory": {"runtime": "dockr"}},
                422,
                "inventory.runtime",
            ),
            ({"token": "ep_nope_nope", "site": "nope"}, 401, "token"),
            ({"token": f"{token}@sha256:{'0' * 64}", "site": "nope"}, 401, "token"),
            ({"site": "nope"}, 401, "token"),
        ]
        for body, status, field in cases:
            answer = httpx.post(f"{hub.url}{API}/join", json=body, timeout=15)
            assert (answer.status_code, answer.json()["field"]) == (status, field), answer.text
            assert "Authorization" not in answer.json()["message"]
        assert _site(admin, "typo") is None and _site(admin, "rt") is None
        assert _join(hub, token, "typo").status_code == 201  # the token was kept


def test_an_assignment_labelled_for_another_site_is_refused(hub: HubProcess) -> None:
    """A site lists and watches by the site label, but gets and writes status by
    spec.site: an Assignment whose label named another site (an admin's slip) showed that
    site this one's workload, env secrets and all."""
    assignment: dict[str, Any] = {
        "apiVersion": "edgeplane.io/v1alpha1",
        "kind": "Assignment",
        "metadata": {"name": "slip", "labels": {"edgeplane.io/site": "other"}},
        "spec": {
            "application": "web",
            "revision": 1,
            "site": "mine",
            "workload": {"process": {"command": "x", "env": [{"name": "K", "value": "v"}]}},
        },
    }
    with _admin(hub) as admin:
        answer = admin.post("/assignments", json=assignment)
        assert answer.status_code == 422, answer.text
        assert answer.json()["field"] == "metadata.labels[edgeplane.io/site]"
        assert admin.get("/assignments/slip").status_code == 404
        assignment["metadata"]["labels"] = {"edgeplane.io/site": "mine"}
        assert admin.post("/assignments", json=assignment).status_code == 201
        moved = admin.get("/assignments/slip").json()
        moved["metadata"]["labels"]["edgeplane.io/site"] = "other"
        answer = admin.put("/assignments/slip", json=moved)
        assert answer.status_code == 422, answer.text
        assert admin.delete("/assignments/slip").status_code == 200


def _as_site(hub: HubProcess, credential: str) -> httpx.Client:
    headers = {"Authorization": f"Bearer {credential}"}
    return httpx.Client(base_url=hub.url + API, headers=headers, timeout=15)


def test_a_site_cannot_report_reserved_labels_in_its_status(hub: HubProcess) -> None:
    with _admin(hub) as admin:
        answer = _join(hub, _token(admin), "devices")
        assert answer.status_code == 201, answer.text
        before = _site(admin, "devices")
        device = {"name": "cam", "labels": {"edgeplane.io/site": "victim"}}
        with _as_site(hub, answer.json()["credential"]) as site:
            patch = json.dumps({"status": {"devices": [device]}})
            refused = site.patch("/sites/devices/status", content=patch, headers=MERGE_PATCH)
            assert refused.status_code == 422, refused.text
            assert refused.json()["field"] == "status.devices[0].labels[edgeplane.io/site]"
            put = site.put("/sites/devices/status", json={"status": {"devices": [device]}})
            assert put.status_code == 422, put.text
        assert _site(admin, "devices") == before, "a refused status write changed the Site"


def _application(name: str, **selector: str) -> dict[str, Any]:
    return {
        "apiVersion": "edgeplane.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": name},
        "spec": {
            "workload": {"process": {"command": "python3", "args": ["-c", "pass"]}},
            "placement": {"mode": "EverySite", "selector": {"matchLabels": selector}},
        },
    }


def _assignments(admin: httpx.Client, app: str) -> list[dict[str, Any]]:
    params = {"labelSelector": f"edgeplane.io/application={app}"}
    answer = admin.get("/assignments", params=params)
    assert answer.status_code == 200, answer.text
    return list(answer.json()["items"])


def test_assignment_names_do_not_collide(hub: HubProcess) -> None:
    """``web`` at ``a.b`` and ``web.a`` at ``b``: both read web.a.b without the hash."""
    with _admin(hub) as admin:
        for name, label in (("a.b", "one"), ("b", "two")):
            site: dict[str, Any] = {"apiVersion": "edgeplane.io/v1alpha1", "kind": "Site"}
            site["metadata"] = {"name": name, "labels": {"collide": label}}
            assert admin.post("/sites", json=site).status_code == 201
        assert admin.post("/applications", json=_application("web", collide="one")).is_success
        assert admin.post("/applications", json=_application("web.a", collide="two")).is_success

        def both() -> tuple[dict[str, Any], dict[str, Any]] | None:
            web, web_a = _assignments(admin, "web"), _assignments(admin, "web.a")
            return (web[0], web_a[0]) if len(web) == 1 and len(web_a) == 1 else None

        web, web_a = wait_for(both, "an Assignment for each application", 30)
        assert web["metadata"]["name"] != web_a["metadata"]["name"]
        assert (web["spec"]["application"], web["spec"]["site"]) == ("web", "a.b")
        assert (web_a["spec"]["application"], web_a["spec"]["site"]) == ("web.a", "b")
        assert web["metadata"]["name"].startswith("web.a.b.")
        assert web_a["metadata"]["name"].startswith("web.a.b.")


def test_a_heartbeat_from_the_future_does_not_keep_a_site_online(hub: HubProcess) -> None:
    with _admin(hub) as admin:
        answer = _join(hub, _token(admin), "time-traveller")
        assert answer.status_code == 201, answer.text
        with _as_site(hub, answer.json()["credential"]) as site:
            status = {"phase": "Online", "lastHeartbeat": "2099-01-01T00:00:00Z"}
            sent = site.patch(
                "/sites/time-traveller/status",
                content=json.dumps({"status": status}),
                headers=MERGE_PATCH,
            )
            assert sent.status_code == 200, sent.text
        kept = sent.json()["status"]["lastHeartbeat"]
        assert not kept.startswith("2099"), "the hub kept the site's clock"
        # Then silence: the hub's clock says it is gone.
        wait_for(
            lambda: _phase(admin, "time-traveller") == "Offline",
            "the silent site to go Offline",
            OFFLINE_AFTER * 5,
        )


def _sleeper() -> dict[str, Any]:
    """Two replicas of a process that just waits, at sites of the pool "ghosts"."""
    app = _application("sleeper")
    app["spec"]["placement"] = {
        "mode": "Replicas",
        "replicas": 2,
        "selector": {"matchLabels": {"pool": "ghosts"}},
    }
    process = {"command": sys.executable, "args": ["-c", "import time; time.sleep(600)"]}
    app["spec"]["workload"]["process"] = process
    return app


def test_a_site_that_never_reports_takes_nothing_and_goes_offline(
    hub: HubProcess, tmp_path: Path
) -> None:
    with _admin(hub) as admin:
        ghost = _join(hub, _token(admin, pool="ghosts"), "ghost")
        assert ghost.status_code == 201, ghost.text
        assert admin.post("/applications", json=_sleeper()).is_success
        seen: set[str] = set()

        def unplaced() -> dict[str, Any] | None:
            seen.update(a["spec"]["site"] for a in _assignments(admin, "sleeper"))
            status = admin.get("/applications/sleeper").json().get("status") or {}
            return status if status.get("unplaced") == 2 else None

        # Placed while the ghost is Pending: nothing goes there.
        wait_for(unplaced, "the application seen by placement, unplaced", 30)
        assert "ghost" not in seen, "a site that never reported was given a replica"
        agent = Agent("live", tmp_path / "live", hub.url, ["--heartbeat-seconds", "1"])
        agent.start(join=_token(admin, pool="ghosts"))
        try:

            def offline_and_running() -> bool:
                sites = {a["spec"]["site"] for a in _assignments(admin, "sleeper")}
                seen.update(sites)
                return sites == {"live"} and _phase(admin, "ghost") == "Offline"

            wait_for(offline_and_running, "ghost Offline and a replica at the live site", 60)
            assert "ghost" not in seen, "a site that never reported was given a replica"
            assert _phase(admin, "live") == "Online"
        finally:
            agent.stop()
            agent.kill_leftovers()
