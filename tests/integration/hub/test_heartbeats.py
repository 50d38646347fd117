"""Heartbeats against real hub processes (SQLite and PostgreSQL): ``POST /sites/{site}/
heartbeat`` renews the site's lease and writes nothing to the store; a site heard from
only by heartbeats stays Online, a silent one goes Offline and hears so in its next
heartbeat's answer; a restarted hub loads the flushed leases; bad heartbeats are refused
and change nothing; a credential rotation reaches the site in the answer."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import drop_database, fresh_database
from tests.support.fleet import wait_for
from tests.support.hub import HubProcess, running_hub

API = "/api/v1alpha1"
OFFLINE_AFTER = 2.0
BEAT_SECONDS = 0.25
"""How often these tests' sites heartbeat: far within ``OFFLINE_AFTER``."""


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str | None]:
    """None: the hub's own SQLite file in its data dir; else a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield None
        return
    admin: str = request.getfixturevalue("postgres_url")
    url = asyncio.run(fresh_database(admin))
    yield url
    asyncio.run(drop_database(admin, url))


@pytest.fixture
def hub(tmp_path: Path, database_url: str | None) -> Iterator[HubProcess]:
    """A hub that marks sites Offline only after the default 40 s: nothing but the test
    writes to its store."""
    with running_hub(tmp_path / "hub", database_url=database_url) as hub:
        yield hub


@pytest.fixture
def quick_hub(tmp_path: Path, database_url: str | None) -> Iterator[HubProcess]:
    """A hub that marks a site Offline after ``OFFLINE_AFTER`` seconds of silence."""
    flags = ("--offline-after-seconds", str(OFFLINE_AFTER))
    with running_hub(tmp_path / "hub", *flags, database_url=database_url) as hub:
        yield hub


def call(
    hub: HubProcess, method: str, path: str, token: str | None = None, **kwargs: Any
) -> httpx.Response:
    """A request as the admin, or with ``token`` ("" for none)."""
    token = hub.token if token is None else token
    headers = [("Authorization", f"Bearer {token}")] if token else []
    extra = kwargs.pop("headers", {})
    headers += list(extra.items()) if isinstance(extra, dict) else list(extra)
    return httpx.request(method, f"{hub.url}{API}{path}", headers=headers, timeout=30, **kwargs)


def joined(hub: HubProcess, site: str) -> str:
    """Join ``site`` as an agent would; its credential. It reports itself Online."""
    made = call(hub, "POST", "/jointokens", json={"labels": {}, "ttlSeconds": 600})
    body = {"token": made.json()["token"], "site": site, "inventory": {"runtime": "process"}}
    answer = call(hub, "POST", "/join", token="", json=body)
    assert answer.status_code == 201, answer.text
    credential = str(answer.json()["credential"])
    online = call(
        hub,
        "PATCH",
        f"/sites/{site}/status",
        credential,
        json={"status": {"phase": "Online"}},
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert online.status_code == 200, online.text
    return credential


def beat(hub: HubProcess, site: str, credential: str, **kwargs: Any) -> httpx.Response:
    return call(hub, "POST", f"/sites/{site}/heartbeat", credential, **kwargs)


HELD_TERMS = {"heartbeatSeconds": "10.0", "leaseSeconds": "30.0"}
"""The hub's default terms, sent as an agent holding them does (then Online is a 204)."""


def beat_ok(hub: HubProcess, site: str, credential: str) -> dict[str, Any]:
    """The heartbeat's phase and rotation; 204 (no body) says Online with nothing to
    rotate (the terms are ``test_heartbeat_terms``'s business)."""
    answer = beat(hub, site, credential, params=HELD_TERMS)
    if answer.status_code == 204:
        assert answer.content == b""
        return {"phase": "Online", "rotation": None}
    assert answer.status_code == 200, answer.text
    body = {k: answer.json()[k] for k in ("phase", "rotation")}
    assert body != {"phase": "Online", "rotation": None}, "that one is 204"
    return body


