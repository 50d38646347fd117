"""The dashboard over HTTP against a real hub process: who gets in, what bad input
gets, what hostile text becomes, and what the live stream says. (The browser's view is
tests/e2e/dashboard.)"""

from __future__ import annotations

import contextlib
import json
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.fleet import demo_app, wait_for
from tests.support.hub import HubProcess, running_hub

API = "/api/v1alpha1"


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubProcess]:
    with running_hub(tmp_path_factory.mktemp("dash") / "hub") as hub:
        for n in range(60):
            site = {
                "apiVersion": "edgeplane.io/v1alpha1",
                "kind": "Site",
                "metadata": {
                    "name": f"shop-{n:02d}",
                    "labels": {"region": "eu-west" if n % 2 else "us-east"},
                },
                "spec": {"location": {"lat": 40 + n / 10, "lon": -3 + n / 10}},
            }
            httpx.post(f"{hub.url}{API}/sites", json=site, headers=hub.headers()).raise_for_status()
        yield hub


@contextlib.contextmanager
def signed_in(hub: HubProcess, token: str | None = None) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=hub.url, timeout=30) as client:
        answer = client.post("/ui/login", data={"token": token or hub.token})
        assert answer.status_code == 303, answer.text
        yield client


def csrf_of(page: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', page)
    assert match, "no CSRF token on the page"
    return match[1]


@pytest.mark.parametrize(
    "path",
    [
        "/ui/",
        "/ui/sites",
        "/ui/sites/shop-01",
        "/ui/applications",
        "/ui/policies",
        "/ui/devices",
        "/ui/datastreams",
        "/ui/map/points?zoom=2",
    ],
)
def test_every_page_sends_a_stranger_to_sign_in_and_shows_nothing(
    hub: HubProcess, path: str
) -> None:
    answer = httpx.get(f"{hub.url}{path}")
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/ui/login?next=/ui/")
    assert "shop-" not in answer.text


def test_a_stranger_gets_no_stream_and_no_action(hub: HubProcess) -> None:
    assert httpx.get(f"{hub.url}/ui/live").status_code == 401
    refused = httpx.post(f"{hub.url}/ui/applications/x/rollout", data={"action": "pause"})
    assert refused.status_code == 401


def test_a_wrong_token_is_refused_and_gets_no_cookie(hub: HubProcess) -> None:
    answer = httpx.post(f"{hub.url}/ui/login", data={"token": "ep_not-a-token"})
    assert answer.status_code == 401
    assert "set-cookie" not in answer.headers
    assert "the hub refused this token" in answer.text


def test_the_session_cookie_is_opaque_httponly_strict_and_holds_no_token(hub: HubProcess) -> None:
    answer = httpx.post(f"{hub.url}/ui/login", data={"token": hub.token})
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/ui" in cookie
    assert hub.token not in cookie
    assert answer.headers["content-security-policy"].startswith("default-src 'self'")


def test_sign_in_sends_back_only_to_the_dashboard(hub: HubProcess) -> None:
    for target, expected in [
        ("/ui/sites?phase=Pending", "/ui/sites?phase=Pending"),
        ("//evil.example/ui/", "/ui/"),
        ("https://evil.example/", "/ui/"),
        ("/ui//evil.example", "/ui/"),
        ("/api/v1alpha1/sites", "/ui/"),
    ]:
        answer = httpx.post(
            f"{hub.url}/ui/login", params={"next": target}, data={"token": hub.token}
        )
        assert answer.headers["location"] == expected, target


def test_the_sites_table_is_paged_and_filtered_on_the_server(hub: HubProcess) -> None:
    with signed_in(hub) as client:
        first = client.get("/ui/sites").text
        assert "60 sites match; page 1 of 2" in first
        assert first.count('<tr id="site-') == 50
        second = client.get("/ui/sites", params={"page": "2"}).text
        assert second.count('<tr id="site-') == 10 and "shop-59" in second
        west = client.get("/ui/sites", params={"selector": "region=eu-west"}).text
        assert "30 sites match" in west and "shop-00" not in west
        named = client.get("/ui/sites", params={"name": "shop-1", "region": "us-east"}).text
        assert re.findall(r'<tr id="site-([^"]+)"', named) == [
            f"shop-{n}" for n in (10, 12, 14, 16, 18)
        ]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"selector": "region in (eu"}, "selector"),
        ({"phase": "Exploded"}, "phase"),
        ({"page": "-1"}, "page"),
    ],
    ids=["selector", "phase", "page"],
)
def test_a_bad_filter_is_refused_naming_the_field(
    hub: HubProcess, params: dict[str, str], field: str
) -> None:
    with signed_in(hub) as client:
        answer = client.get("/ui/sites", params=params)
    assert answer.status_code == 400
    assert f"{field}" in re.search(r'class="error" role="alert">([^<]*)<', answer.text)[1]  # type: ignore[index]


