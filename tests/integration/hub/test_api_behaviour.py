"""The hub's HTTP API over a real SQLite store, in process (ASGI transport)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from edgeplane.hub.app import HubSettings, create_app
from edgeplane.hub.auth import bootstrap_admin
from edgeplane.store.factory import open_store, sqlite_url
from edgeplane.store.sql import SqlStore

API = "/api/v1alpha1"
MERGE = {"Content-Type": "application/merge-patch+json"}


def app_obj(name: str = "web", replicas: int = 2, **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "edgeplane.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "workload": {"process": {"command": "python3"}},
            "resources": {"cpu": "500m", "memory": "256Mi"},
            "placement": {"mode": "Replicas", "replicas": replicas},
        },
    }


@pytest.fixture
async def hub_store(tmp_path: Path) -> AsyncIterator[SqlStore]:
    store = open_store(sqlite_url(tmp_path), poll_interval=0.05)
    await store.open()
    yield store
    await store.close()


@pytest.fixture
async def client(hub_store: SqlStore, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    token = await bootstrap_admin(hub_store, tmp_path)
    app = create_app(hub_store, HubSettings(data_dir=tmp_path, max_body_bytes=64 * 1024))
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://hub", headers=headers) as c:
        yield c


async def snapshot(store: SqlStore) -> tuple[int, list[Any]]:
    return await store.current_resource_version(), (await store.list("Application")).items


async def test_crud_round_trip(client: httpx.AsyncClient) -> None:
    created = await client.post(f"{API}/applications", json=app_obj(team="a"))
    assert created.status_code == 201
    assert created.json()["metadata"]["generation"] == 1
    got = await client.get(f"{API}/applications/web")
    assert got.json() == created.json()
    replaced = await client.put(f"{API}/applications/web", json=app_obj(replicas=5))
    assert replaced.json()["metadata"]["generation"] == 2
    assert replaced.json()["metadata"]["labels"] == {}
    listed = await client.get(f"{API}/applications")
    assert listed.json()["kind"] == "ApplicationList"
    assert [i["metadata"]["name"] for i in listed.json()["items"]] == ["web"]
    deleted = await client.delete(f"{API}/applications/web")
    assert deleted.status_code == 200
    assert (await client.get(f"{API}/applications/web")).status_code == 404


async def test_merge_patch_sets_and_removes(client: httpx.AsyncClient) -> None:
    await client.post(f"{API}/applications", json=app_obj(team="a", tier="x"))
    patch = {
        "metadata": {"labels": {"tier": None, "new": "1"}},
        "spec": {"placement": {"replicas": 7}},
    }
    patched = await client.patch(
        f"{API}/applications/web", content=json.dumps(patch), headers=MERGE
    )
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert body["metadata"]["labels"] == {"team": "a", "new": "1"}
    assert body["spec"]["placement"]["replicas"] == 7
    assert body["metadata"]["generation"] == 2


async def test_status_subresource(client: httpx.AsyncClient) -> None:
    await client.post(f"{API}/applications", json={**app_obj(), "status": {"ready": 9}})
    stored = (await client.get(f"{API}/applications/web")).json()
    assert "status" not in stored  # status is written through /status only
    put = await client.put(
        f"{API}/applications/web/status",
        json={**stored, "status": {"ready": 2, "sites": ["a", "b"]}},
    )
    assert put.status_code == 200, put.text
    assert put.json()["status"] == {"ready": 2, "sites": ["a", "b"]}
    assert put.json()["metadata"]["generation"] == 1
    patch = await client.patch(
        f"{API}/applications/web/status",
        content=json.dumps({"status": {"ready": 3}}),
        headers=MERGE,
    )
    assert patch.json()["status"] == {"ready": 3, "sites": ["a", "b"]}
    spec_put = await client.put(f"{API}/applications/web", json={**app_obj(), "status": {}})
    assert spec_put.json()["status"] == {"ready": 3, "sites": ["a", "b"]}


# (id, method, path, body, headers, status, reason, field): bodies are bad on purpose.
BadInput = tuple[str, str, str, Any, dict[str, str], int, str, str | None]
BAD_INPUTS: list[BadInput] = [
    ("malformed-json", "POST", "/applications", b"{not json", {}, 400, "BadRequest", "body"),
    ("unknown-plural", "POST", "/widgets", app_obj(), {}, 404, "NotFound", "kind"),
    (
        "wrong-api-version",
        "POST",
        "/applications",
        {**app_obj(), "apiVersion": "v1"},
        {},
        422,
        "Invalid",
        "apiVersion",
    ),
    (
        "kind-mismatch",
        "POST",
        "/applications",
        {**app_obj(), "kind": "Site"},
        {},
        422,
        "Invalid",
        "kind",
    ),
    (
        "invalid-label",
        "POST",
        "/applications",
        app_obj(**{"bad key!": "x"}),  # type: ignore[arg-type]  # a label key the API refuses
        {},
        422,
        "Invalid",
        "metadata.labels[bad key!]",
    ),
    (
        "invalid-name",
        "POST",
        "/applications",
        app_obj(name="Web_1"),
        {},
        422,
        "Invalid",
        "metadata.name",
    ),
    (
        "negative-replicas",
        "POST",
        "/applications",
        app_obj(replicas=-1),
        {},
        422,
        "Invalid",
        "spec.placement.replicas",
    ),
    (
        "unknown-field",
        "POST",
        "/applications",
        {**app_obj(), "spec": {**app_obj()["spec"], "replica": 3}},
        {},
        422,
        "Invalid",
        "spec.replica",
    ),
    (
        "duplicate-create",
        "POST",
        "/applications",
        app_obj(),
        {},
        409,
        "AlreadyExists",
        "metadata.name",
    ),
    (
        "stale-update",
        "PUT",
        "/applications/web",
        {**app_obj(replicas=9), "metadata": {"name": "web", "resourceVersion": "1"}},
        {},
        409,
        "Conflict",
        "metadata.resourceVersion",
    ),
    (
        "name-mismatch",
        "PUT",
        "/applications/web",
        app_obj(name="other"),
        {},
        400,
        "BadRequest",
        "metadata.name",
    ),
    (
        "oversize-body",
        "POST",
        "/applications",
        {**app_obj(), "x": "y" * 70_000},
        {},
        413,
        "RequestEntityTooLarge",
        None,
    ),
    (
        "patch-wrong-type",
        "PATCH",
        "/applications/web",
        {"spec": {}},
        {},
        415,
        "UnsupportedMediaType",
        None,
    ),
    (
        "patch-negative",
        "PATCH",
        "/applications/web",
        {"spec": {"placement": {"replicas": -3}}},
        MERGE,
        422,
        "Invalid",
        "spec.placement.replicas",
    ),
    (
        "bad-selector",
        "GET",
        "/applications?labelSelector=a%20in%20(",
        None,
        {},
        400,
        "BadRequest",
        "labelSelector",
    ),
    ("bad-continue", "GET", "/applications?continue=zzz", None, {}, 400, "BadRequest", "continue"),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "headers", "status", "reason", "field"),
    [case[1:] for case in BAD_INPUTS],
    ids=[case[0] for case in BAD_INPUTS],
)
async def test_bad_input_is_refused_and_changes_nothing(
    client: httpx.AsyncClient,
    hub_store: SqlStore,
    method: str,
    path: str,
    body: Any,
    headers: dict[str, str],
    status: int,
    reason: str,
    field: str | None,
) -> None:
    await client.post(f"{API}/applications", json=app_obj())
    await client.put(f"{API}/applications/web", json=app_obj(replicas=3))
    before = await snapshot(hub_store)
    content = body if isinstance(body, bytes) else (json.dumps(body) if body is not None else None)
    response = await client.request(method, f"{API}{path}", content=content, headers=headers)
    assert response.status_code == status, response.text
    error = response.json()
    assert error["reason"] == reason
    assert error["field"] == field
    assert len(error["message"]) > 20
    assert await snapshot(hub_store) == before


async def test_error_message_names_object_field_and_fix(client: httpx.AsyncClient) -> None:
    response = await client.post(f"{API}/applications", json=app_obj(replicas=-1))
    message = response.json()["message"]
    assert 'Application "web"' in message
    assert "spec.placement.replicas" in message
    assert "greater than or equal to 0" in message


ROUTES = [
    ("GET", "/api/v1alpha1"),
    ("GET", "/api/v1alpha1/applications"),
    ("GET", "/api/v1alpha1/applications?watch=true"),
    ("POST", "/api/v1alpha1/applications"),
    ("GET", "/api/v1alpha1/applications/web"),
    ("GET", "/api/v1alpha1/applications/missing"),
    ("PUT", "/api/v1alpha1/applications/web"),
    ("PATCH", "/api/v1alpha1/applications/web"),
    ("DELETE", "/api/v1alpha1/applications/web"),
    ("DELETE", "/api/v1alpha1/applications/missing"),
    ("PUT", "/api/v1alpha1/applications/web/status"),
    ("GET", "/metrics"),
    ("GET", "/openapi.json"),
    ("GET", "/nowhere"),
]


@pytest.mark.parametrize(
    "token",
    [None, "wrong", "ep_000000000000_wrongsecret"],
    ids=["missing", "garbage", "wrong-secret"],
)
@pytest.mark.parametrize(("method", "path"), ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
async def test_every_route_needs_a_token_and_reveals_nothing(
    client: httpx.AsyncClient, hub_store: SqlStore, method: str, path: str, token: str | None
) -> None:
    await client.post(f"{API}/applications", json=app_obj())
    before = await snapshot(hub_store)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    anonymous = httpx.AsyncClient(
        transport=client._transport, base_url="http://hub", headers=headers
    )
    async with anonymous:
        response = await anonymous.request(method, path, json=app_obj())
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["reason"] == "Unauthorized"
    assert "web" not in response.text and "missing" not in response.text
    assert await snapshot(hub_store) == before


async def test_health_probes_are_anonymous(client: httpx.AsyncClient) -> None:
    anonymous = httpx.AsyncClient(transport=client._transport, base_url="http://hub")
    async with anonymous:
        assert (await anonymous.get("/healthz")).status_code == 200
        assert (await anonymous.get("/readyz")).json() == {"status": "ready"}


async def test_pagination_and_selector_over_http(client: httpx.AsyncClient) -> None:
    for i in range(7):
        await client.post(f"{API}/applications", json=app_obj(f"a{i}", team="x" if i % 2 else "y"))
    names, params = [], {"limit": "2", "labelSelector": "team in (x)"}
    while True:
        page = (await client.get(f"{API}/applications", params=params)).json()
        names += [o["metadata"]["name"] for o in page["items"]]
        if "continue" not in page["metadata"]:
            break
        params["continue"] = page["metadata"]["continue"]
    assert names == ["a1", "a3", "a5"]


async def test_metrics_report_requests_and_store_sizes(client: httpx.AsyncClient) -> None:
    await client.post(f"{API}/applications", json=app_obj())
    text = (await client.get("/metrics")).text
    assert (
        'edgeplane_http_requests_total{method="POST",'
        'route="/api/v1alpha1/{plural}",status="201"} 1.0' in text
    )
    assert 'edgeplane_store_objects{kind="Application"} 1.0' in text
    assert "edgeplane_http_request_duration_seconds_bucket" in text


async def test_discovery_lists_kinds(client: httpx.AsyncClient) -> None:
    body = (await client.get(API)).json()
    assert {r["plural"] for r in body["resources"]} == {
        "sites",
        "sitegroups",
        "applications",
        "policies",
        "assignments",
        "devices",
        "revisions",
        "datastreams",
        "discoveryprofiles",
        "secrets",
    }


async def test_openapi_is_served(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    assert "/api/v1alpha1/{plural}" not in spec["paths"]  # each kind has its own paths
    create = spec["paths"]["/api/v1alpha1/applications"]["post"]
    body = create["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/Application"}
    assert "replicas" in spec["components"]["schemas"]["Placement"]["properties"]


async def test_watch_from_a_compacted_version_is_410(
    client: httpx.AsyncClient, hub_store: SqlStore
) -> None:
    for i in range(5):
        await client.post(f"{API}/applications", json=app_obj(f"a{i}"))
    hub_store.event_retention = 2
    assert await hub_store.compact() == 3
    gone = await client.get(f"{API}/applications", params={"watch": "true", "resourceVersion": "1"})
    assert gone.status_code == 410
    assert gone.json()["reason"] == "Gone"
    assert "list again" in gone.json()["message"]
