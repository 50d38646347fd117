"""The hub's JSON answers through orjson keep what they were: a manifest's integer
beyond 64 bits, unicode, key order, on create, get, list and watch (in process, over a
real SQLite store)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from edgeplane.api.wire import Object
from edgeplane.hub.app import HubSettings, create_app
from edgeplane.hub.auth import bootstrap_admin
from edgeplane.store.factory import open_store, sqlite_url
from edgeplane.store.sql import SqlStore

API = "/api/v1alpha1"
BIG = 2**70


def application(name: str) -> Object:
    manifest = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c"},
        "data": {"greeting": "caf\u00e9 \u2603"},
        "huge": BIG,
        "negative": -(2**63) - 1,
    }
    return {
        "apiVersion": "edgeplane.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": name},
        "spec": {
            "workload": {"kubernetes": {"manifests": [manifest]}},
            "placement": {"mode": "Replicas", "replicas": 1},
        },
    }


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, SqlStore]]:
    store = open_store(sqlite_url(tmp_path), poll_interval=0.05)
    await store.open()
    token = await bootstrap_admin(store, tmp_path)
    app = create_app(store, HubSettings(data_dir=tmp_path))
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://hub", headers=headers) as c:
        yield c, store
    await store.close()


def _manifest(obj: Object) -> dict[str, Any]:
    manifest: dict[str, Any] = obj["spec"]["workload"]["kubernetes"]["manifests"][0]
    return manifest


async def test_an_integer_beyond_64_bits_is_kept_exactly(
    hub: tuple[httpx.AsyncClient, SqlStore],
) -> None:
    client, store = hub
    sent = application("big")
    created = await client.post(f"{API}/applications", content=json.dumps(sent))
    assert created.status_code == 201, created.text
    got = await client.get(f"{API}/applications/big")
    listed = await client.get(f"{API}/applications")
    for answer in (created.json(), got.json(), listed.json()["items"][0]):
        assert _manifest(answer) == _manifest(sent)
        assert isinstance(_manifest(answer)["huge"], int)
    assert str(BIG) in got.text and "caf\u00e9 \u2603" in got.text, "UTF-8, not escapes"
    assert _manifest(await store.get("Application", "big"))["huge"] == BIG
    (event,) = [e async for e in _first_events(store, 1)]
    assert _manifest(event.object)["huge"] == BIG


async def test_answers_are_byte_for_byte_what_the_standard_library_wrote(
    hub: tuple[httpx.AsyncClient, SqlStore],
) -> None:
    client, _ = hub
    created = await client.post(f"{API}/applications", content=json.dumps(application("o")))
    got = await client.get(f"{API}/applications/o")
    for answer in (created, got):
        before = json.dumps(answer.json(), separators=(",", ":"), ensure_ascii=False)
        assert answer.content == before.encode()


async def _first_events(store: SqlStore, count: int) -> AsyncIterator[Any]:
    seen = 0
    async for event in store.watch("Application", 0):
        yield event
        seen += 1
        if seen == count:
            return
