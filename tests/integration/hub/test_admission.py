"""Admission through the hub's API over each store backend (memory, SQLite,
PostgreSQL): policies compile when applied, and applications meet the
Admission-scope policies that cover them."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from edgeplane.client.hub import warnings_of
from tests.conftest import AnyStore
from tests.integration.hub.siteaccess import admin_client

API = "/api/v1alpha1"


@pytest.fixture
async def hub(store: AnyStore, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with admin_client(store, tmp_path) as client:
        yield client


def policy(name: str, expression: str, enforcement: str = "Deny", **extra: Any) -> dict[str, Any]:
    return {
        "apiVersion": "edgeplane.io/v1alpha1",
        "kind": "Policy",
        "metadata": {"name": name},
        "spec": {
            "scope": "Admission",
            "enforcement": enforcement,
            "rules": [{"name": "rule", "expression": expression, "message": f"{name} says no"}],
            **extra,
        },
    }


def application(name: str = "web", resources: bool = True, **labels: str) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "workload": {"process": {"command": "true"}},
        "placement": {"mode": "EverySite"},
    }
    if resources:
        spec["resources"] = {"cpu": "100m", "memory": "64Mi"}
    return {
        "apiVersion": "edgeplane.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": name, "labels": labels},
        "spec": spec,
    }


async def test_a_policy_that_does_not_compile_is_refused_with_cels_message(
    hub: httpx.AsyncClient,
) -> None:
    answer = await hub.post(f"{API}/policies", json=policy("bad", 'app.metadata.labels["team" =='))
    assert answer.status_code == 422
    body = answer.json()
    assert body["field"] == "spec.rules[0].expression"
    assert "does not compile" in body["message"] and "Syntax error" in body["message"]
    assert "1:" in body["message"] and "^" in body["message"]
    assert (await hub.get(f"{API}/policies")).json()["items"] == []
    good = await hub.post(f"{API}/policies", json=policy("good", "true"))
    assert good.status_code == 201
    patched = await hub.patch(
        f"{API}/policies/good",
        json={"spec": {"rules": [{"name": "rule", "expression": "app."}]}},
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert patched.status_code == 422
    assert (await hub.get(f"{API}/policies/good")).json()["spec"]["rules"][0][
        "expression"
    ] == "true"


async def test_deny_refuses_and_stores_nothing(hub: httpx.AsyncClient, store: AnyStore) -> None:
    team = "has(app.metadata.labels.team)"
    await hub.post(f"{API}/policies", json=policy("team-required", team))
    before = await store.current_resource_version()
    refused = await hub.post(f"{API}/applications", json=application())
    assert refused.status_code == 422
    assert refused.json()["reason"] == "PolicyDenied"
    assert "policy team-required rule rule: team-required says no" in refused.json()["message"]
    assert await store.current_resource_version() == before
    accepted = await hub.post(f"{API}/applications", json=application(team="retail"))
    assert accepted.status_code == 201
    unlabelled = await hub.put(f"{API}/applications/web", json=application())
    assert unlabelled.status_code == 422


async def test_warn_accepts_and_says_so_audit_only_records(
    hub: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="edgeplane.hub.admission")
    requests = "has(app.spec.resources) && has(app.spec.resources.cpu)"
    await hub.post(f"{API}/policies", json=policy("requests", requests, "Warn"))
    await hub.post(f"{API}/policies", json=policy("audited", "false", "Audit"))
    warned = await hub.post(f"{API}/applications", json=application(resources=False))
    assert warned.status_code == 201
    assert warnings_of(warned) == ["policy requests rule rule: requests says no"]
    fine = await hub.post(f"{API}/applications", json=application("api"))
    assert fine.status_code == 201 and warnings_of(fine) == []
    assert "audit: Application api: policy audited rule rule: audited says no" in caplog.text


async def test_a_policy_covers_only_what_its_selector_selects(hub: httpx.AsyncClient) -> None:
    await hub.post(
        f"{API}/policies",
        json=policy(
            "pii-needs-owner",
            "has(app.metadata.labels.owner)",
            selector={"matchLabels": {"data": "pii"}},
        ),
    )
    assert (await hub.post(f"{API}/applications", json=application("plain"))).status_code == 201
    pii = await hub.post(f"{API}/applications", json=application("pii", data="pii"))
    assert pii.status_code == 422