def site_of(hub: HubProcess, site: str) -> dict[str, Any]:
    got = call(hub, "GET", f"/sites/{site}")
    assert got.status_code == 200, got.text
    body: dict[str, Any] = got.json()
    return body


def status_of(hub: HubProcess, site: str) -> dict[str, Any]:
    return dict(site_of(hub, site).get("status") or {})


def store_version(hub: HubProcess) -> int:
    """The store's newest resourceVersion, as a list reports it."""
    listed = call(hub, "GET", "/sites", params={"limit": "1"})
    return int(listed.json()["metadata"]["resourceVersion"])


def next_second(stamp: str) -> None:
    """Until the hub's clock (second precision, as lastHeartbeat) has passed ``stamp``."""
    wait_for(
        lambda: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()) > stamp,
        f"the clock to pass {stamp}",
        timeout=5,
    )


def test_heartbeats_write_nothing_and_lastheartbeat_advances(hub: HubProcess) -> None:
    credential = joined(hub, "shop-1")
    before, stored = store_version(hub), status_of(hub, "shop-1")["lastHeartbeat"]
    for _ in range(30):
        assert beat_ok(hub, "shop-1", credential) == {"phase": "Online", "rotation": None}
    next_second(stored)

    def advanced() -> bool:
        beat_ok(hub, "shop-1", credential)
        return bool(status_of(hub, "shop-1")["lastHeartbeat"] > stored)

    wait_for(advanced, "lastHeartbeat read back to advance", timeout=10)
    listed = call(hub, "GET", "/sites").json()["items"]
    assert listed[0]["status"]["lastHeartbeat"] > stored, "LIST shows the lease too"
    assert store_version(hub) == before, "heartbeats wrote to the store"


def test_a_site_heard_only_by_heartbeats_stays_online_a_silent_one_goes_offline(
    quick_hub: HubProcess,
) -> None:
    hub = quick_hub
    beating, silent = joined(hub, "beating"), joined(hub, "silent")
    version = site_of(hub, "beating")["metadata"]["resourceVersion"]
    started = time.monotonic()
    while time.monotonic() - started < 3 * OFFLINE_AFTER + 1:
        assert beat_ok(hub, "beating", beating)["phase"] == "Online"
        time.sleep(BEAT_SECONDS)  # the heartbeat period of this test's site
    wait_for(lambda: status_of(hub, "silent").get("phase") == "Offline", "silent Offline")
    assert status_of(hub, "beating")["phase"] == "Online"
    assert site_of(hub, "beating")["metadata"]["resourceVersion"] == version
    assert beat_ok(hub, "silent", silent) == {"phase": "Offline", "rotation": None}


def test_a_restarted_hub_loads_the_leases_and_keeps_heartbeating_sites_online(
    tmp_path: Path,
) -> None:
    # Longer than the other tests' OFFLINE_AFTER: the site is silent while the hub stops
    # and starts again, and this must not be what a slow machine turns into Offline.
    offline_after = 2 * OFFLINE_AFTER
    data, flags = tmp_path / "hub", ("--offline-after-seconds", str(offline_after))
    with running_hub(data, *flags) as first:
        credential = joined(first, "shop-1")
        stored = status_of(first, "shop-1")["lastHeartbeat"]
        next_second(stored)
        beat_ok(first, "shop-1", credential)
        renewed = status_of(first, "shop-1")["lastHeartbeat"]
        assert renewed > stored
        assert first.stop() == 0  # SIGTERM: the last renewals are flushed
    with running_hub(data, *flags) as again:
        assert status_of(again, "shop-1")["lastHeartbeat"] >= renewed, "leases not loaded"
        version = site_of(again, "shop-1")["metadata"]["resourceVersion"]
        started = time.monotonic()
        while time.monotonic() - started < 3 * offline_after + 1:
            assert beat_ok(again, "shop-1", credential)["phase"] == "Online"
            time.sleep(BEAT_SECONDS)  # the heartbeat period of this test's site
        assert site_of(again, "shop-1")["metadata"]["resourceVersion"] == version


