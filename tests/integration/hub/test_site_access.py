"""Joining, what a site's credential may do, artifacts and the log relay: the hub's
API in process over a real SQLite store."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import json
import tarfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from edgeplane.hub.app import HubSettings, create_app
from edgeplane.hub.auth import bootstrap_admin, mint
from edgeplane.store.factory import open_store, sqlite_url
from edgeplane.store.sql import SqlStore

API = "/api/v1alpha1"


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqlStore]:
    store = open_store(sqlite_url(tmp_path), poll_interval=0.05)
    await store.open()
    yield store
    await store.close()


@pytest.fixture
async def hub(store: SqlStore, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """An admin client; ``hub.app`` is the application, for other credentials."""
    token = await bootstrap_admin(store, tmp_path)
    settings = HubSettings(data_dir=tmp_path, max_artifact_bytes=64 * 1024)
    app = create_app(store, settings)
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://hub", headers=headers) as c:
        c.app = app  # type: ignore[attr-defined]
        yield c


def as_site(hub: httpx.AsyncClient, credential: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=hub.app)  # type: ignore[attr-defined]
    headers = {"Authorization": f"Bearer {credential}"}
    return httpx.AsyncClient(transport=transport, base_url="http://hub", headers=headers)


async def join_token(hub: httpx.AsyncClient, ttl: int = 600, **labels: str) -> str:
    answer = await hub.post(f"{API}/jointokens", json={"labels": labels, "ttlSeconds": ttl})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["token"])


async def join(hub: httpx.AsyncClient, token: str, site: str, **extra: Any) -> httpx.Response:
    body = {"token": token, "site": site, "inventory": {"cpus": 2, "runtime": "process"}, **extra}
    return await hub.post(f"{API}/join", json=body, headers={"Authorization": ""})


async def joined(hub: httpx.AsyncClient, site: str, **labels: str) -> str:
    answer = await join(hub, await join_token(hub, **labels), site)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["credential"])


async def state(store: SqlStore) -> tuple[int, dict[str, int]]:
    return await store.current_resource_version(), await store.counts()


# --- joining -----------------------------------------------------------------------


async def test_join_creates_the_site_with_the_token_labels(
    hub: httpx.AsyncClient,
) -> None:
    token = await join_token(hub, region="eu-west", tier="edge")
    answer = await join(hub, token, "shop-1", labels={"zone": "a", "tier": "mine"})
    assert answer.status_code == 201
    assert answer.json()["site"] == "shop-1"
    site = (await hub.get(f"{API}/sites/shop-1")).json()
    assert site["metadata"]["labels"] == {"region": "eu-west", "tier": "edge", "zone": "a"}
    assert site["status"] == {"phase": "Pending", "inventory": {"cpus": 2, "runtime": "process"}}
    assert site["spec"] == {"runtime": "process"}


async def test_expired_and_reused_tokens_create_nothing(
    hub: httpx.AsyncClient, store: SqlStore
) -> None:
    expired, record = mint("", "join", 60)
    await store.put_token(dataclasses.replace(record, expires_at=time.time() - 1))
    used = await join_token(hub)
    assert (await join(hub, used, "first")).status_code == 201
    before = await state(store)
    late = await join(hub, expired, "late")
    assert (late.status_code, late.json()["reason"]) == (401, "JoinTokenExpired")
    assert "expired at" in late.json()["message"]
    again = await join(hub, used, "second")
    assert (again.status_code, again.json()["reason"]) == (401, "JoinTokenUsed")
    assert "'first'" in again.json()["message"]
    assert await state(store) == before


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"site": "Not_A_Name"}, 422, "site"),
        ({"site": "s" * 64}, 422, "site"),
        ({"labels": {"bad key!": "x"}}, 422, "labels[bad key!]"),
        ({"inventory": {"cpus": -1}}, 422, "inventory.cpus"),
        ({"token": "ep_nope_nope"}, 401, None),
        ({"token": 5}, 401, None),
    ],
    ids=["bad-name", "long-name", "bad-label", "bad-inventory", "unknown-token", "no-token"],
)
async def test_bad_joins_change_nothing_and_keep_the_token(
    hub: httpx.AsyncClient, store: SqlStore, body: dict[str, Any], status: int, field: str | None
) -> None:
    token = await join_token(hub)
    before = await state(store)
    answer = await hub.post(
        f"{API}/join",
        json={"token": token, "site": "ok", **body},
        headers={"Authorization": ""},
    )
    assert answer.status_code == status, answer.text
    assert answer.json()["field"] == field
    assert await state(store) == before
    assert (await join(hub, token, "ok")).status_code == 201  # still usable


async def test_a_taken_site_name_is_refused_and_the_token_kept(hub: httpx.AsyncClient) -> None:
    await joined(hub, "taken")
    token = await join_token(hub)
    answer = await join(hub, token, "taken")
    assert (answer.status_code, answer.json()["reason"]) == (409, "AlreadyExists")
    assert (await join(hub, token, "free")).status_code == 201


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"ttlSeconds": 0}, "ttlSeconds"),
        ({"ttlSeconds": "1h"}, "ttlSeconds"),
        ({"labels": {"a": 1}}, "labels[a]"),
        ({"labels": []}, "labels"),
        ({"site": "x"}, "site"),
    ],
    ids=["zero-ttl", "text-ttl", "number-label", "list-labels", "unknown-field"],
)
async def test_bad_join_tokens_are_refused(
    hub: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    answer = await hub.post(f"{API}/jointokens", json=body)
    assert answer.status_code == 422
    assert answer.json()["field"] == field


async def test_join_tokens_authenticate_nothing_else(hub: httpx.AsyncClient) -> None:
    token = await join_token(hub)
    async with as_site(hub, token) as joiner:
        assert (await joiner.get(f"{API}/sites")).status_code == 401


# --- what a site may do ------------------------------------------------------------


def assignment(app: str, site: str, artifact: str | None = None) -> dict[str, Any]:
    process: dict[str, Any] = {"command": "true"}
    if artifact:
        process["artifacts"] = [{"name": artifact, "version": "1"}]
    return {
        "apiVersion": "edgeplane.io/v1alpha1",
        "kind": "Assignment",
        "metadata": {
            "name": f"{app}.{site}",
            "labels": {"edgeplane.io/site": site, "edgeplane.io/application": app},
        },
        "spec": {"application": app, "revision": 1, "site": site, "workload": {"process": process}},
    }


ADMIN_CALLS = [
    ("GET", "/sites"),
    ("GET", "/sites/b"),
    ("PATCH", "/sites/b/status"),
    ("DELETE", "/sites/a"),
    ("PUT", "/sites/a"),
    ("GET", "/applications"),
    ("POST", "/applications"),
    ("GET", "/sitegroups"),
    ("GET", "/policies"),
    ("POST", "/assignments"),
    ("PUT", "/assignments/web.a"),
    ("DELETE", "/assignments/web.a"),
    ("GET", "/assignments/web.b"),
    ("PATCH", "/assignments/web.b/status"),
    ("GET", "/assignments/missing.x"),
    ("POST", "/jointokens"),
    ("GET", "/artifacts"),
    ("PUT", "/artifacts/demo/1"),
    ("GET", "/artifacts/other/1/content"),
    ("GET", "/sites/b/logs?application=web"),
    ("GET", "/sites/b/requests"),
    ("GET", ""),
]


async def test_a_site_reads_only_its_own(hub: httpx.AsyncClient, tmp_path: Path) -> None:
    credential = await joined(hub, "a")
    await joined(hub, "b")
    for site in ("a", "b"):
        created = await hub.post(f"{API}/assignments", json=assignment("web", site, "demo"))
        assert created.status_code == 201, created.text
    await hub.put(f"{API}/artifacts/demo/1", content=tarball({"x": "1"}))
    await hub.put(f"{API}/artifacts/other/1", content=tarball({"y": "1"}))
    async with as_site(hub, credential) as site:
        for method, path in ADMIN_CALLS:
            answer = await site.request(method, f"{API}{path}", json={})
            assert answer.status_code == 403, (method, path, answer.text)
            assert answer.json()["reason"] == "Forbidden"
        assert (await site.get(f"{API}/sites/a")).status_code == 200
        mine = (await site.get(f"{API}/assignments")).json()["items"]
        assert [i["metadata"]["name"] for i in mine] == ["web.a"]
        other = await site.get(
            f"{API}/assignments", params={"labelSelector": "edgeplane.io/site=b"}
        )
        assert other.json()["items"] == []
        patch = {"status": {"phase": "Online"}}
        headers = {"Content-Type": "application/merge-patch+json"}
        for path in ("/sites/a/status", "/assignments/web.a/status"):
            answer = await site.patch(f"{API}{path}", content=json.dumps(patch), headers=headers)
            assert answer.status_code == 200, answer.text
        assert (await site.get(f"{API}/artifacts/demo/1/content")).status_code == 200


# --- artifacts ---------------------------------------------------------------------


def tarball(files: dict[str, str], name_prefix: str = "") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, text in files.items():
            info = tarfile.TarInfo(name_prefix + name)
            info.size = len(text)
            tar.addfile(info, io.BytesIO(text.encode()))
    return buffer.getvalue()


def special(kind: bytes, link: str = "") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("x")
        info.type, info.linkname = kind, link
        tar.addfile(info)
    return buffer.getvalue()


async def test_artifacts_are_content_addressed_and_immutable(
    hub: httpx.AsyncClient, tmp_path: Path
) -> None:
    data = tarball({"main.py": "print(1)"})
    first = await hub.put(f"{API}/artifacts/demo/1.0", content=data)
    assert first.status_code == 201
    record = first.json()
    assert record["size"] == len(data) and len(record["sha256"]) == 64
    assert (tmp_path / "artifacts" / "sha256" / record["sha256"]).read_bytes() == data
    same = await hub.put(f"{API}/artifacts/demo/1.0", content=data)
    assert (same.status_code, same.json()["sha256"]) == (200, record["sha256"])
    other = await hub.put(f"{API}/artifacts/demo/1.0", content=tarball({"main.py": "print(2)"}))
    assert (other.status_code, other.json()["field"]) == (409, "version")
    content = await hub.get(f"{API}/artifacts/demo/1.0/content")
    assert content.content == data
    assert content.headers["x-content-sha256"] == record["sha256"]
    listed = (await hub.get(f"{API}/artifacts")).json()["items"]
    assert [(a["name"], a["version"]) for a in listed] == [("demo", "1.0")]


@pytest.mark.parametrize(
    ("path", "body", "status", "needle"),
    [
        ("/artifacts/demo/1", b"not a tarball", 422, "not a gzip tarball"),
        ("/artifacts/demo/1", tarball({"a": "1"}, "../"), 422, "'..'"),
        ("/artifacts/demo/1", tarball({"/etc/x": "1"}), 422, "absolute path"),
        ("/artifacts/demo/1", special(tarfile.SYMTYPE, "/etc/passwd"), 422, "links outside"),
        ("/artifacts/demo/1", special(tarfile.LNKTYPE, "../../x"), 422, "links outside"),
        ("/artifacts/demo/1", special(tarfile.CHRTYPE), 422, "device"),
        ("/artifacts/demo/1", special(tarfile.FIFOTYPE), 422, "fifo"),
        ("/artifacts/demo/1", b"x" * (64 * 1024 + 1), 413, "over the limit"),
        ("/artifacts/Bad_Name/1", tarball({"a": "1"}), 422, "name 'Bad_Name'"),
        ("/artifacts/demo/-1", tarball({"a": "1"}), 422, "version '-1'"),
    ],
    ids=[
        "garbage",
        "dot-dot",
        "absolute",
        "symlink-out",
        "hardlink-out",
        "device",
        "fifo",
        "too-large",
        "bad-name",
        "bad-version",
    ],
)
async def test_bad_artifacts_are_refused_and_nothing_is_kept(
    hub: httpx.AsyncClient, tmp_path: Path, path: str, body: bytes, status: int, needle: str
) -> None:
    answer = await hub.put(f"{API}{path}", content=body)
    assert answer.status_code == status, answer.text
    assert needle in answer.json()["message"]
    assert (await hub.get(f"{API}/artifacts")).json()["items"] == []
    assert not list((tmp_path / "artifacts" / "sha256").iterdir())
    assert not list((tmp_path / "artifacts" / "tmp").iterdir())


async def test_an_upload_streamed_past_the_limit_is_cut(hub: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(100):
            yield b"x" * 1024

    answer = await hub.put(f"{API}/artifacts/big/1", content=chunks())
    assert answer.status_code == 413


# --- the log relay -----------------------------------------------------------------


async def test_logs_are_relayed_through_the_site_queue(hub: httpx.AsyncClient) -> None:
    credential = await joined(hub, "a")
    await hub.post(f"{API}/assignments", json=assignment("web", "a"))

    async def agent() -> None:
        async with as_site(hub, credential) as site:
            polled = (await site.get(f"{API}/sites/a/requests", params={"waitSeconds": "5"})).json()
            (request,) = polled["items"]
            assert (request["type"], request["assignment"], request["tail"]) == ("logs", "web.a", 3)
            reply = await site.post(f"{API}/sites/a/requests/{request['id']}", content=b"l1\nl2\n")
            assert reply.status_code == 204

    answering = asyncio.create_task(agent())
    logs = await hub.get(f"{API}/sites/a/logs", params={"application": "web", "tail": "3"})
    await answering
    assert (logs.status_code, logs.text) == (200, "l1\nl2\n")


async def test_logs_of_a_silent_site_time_out(
    hub: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("edgeplane.hub.relay.ANSWER_SECONDS", 0.2)
    await joined(hub, "a")
    await hub.post(f"{API}/assignments", json=assignment("web", "a"))
    started = time.monotonic()
    answer = await hub.get(f"{API}/sites/a/logs", params={"application": "web"})
    assert (answer.status_code, answer.json()["reason"]) == (504, "SiteUnreachable")
    assert time.monotonic() - started < 5
    missing = await hub.get(f"{API}/sites/a/logs", params={"application": "nope"})
    assert missing.status_code == 404


async def test_deleting_a_site_revokes_its_credential(hub: httpx.AsyncClient) -> None:
    credential = await joined(hub, "a")
    async with as_site(hub, credential) as site:
        assert (await site.get(f"{API}/sites/a")).status_code == 200
        assert (await hub.delete(f"{API}/sites/a")).status_code == 200
        assert (await site.get(f"{API}/sites/a")).status_code == 401
        await joined(hub, "a")  # the name is free again, with a new credential
        assert (await site.get(f"{API}/sites/a")).status_code == 401
