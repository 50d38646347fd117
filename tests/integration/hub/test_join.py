"""Join tokens and joining, through the hub's API on memory, SQLite and PostgreSQL:
single use even when agents race, and every refusal leaves everything as it was."""

from __future__ import annotations

import asyncio
import calendar
import dataclasses
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from edgeplane.hub.auth import mint
from edgeplane.store.errors import StoreError
from tests.conftest import AnyStore
from tests.integration.hub.siteaccess import (
    API,
    admin_client,
    as_site,
    join,
    join_token,
    joined,
    state,
)


@pytest.fixture
async def hub(store: AnyStore, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with admin_client(store, tmp_path) as client:
        yield client


async def test_a_join_token_carries_labels_and_expiry(hub: httpx.AsyncClient) -> None:
    before = time.time()
    answer = await hub.post(f"{API}/jointokens", json={"labels": {"region": "eu"}})
    assert answer.status_code == 201
    made = answer.json()
    assert made["token"].startswith("ep_") and made["labels"] == {"region": "eu"}
    expires = calendar.timegm(time.strptime(made["expiresAt"], "%Y-%m-%dT%H:%M:%SZ"))
    assert before + 3600 - 1 <= expires <= time.time() + 3600


async def test_join_creates_the_site_with_the_token_labels(hub: httpx.AsyncClient) -> None:
    token = await join_token(hub, region="eu-west", tier="edge")
    answer = await join(hub, token, "shop-1", labels={"zone": "a", "tier": "mine"})
    assert answer.status_code == 201
    assert answer.json()["site"] == "shop-1"
    site = (await hub.get(f"{API}/sites/shop-1")).json()
    assert site["metadata"]["labels"] == {"region": "eu-west", "tier": "edge", "zone": "a"}
    assert site["status"] == {"phase": "Pending", "inventory": {"cpus": 2, "runtime": "process"}}
    assert site["spec"] == {"runtime": "process"}
    async with as_site(hub, answer.json()["credential"]) as site_client:
        assert (await site_client.get(f"{API}/sites/shop-1")).status_code == 200


@pytest.mark.parametrize(
    ("inventory", "spec"),
    [
        ({"runtime": "process", "runtimes": ["process", "kubernetes"]}, ["process", "kubernetes"]),
        ({"runtime": "kubernetes", "runtimes": ["kubernetes"]}, None),
    ],
    ids=["both", "one"],
)
async def test_a_join_declares_the_runtimes_its_agent_runs(
    hub: httpx.AsyncClient, inventory: dict[str, Any], spec: list[str] | None
) -> None:
    answer = await join(hub, await join_token(hub), "both-1", inventory=inventory)
    assert answer.status_code == 201, answer.text
    site = (await hub.get(f"{API}/sites/both-1")).json()
    expected = {"runtimes": spec} if spec else {"runtime": inventory["runtime"]}
    assert site["spec"] == expected
    assert site["status"]["inventory"]["runtimes"] == inventory["runtimes"]


async def test_expired_and_reused_tokens_create_nothing(
    hub: httpx.AsyncClient, store: AnyStore
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


async def test_racing_joins_with_one_token_make_one_site(
    hub: httpx.AsyncClient, store: AnyStore
) -> None:
    token = await join_token(hub)
    answers = await asyncio.gather(*(join(hub, token, f"racer-{i}") for i in range(8)))
    (winner,) = [a.json()["site"] for a in answers if a.status_code == 201]
    losers = [a for a in answers if a.status_code != 201]
    assert {(a.status_code, a.json()["reason"]) for a in losers} == {(401, "JoinTokenUsed")}
    assert all(repr(winner) in a.json()["message"] for a in losers)
    sites = (await hub.get(f"{API}/sites")).json()["items"]
    assert [s["metadata"]["name"] for s in sites] == [winner]


async def test_a_site_the_store_fails_to_create_leaves_the_token_usable(
    hub: httpx.AsyncClient, store: AnyStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = await join_token(hub)
    before = await state(store)

    async def failing(obj: dict[str, Any]) -> dict[str, Any]:
        raise StoreError("disk full")

    with monkeypatch.context() as patched:
        patched.setattr(store, "create", failing)
        answer = await join(hub, token, "unlucky")
    assert (answer.status_code, answer.json()["reason"]) == (503, "ServiceUnavailable")
    assert await state(store) == before
    assert (await join(hub, token, "unlucky")).status_code == 201


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"site": "Not_A_Name"}, 422, "site"),
        ({"site": "s" * 64}, 422, "site"),
        ({"site": 7}, 422, "site"),
        ({"site": None}, 422, "site"),
        ({"labels": {"bad key!": "x"}}, 422, "labels[bad key!]"),
        ({"labels": {"a": 1}}, 422, "labels[a]"),
        ({"inventory": {"cpus": -1}}, 422, "inventory.cpus"),
        ({"inventory": {"runtimes": ["process", "process"]}}, 422, "inventory.runtimes"),
        ({"inventory": {"runtimes": ["process", "vm"]}}, 422, "inventory.runtimes[1]"),
        ({"token": "ep_nope_nope"}, 401, "token"),
        ({"token": "not-a-token"}, 401, "token"),
        ({"token": 5}, 401, "token"),
    ],
    ids=[
        "bad-name",
        "long-name",
        "number-name",
        "no-name",
        "bad-label",
        "number-label",
        "bad-inventory",
        "runtime-twice",
        "unknown-runtime",
        "unknown-token",
        "malformed-token",
        "no-token",
    ],
)
async def test_bad_joins_change_nothing_and_keep_the_token(
    hub: httpx.AsyncClient, store: AnyStore, body: dict[str, Any], status: int, field: str | None
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


async def test_a_taken_site_name_is_refused_and_the_token_kept(
    hub: httpx.AsyncClient, store: AnyStore
) -> None:
    await joined(hub, "taken")
    token = await join_token(hub)
    before = await state(store)
    answer = await join(hub, token, "taken")
    assert (answer.status_code, answer.json()["reason"]) == (409, "AlreadyExists")
    assert answer.json()["field"] == "site"
    assert await state(store) == before
    assert (await join(hub, token, "free")).status_code == 201


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"ttlSeconds": 0}, "ttlSeconds"),
        ({"ttlSeconds": 30 * 24 * 3600 + 1}, "ttlSeconds"),
        ({"ttlSeconds": "1h"}, "ttlSeconds"),
        ({"ttlSeconds": True}, "ttlSeconds"),
        ({"labels": {"a": 1}}, "labels[a]"),
        ({"labels": {"-bad": "x"}}, "labels[-bad]"),
        ({"labels": []}, "labels"),
        ({"site": "x"}, "site"),
    ],
    ids=[
        "zero-ttl",
        "ttl-over-30-days",
        "text-ttl",
        "bool-ttl",
        "number-label",
        "bad-label-key",
        "list-labels",
        "unknown-field",
    ],
)
async def test_bad_join_tokens_are_refused(
    hub: httpx.AsyncClient, store: AnyStore, body: dict[str, Any], field: str
) -> None:
    before = await state(store)
    answer = await hub.post(f"{API}/jointokens", json=body)
    assert answer.status_code == 422
    assert answer.json()["field"] == field
    assert field in answer.json()["message"]
    assert await state(store) == before


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/sites"),
        ("GET", "/assignments"),
        ("POST", "/jointokens"),
        ("GET", "/artifacts"),
        ("GET", ""),
    ],
    ids=lambda v: v or "discovery",
)
async def test_join_tokens_authenticate_nothing_else(
    hub: httpx.AsyncClient, method: str, path: str
) -> None:
    token = await join_token(hub)
    async with as_site(hub, token) as joiner:
        answer = await joiner.request(method, f"{API}{path}", json={})
    assert (answer.status_code, answer.json()["reason"]) == (401, "Unauthorized")
    assert (await join(hub, token, "later")).status_code == 201  # and it is still unused