def test_the_map_is_aggregated_and_a_bad_bbox_named(hub: HubProcess) -> None:
    with signed_in(hub) as client:
        world = client.get("/ui/map/points", params={"zoom": "1"}).json()
        close = client.get("/ui/map/points", params={"zoom": "12"}).json()
        bad = client.get("/ui/map/points", params={"zoom": "3", "bbox": "1,2"})
    assert world["total"] == 60 and len(world["points"]) + len(world["clusters"]) < 60
    assert sum(c["count"] for c in world["clusters"]) + len(world["points"]) == 60
    assert len(close["points"]) == 60 and not close["clusters"]
    assert bad.status_code == 400 and bad.json()["field"] == "bbox"


def test_hostile_text_from_the_fleet_is_shown_as_text(hub: HubProcess) -> None:
    evil = '<img src=x onerror="alert(1)"><script>alert(2)</script>'
    status = {
        "status": {
            "conditions": [
                {
                    "type": "Ready",
                    "status": "False",
                    "reason": "Evil",
                    "message": evil,
                    "lastTransitionTime": "2026-01-01T00:00:00Z",
                }
            ]
        }
    }
    httpx.patch(
        f"{hub.url}{API}/sites/shop-03/status",
        content=json.dumps(status),
        headers={**hub.headers(), "content-type": "application/merge-patch+json"},
    ).raise_for_status()
    with signed_in(hub) as client:
        page = client.get("/ui/sites/shop-03").text
    assert evil not in page and "<script>alert(2)" not in page
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in page


def test_a_change_needs_the_session_s_csrf_token_and_this_origin(hub: HubProcess) -> None:
    with signed_in(hub) as client:
        csrf = csrf_of(client.get("/ui/sites").text)
        path = "/ui/applications/nothing-here/rollout"
        missing = client.post(path, data={"action": "pause"})
        wrong = client.post(path, data={"action": "pause", "csrf": "x" * 43})
        foreign = client.post(
            path, data={"action": "pause", "csrf": csrf}, headers={"origin": "https://evil.example"}
        )
        unknown = client.post(path, data={"action": "explode", "csrf": csrf})
    assert [a.status_code for a in (missing, wrong, foreign)] == [403, 403, 403]
    assert "CSRF" in missing.text and "another site" in foreign.text
    assert unknown.status_code == 400 and "action" in unknown.text


def test_sign_out_ends_the_session(hub: HubProcess) -> None:
    with signed_in(hub) as client:
        csrf = csrf_of(client.get("/ui/").text)
        assert client.post("/ui/logout", data={"csrf": csrf}).status_code == 303
        client.cookies.clear()
    with httpx.Client(base_url=hub.url) as other:
        assert other.get("/ui/").status_code == 303


def test_live_stream_refuses_bad_names_and_tells_of_new_sites(hub: HubProcess) -> None:
    with signed_in(hub) as client:
        assert client.get("/ui/live", params={"site": "Bad Name!"}).status_code == 400
        assert (
            client.get("/ui/live", params=[("site", f"s{n}") for n in range(201)]).status_code
            == 400
        )
        with client.stream("GET", "/ui/live", params={"site": "shop-70"}) as stream:
            lines = stream.iter_lines()
            events = _events(lines)
            first = next(events)
            assert first[0] == "summary" and "Pending" in first[1]
            _create_site(hub, "shop-70")
            seen = {}
            for name, data in events:
                seen[name] = data
                if "phases" in seen and "site-shop-70" in seen:
                    break
    assert {"name": "shop-70", "phase": "Pending"} in json.loads(seen["phases"])
    assert 'data-phase="Pending"' in seen["site-shop-70"]


