"""Helpers of the site access tests (joining, authorization, artifacts, the log relay):
the hub's app in process over a real store, and clients with a site's credential."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import io
import json
import tarfile
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from edgeplane.hub.app import HubSettings, create_app
from edgeplane.hub.auth import bootstrap_admin
from edgeplane.store.factory import open_store, sqlite_url
from edgeplane.store.protocol import Store

API = "/api/v1alpha1"
MERGE_PATCH = {"Content-Type": "application/merge-patch+json"}


@contextlib.asynccontextmanager
async def admin_client(
    store: Store, data_dir: Path, **settings: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """An admin client of a hub over ``store``; ``app_of(client)`` is its application."""
    token = await bootstrap_admin(store, data_dir)
    app = create_app(store, HubSettings(data_dir=data_dir, **settings))
    headers = {"Authorization": f"Bearer {token}"}
    async with client_of(app, headers) as client:
        yield client


@contextlib.asynccontextmanager
async def sqlite_admin_client(data_dir: Path, **settings: Any) -> AsyncIterator[httpx.AsyncClient]:
    """``admin_client`` over a SQLite store of its own, for tests the backend does not
    matter to (the files of artifacts, the relay's memory)."""
    store = open_store(sqlite_url(data_dir), poll_interval=0.05)
    await store.open()
    try:
        async with admin_client(store, data_dir, **settings) as client:
            yield client
    finally:
        await store.close()


def client_of(app: FastAPI, headers: dict[str, str]) -> httpx.AsyncClient:
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://hub", headers=headers
    )
    client.app = app  # type: ignore[attr-defined]
    return client


def app_of(client: httpx.AsyncClient) -> FastAPI:
    app: FastAPI = client.app  # type: ignore[attr-defined]
    return app


def as_site(hub: httpx.AsyncClient, credential: str) -> httpx.AsyncClient:
    return client_of(app_of(hub), {"Authorization": f"Bearer {credential}"})


async def join_token(hub: httpx.AsyncClient, **labels: str) -> str:
    answer = await hub.post(f"{API}/jointokens", json={"labels": labels, "ttlSeconds": 600})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["token"])


async def join(hub: httpx.AsyncClient, token: str, site: str, **extra: Any) -> httpx.Response:
    body = {"token": token, "site": site, "inventory": {"cpus": 2, "runtime": "process"}, **extra}
    return await hub.post(f"{API}/join", json=body, headers={"Authorization": ""})


async def joined(hub: httpx.AsyncClient, site: str) -> str:
    """Join ``site``; its credential."""
    answer = await join(hub, await join_token(hub), site)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["credential"])


async def state(store: Store) -> tuple[int, dict[str, int]]:
    """What a refused request must leave as it was."""
    return await store.current_resource_version(), await store.counts()


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


async def assign(hub: httpx.AsyncClient, app: str, site: str, artifact: str | None = None) -> None:
    created = await hub.post(f"{API}/assignments", json=assignment(app, site, artifact))
    assert created.status_code == 201, created.text


def tarball(files: dict[str, str], name_prefix: str = "") -> bytes:
    """A .tar.gz of ``files``; the same files give the same bytes (no gzip time stamp)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, text in files.items():
            info = tarfile.TarInfo(name_prefix + name)
            info.size = len(text)
            tar.addfile(info, io.BytesIO(text.encode()))
    return gzip.compress(buffer.getvalue(), mtime=0)


@contextlib.asynccontextmanager
async def watching(
    app: FastAPI, credential: str, query: str
) -> AsyncIterator[Callable[[], Awaitable[dict[str, Any]]]]:
    """A watch of assignments; yields a function answering its next event as it streams
    (the in-process transport of httpx would wait for the end of a stream that never
    ends)."""
    lines: asyncio.Queue[bytes] = asyncio.Queue()
    path = f"{API}/assignments"
    scope = {
        "type": "http",
        "method": "GET",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "headers": [(b"authorization", f"Bearer {credential}".encode())],
        "scheme": "http",
        "server": ("hub", 80),
        "client": ("test", 1),
        "http_version": "1.1",
        "root_path": "",
    }

    async def receive() -> dict[str, Any]:
        await asyncio.Event().wait()  # the client never disconnects on its own
        return {"type": "http.disconnect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            assert message["status"] == 200, message
        for line in message.get("body", b"").splitlines():
            if line.strip():
                lines.put_nowait(line)

    async def next_event() -> dict[str, Any]:
        event: dict[str, Any] = json.loads(await asyncio.wait_for(lines.get(), 10))
        return event

    serving = asyncio.create_task(app(scope, receive, send))
    try:
        yield next_event
    finally:
        serving.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await serving
