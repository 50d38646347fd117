"""What a site's credential may do, through the hub's API on memory, SQLite and
PostgreSQL: its own Site and assignments, nothing of another site's, no admin API."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from edgeplane.api.kinds import KINDS
from edgeplane.api.wellknown import APPLICATION_LABEL, revision_name
from tests.conftest import AnyStore
from tests.integration.hub.siteaccess import (
    API,
    MERGE_PATCH,
    admin_client,
    app_of,
    as_site,
    assign,
    joined,
    state,
    tarball,
    watching,
)


@pytest.fixture
async def hub(store: AnyStore, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """Sites a and b, each with an assignment naming an artifact of its own."""
    async with admin_client(store, tmp_path) as client:
        client.headers["X-Site-A"] = await joined(client, "a")
        await joined(client, "b")
        for site, artifact in (("a", "demo"), ("b", "other")):
            await assign(client, "web", site, artifact)
            upload = await client.put(f"{API}/artifacts/{artifact}/1", content=tarball({}))
            assert upload.status_code == 201, upload.text
        yield client


def site_a(hub: httpx.AsyncClient) -> httpx.AsyncClient:
    return as_site(hub, hub.headers["X-Site-A"])


EVERY_PLURAL = [
    call
    for k in KINDS
    for call in (("GET", f"/{k.plural}"), ("POST", f"/{k.plural}"), ("GET", f"/{k.plural}/a"))
    if call not in {("GET", "/assignments"), ("GET", "/sites/a")}
]
OTHER_SITE = [
    ("GET", "/sites/b"),
    ("PUT", "/sites/b/status"),
    ("PATCH", "/sites/b/status"),
    ("GET", "/assignments/web.b"),
    ("PUT", "/assignments/web.b/status"),
    ("PATCH", "/assignments/web.b/status"),
    ("GET", "/assignments/missing.b"),
    ("GET", "/assignments/missing.a"),
    ("PATCH", "/assignments/missing.a/status"),
    ("GET", "/artifacts/other/1"),
    ("GET", "/artifacts/other/1/content"),
    ("GET", "/sites/b/requests"),
    ("POST", "/sites/b/requests/abc"),
]
ADMIN_ONLY = [
    ("PUT", "/sites/a"),
    ("PATCH", "/sites/a"),
    ("DELETE", "/sites/a"),
    ("PUT", "/assignments/web.a"),
    ("PATCH", "/assignments/web.a"),
    ("DELETE", "/assignments/web.a"),
    ("POST", "/jointokens"),
    ("GET", "/artifacts"),
    ("PUT", "/artifacts/demo/2"),
    ("PUT", "/artifacts/demo/1"),
    ("GET", "/sites/a/logs?application=web"),
    ("GET", "/sites/b/logs?application=web"),
    ("GET", "/applications/web/explain"),
    ("POST", "/applications/dry-run"),
    ("GET", ""),
]


@pytest.mark.parametrize(
    ("method", "path"),
    EVERY_PLURAL + OTHER_SITE + ADMIN_ONLY,
    ids=lambda v: v or "discovery",
)
async def test_a_site_may_not(
    hub: httpx.AsyncClient, store: AnyStore, method: str, path: str
) -> None:
    before = await state(store)
    async with site_a(hub) as site:
        answer = await site.request(method, f"{API}{path}", json={"status": {}})
    assert answer.status_code == 403, answer.text
    assert answer.json()["reason"] == "Forbidden"
    assert "site 'a' may not" in answer.json()["message"]
    assert await state(store) == before


async def test_a_site_reads_and_reports_on_its_own(hub: httpx.AsyncClient) -> None:
    async with site_a(hub) as site:
        assert (await site.get(f"{API}/sites/a")).json()["metadata"]["name"] == "a"
        assert (await site.get(f"{API}/assignments/web.a")).status_code == 200
        for kind in ("sites/a", "assignments/web.a"):
            patch = json.dumps({"status": {"phase": "Pending"}})
            patched = await site.patch(f"{API}/{kind}/status", content=patch, headers=MERGE_PATCH)
            assert patched.status_code == 200, patched.text
            status = {"phase": "Running" if "assignments" in kind else "Online"}
            replaced = await site.put(f"{API}/{kind}/status", json={"status": status})
            assert replaced.status_code == 200, replaced.text
            kept = (await hub.get(f"{API}/{kind}")).json()["status"]
            if kind == "sites/a":  # the hub stamps its own receive time as the heartbeat
                assert kept.pop("lastHeartbeat").endswith("Z")
            assert kept == status
        content = await site.get(f"{API}/artifacts/demo/1/content")
        assert (content.status_code, content.content) == (200, tarball({}))
        assert (await site.get(f"{API}/artifacts/demo/1")).json()["name"] == "demo"
        polled = await site.get(f"{API}/sites/a/requests", params={"waitSeconds": "0"})
        assert polled.json() == {"items": []}


@pytest.mark.parametrize(
    ("selector", "names"),
    [
        (None, ["web.a"]),
        ("edgeplane.io/application=web", ["web.a"]),
        ("edgeplane.io/site=b", []),
        ("edgeplane.io/site in (a,b)", ["web.a"]),
        ("!edgeplane.io/site", []),
    ],
    ids=["none", "own-app", "other-site", "both-sites", "no-site-label"],
)
async def test_a_site_lists_only_its_own_assignments(
    hub: httpx.AsyncClient, selector: str | None, names: list[str]
) -> None:
    params = {"labelSelector": selector} if selector else {}
    async with site_a(hub) as site:
        listed = await site.get(f"{API}/assignments", params=params)
    assert listed.status_code == 200, listed.text
    assert [i["metadata"]["name"] for i in listed.json()["items"]] == names


async def test_a_selector_that_does_not_parse_is_refused(hub: httpx.AsyncClient) -> None:
    async with site_a(hub) as site:
        answer = await site.get(f"{API}/assignments", params={"labelSelector": "x in (a"})
    assert (answer.status_code, answer.json()["field"]) == (400, "labelSelector")


async def test_a_site_watches_only_its_own_assignments(hub: httpx.AsyncClient) -> None:
    credential = hub.headers["X-Site-A"]
    async with watching(app_of(hub), credential, "watch=true") as next_event:
        first = await next_event()
        assert (first["type"], first["object"]["metadata"]["name"]) == ("ADDED", "web.a")
        await assign(hub, "db", "b")
        await assign(hub, "db", "a")
        later = await next_event()
        assert (later["type"], later["object"]["metadata"]["name"]) == ("ADDED", "db.a")


async def test_deleting_a_site_revokes_its_credential_at_once(hub: httpx.AsyncClient) -> None:
    async with as_site(hub, hub.headers["X-Site-A"]) as site:
        assert (await site.get(f"{API}/sites/a")).status_code == 200  # now cached as valid
        assert (await hub.delete(f"{API}/sites/a")).status_code == 200
        assert (await site.get(f"{API}/sites/a")).status_code == 401
        await joined(hub, "a")  # the name is free again, with a credential of its own
        assert (await site.get(f"{API}/sites/a")).status_code == 401


def revision_of(app: str, number: int) -> dict[str, object]:
    return {
        "apiVersion": "edgeplane.io/v1alpha1",
        "kind": "Revision",
        "metadata": {"name": revision_name(app, number), "labels": {APPLICATION_LABEL: app}},
        "spec": {
            "application": app,
            "applicationUid": "uid-1",
            "revision": number,
            "hash": "0" * 64,
            "template": {"workload": {"process": {"command": "true"}}},
            "createdAt": "2026-12-01T12:00:00Z",
        },
    }


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/revisions"),
        ("GET", "/revisions?watch=true"),
        ("GET", f"/revisions?labelSelector={APPLICATION_LABEL}%3Dweb"),
        ("GET", "/revisions/web.r1"),
        ("POST", "/revisions"),
        ("PUT", "/revisions/web.r1"),
        ("DELETE", "/revisions/web.r1"),
        ("GET", "/applications/web/revisions"),
        ("GET", "/applications/web/revisions?template=true"),
    ],
    ids=lambda v: v,
)
async def test_a_site_may_not_read_the_revisions_of_its_own_application(
    hub: httpx.AsyncClient, store: AnyStore, method: str, path: str
) -> None:
    created = await hub.post(f"{API}/revisions", json=revision_of("web", 1))
    assert created.status_code == 201, created.text
    before = await state(store)
    async with site_a(hub) as site:
        answer = await site.request(method, f"{API}{path}", json=revision_of("web", 1))
    assert (answer.status_code, answer.json()["reason"]) == (403, "Forbidden"), answer.text
    assert await state(store) == before
    assert (await hub.get(f"{API}/revisions/web.r1")).json()["spec"]["revision"] == 1