def test_bad_heartbeats_are_refused_and_change_nothing(hub: HubProcess) -> None:
    mine, other = joined(hub, "shop-1"), joined(hub, "shop-2")
    before, stored = store_version(hub), status_of(hub, "shop-1")["lastHeartbeat"]
    next_second(stored)  # a renewal now would show in lastHeartbeat
    refused = {
        "another site's credential": (beat(hub, "shop-1", other), 403, "Forbidden", None),
        "an unknown site": (beat(hub, "ghost", hub.token), 404, "NotFound", "metadata.name"),
        "a body over 64 bytes": (
            beat(hub, "shop-1", mine, content=b"{" + b" " * 64 + b"}"),
            413,
            "RequestEntityTooLarge",
            "body",
        ),
        "a body that says something": (
            beat(hub, "shop-1", mine, json={"phase": "Online"}),
            400,
            "BadRequest",
            "body",
        ),
        "no token": (beat(hub, "shop-1", ""), 401, "Unauthorized", None),
        "a forged token": (beat(hub, "shop-1", "ep_abc_forged"), 401, "Unauthorized", None),
        "GET": (call(hub, "GET", "/sites/shop-1/heartbeat", mine), 405, "MethodNotAllowed", None),
        "two credentials": (
            beat(hub, "shop-1", "", headers=[("Authorization", f"Bearer {mine}")] * 2),
            400,
            "BadRequest",
            "Authorization",
        ),
    }
    for what, (answer, status, reason, field) in refused.items():
        assert answer.status_code == status, f"{what}: {answer.status_code} {answer.text}"
        body = answer.json()
        assert (body["reason"], body["field"]) == (reason, field), what
        assert body["message"], what
    assert beat(hub, "shop-1", "").headers["www-authenticate"] == "Bearer"
    assert status_of(hub, "shop-1")["lastHeartbeat"] == stored, "a refused heartbeat renewed"
    assert store_version(hub) == before
    assert beat_ok(hub, "shop-1", mine)["phase"] == "Online", "the site itself still beats"


def test_refused_heartbeat_credentials_count_against_the_peer(hub: HubProcess) -> None:
    """As on every other route: past the refused-token burst (50) the peer gets 429."""
    statuses: list[int] = []
    with httpx.Client(base_url=f"{hub.url}{API}", timeout=30) as client:
        while 429 not in statuses and len(statuses) < 1000:
            headers = {"Authorization": f"Bearer ep_abc_forged{len(statuses)}"}
            statuses.append(client.post("/sites/shop-1/heartbeat", headers=headers).status_code)
    assert statuses[-1] == 429, statuses
    assert set(statuses[:-1]) == {401} and len(statuses) > 50, statuses


def test_a_credential_rotation_reaches_the_site_in_the_heartbeat_answer(hub: HubProcess) -> None:
    credential = joined(hub, "shop-1")
    assert beat_ok(hub, "shop-1", credential)["rotation"] is None
    asked = call(hub, "POST", "/sites/shop-1/credential/rotate", json={"overlapSeconds": 60})
    assert asked.status_code == 202, asked.text
    deadline = asked.json()["previousCredentialExpiresAt"]
    assert beat_ok(hub, "shop-1", credential) == {"phase": "Online", "rotation": deadline}
    taken = call(hub, "POST", "/sites/shop-1/credential", credential, json={})
    assert taken.status_code in (200, 201), taken.text
    new = str(taken.json()["credential"])
    # As the agent does: the notice is still up, it asks again with the new credential,
    # which no rotation is pending for, and the hub clears the notice.
    assert beat_ok(hub, "shop-1", new)["rotation"] == deadline
    again = call(hub, "POST", "/sites/shop-1/credential", new, json={})
    assert again.status_code == 409, again.text
    assert beat_ok(hub, "shop-1", new) == {"phase": "Online", "rotation": None}