def _create_site(hub: HubProcess, name: str) -> None:
    site = {"apiVersion": "edgeplane.io/v1alpha1", "kind": "Site", "metadata": {"name": name}}
    httpx.post(f"{hub.url}{API}/sites", json=site, headers=hub.headers()).raise_for_status()


def _events(lines: Iterator[str]) -> Iterator[tuple[str, str]]:
    name, data = "", []
    for line in lines:
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            data.append(line[6:])
        elif not line and name:
            yield name, "\n".join(data)
            name, data = "", []


def test_a_rotated_token_signs_its_sessions_out(tmp_path: Path) -> None:
    with running_hub(tmp_path / "hub") as hub, signed_in(hub) as client:
        assert client.get("/ui/sites").status_code == 200
        rotated = httpx.post(f"{hub.url}{API}/tokens/rotate-admin", headers=hub.headers())
        rotated.raise_for_status()

        def signed_out() -> Any:
            answer = client.get("/ui/sites")
            return answer if answer.status_code == 303 else None

        answer = wait_for(signed_out, "the old token's session to end", timeout=20)
        assert answer.headers["location"].startswith("/ui/login")
        with signed_in(hub, rotated.json()["token"]) as fresh:
            assert fresh.get("/ui/sites").status_code == 200


def test_failed_sign_ins_are_limited_per_browser(tmp_path: Path) -> None:
    with running_hub(tmp_path / "hub") as hub, httpx.Client(base_url=hub.url) as client:
        codes = [
            client.post("/ui/login", data={"token": f"wrong-{n}"}).status_code for n in range(8)
        ]
        assert codes[:5] == [401] * 5 and 429 in codes[5:]
        # The hub's own loopback peer was never pushed to its refused-token limit.
        assert httpx.get(f"{hub.url}{API}/sites", headers=hub.headers()).status_code == 200


def test_over_https_the_cookie_is_secure_and_the_dashboard_trusts_its_own_hub(
    tmp_path: Path,
) -> None:
    with (
        running_hub(tmp_path / "hub", tls=True) as hub,
        httpx.Client(base_url=hub.url, verify=hub.verify, timeout=30) as client,
    ):
        answer = client.post("/ui/login", data={"token": hub.token})
        assert answer.status_code == 303, answer.text
        assert "Secure" in answer.headers["set-cookie"]
        assert client.get("/ui/sites").status_code == 200


def test_a_dot_dot_path_under_ui_reaches_no_api_route(hub: HubProcess) -> None:
    """The hub lets /ui/... past its token check for the dashboard to judge; a raw
    ``/ui/../api/...`` (clients normalise it away, attackers need not) must not be an
    API path then."""
    host, port = hub.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as raw:
        raw.sendall(
            b"GET /ui/../api/v1alpha1/sites HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        answer = b""
        while chunk := raw.recv(65536):
            answer += chunk
    status = answer.split(b"\r\n", 1)[0]
    assert b" 200 " not in status and b"shop-" not in answer, answer[:300]


def test_application_pages_show_placement_explain_and_rollout(hub: HubProcess) -> None:
    app = demo_app(
        "shelf-vision", mode="Replicas", replicas=2, selector={"matchLabels": {"tier": "gpu"}}
    )
    httpx.post(f"{hub.url}{API}/applications", json=app, headers=hub.headers()).raise_for_status()
    with signed_in(hub) as client:
        listed = client.get("/ui/applications")

        def unplaced() -> httpx.Response | None:
            answer = client.get("/ui/applications/shelf-vision")
            return answer if 'id="unplaced"' in answer.text else None

        page = wait_for(unplaced, "the application's page to show it unplaced")
        one = client.get("/ui/applications/shelf-vision/explain", params={"site": "shop-01"})
        missing = client.get("/ui/applications/no-such-app")
        bad = client.get("/ui/applications/Not_A_Name")
    assert listed.status_code == 200 and "shelf-vision" in listed.text
    assert "2 unplaced" in page.text and 'class="grid histogram"' in page.text
    assert 'name="action" value="pause"' in page.text and 'name="csrf"' in page.text
    assert one.status_code == 200 and "not feasible" in one.text
    assert missing.status_code == 404 and bad.status_code == 404
