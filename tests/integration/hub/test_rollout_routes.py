"""The rollout action and revision routes through the hub's API over SQLite: controls
written for the current target revision, undo through admission, every bad input a
422 naming its field, and nothing of it open to a site.

The rollout status is written straight into the store here (the controller does that
in a running hub, ``tests/integration/cli/test_rollout_cli.py``), so each test sets
exactly the state its route reads.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import httpx
import pytest

from edgeplane.api.wellknown import revision_name
from edgeplane.api.wire import Object
from edgeplane.store.protocol import Store
from tests.integration.hub.siteaccess import API, app_of, as_site, joined, sqlite_admin_client

V1 = {"process": {"command": "/bin/v1"}}
V2 = {"process": {"command": "/bin/v2"}}
WAVES = [{"name": "canary", "sites": 1}, {"name": "rest", "sites": 3}]


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with sqlite_admin_client(tmp_path) as client:
        yield client


def store_of(hub: httpx.AsyncClient) -> Store:
    store: Store = app_of(hub).state.store
    return store


def application(workload: dict[str, Any]) -> Object:
    return {
        "apiVersion": "edgeplane.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "web"},
        "spec": {
            "workload": workload,
            "placement": {"mode": "EverySite"},
            "rollout": {"groups": [{"name": "canary", "siteGroup": "canary-sites"}]},
        },
    }


def revision(app: Object, number: int, workload: dict[str, Any]) -> Object:
    template = {"workload": workload}
    digest = hashlib.sha256(
        json.dumps({**template, "resources": None, "overrides": None}, sort_keys=True).encode()
    ).hexdigest()
    return {
        "apiVersion": "edgeplane.io/v1alpha1",
        "kind": "Revision",
        "metadata": {
            "name": revision_name(app["metadata"]["name"], number),
            "labels": {"edgeplane.io/application": app["metadata"]["name"]},
        },
        "spec": {
            "application": app["metadata"]["name"],
            "applicationUid": app["metadata"]["uid"],
            "revision": number,
            "hash": digest,
            "template": template,
            "createdAt": f"2026-12-01T12:0{number}:00Z",
        },
    }


def rollout(phase: str = "Progressing", **extra: Any) -> dict[str, Any]:
    return {"revision": 2, "stableRevision": 1, "phase": phase, "wave": 0, "waves": WAVES} | extra


async def web(hub: httpx.AsyncClient, status: dict[str, Any] | None = None) -> Object:
    """Application web at v2 (revisions 1: v1, 2: v2), with ``status.rollout`` when given."""
    store = store_of(hub)
    app = await store.create(application(V2))
    for number, workload in ((1, V1), (2, V2)):
        await store.create(revision(app, number, workload))
    if status is not None:
        app = await store.replace_status({**app, "status": {"rollout": status}})
    return app


async def act(hub: httpx.AsyncClient, body: Any, name: str = "web") -> httpx.Response:
    return await hub.post(f"{API}/applications/{name}/rollout", json=body)


async def control_of(hub: httpx.AsyncClient) -> dict[str, Any]:
    app = await store_of(hub).get("Application", "web")
    control: dict[str, Any] = app["status"]["rollout"]["control"]
    return control


BAD_INPUT = [
    ({"action": "restart"}, "action"),
    ({}, "action"),
    ({"action": None}, "action"),
    ({"action": "undo", "toRevision": "1"}, "toRevision"),
    ({"action": "undo", "toRevision": 1.5}, "toRevision"),
    ({"action": "undo", "toRevision": True}, "toRevision"),
    ({"action": "undo", "toRevision": 0}, "toRevision"),
    ({"action": "undo", "toRevision": 7}, "toRevision"),
    ({"action": "pause", "toRevision": 1}, "toRevision"),
    ({"action": "approve", "wave": "nowhere"}, "wave"),
    ({"action": "approve", "wave": 2}, "wave"),
    ({"action": "promote", "wave": -1}, "wave"),
    ({"action": "approve", "wave": False}, "wave"),
    ({"action": "abort", "wave": 0}, "wave"),
]
BAD_IDS = [
    "unknown-action",
    "no-action",
    "null-action",
    "revision-a-string",
    "revision-a-fraction",
    "revision-a-bool",
    "revision-zero",
    "revision-not-in-history",
    "revision-for-pause",
    "wave-name-unknown",
    "wave-index-past-the-end",
    "wave-index-negative",
    "wave-a-bool",
    "wave-for-abort",
]


@pytest.mark.parametrize(("body", "field"), BAD_INPUT, ids=BAD_IDS)
async def test_bad_input_is_422_naming_the_field_and_changes_nothing(
    hub: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    before = await web(hub, rollout())
    answer = await act(hub, body)
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == field
    assert answer.json()["message"].startswith(f"{field}: ")
    after = await store_of(hub).get("Application", "web")
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]


async def test_the_wave_errors_list_the_waves_there_are(hub: httpx.AsyncClient) -> None:
    await web(hub, rollout())
    answer = await act(hub, {"action": "approve", "wave": "nowhere"})
    assert "0 (canary), 1 (rest)" in answer.json()["message"]
    history = await act(hub, {"action": "undo", "toRevision": 7})
    assert "rollout history web" in history.json()["message"]


@pytest.mark.parametrize(
    "body",
    [b"[]", b"not json", b'"pause"'],
    ids=["a-list", "not-json", "a-string"],
)
async def test_a_body_that_is_not_an_object_is_a_400(hub: httpx.AsyncClient, body: bytes) -> None:
    await web(hub, rollout())
    answer = await hub.post(
        f"{API}/applications/web/rollout",
        content=body,
        headers={"Content-Type": "application/json"},
    )
    assert answer.status_code == 400, answer.text


async def test_an_unknown_application_is_404(hub: httpx.AsyncClient) -> None:
    for answer in (
        await act(hub, {"action": "pause"}, name="missing"),
        await hub.get(f"{API}/applications/missing/revisions"),
    ):
        assert answer.status_code == 404, answer.text


@pytest.mark.parametrize("action", ["pause", "approve", "undo"])
async def test_no_rollout_status_yet_is_409(hub: httpx.AsyncClient, action: str) -> None:
    await web(hub)
    answer = await act(hub, {"action": action})
    assert answer.status_code == 409 and answer.json()["reason"] == "NoRollout", answer.text


async def test_a_site_may_neither_act_nor_read_revisions(hub: httpx.AsyncClient) -> None:
    await web(hub, rollout())
    site = as_site(hub, await joined(hub, "a"))
    async with site:
        acted = await site.post(f"{API}/applications/web/rollout", json={"action": "abort"})
        listed = await site.get(f"{API}/applications/web/revisions")
        fetched = await site.get(f"{API}/revisions/{revision_name('web', 1)}")
    assert [acted.status_code, listed.status_code, fetched.status_code] == [403, 403, 403]
    assert "control" not in (await store_of(hub).get("Application", "web"))["status"]["rollout"]


async def test_controls_are_written_for_the_target_revision(hub: httpx.AsyncClient) -> None:
    await web(hub, rollout(wave=1))
    paused = await act(hub, {"action": "pause"})
    assert paused.status_code == 202, paused.text
    assert paused.json()["control"] == {
        "revision": 2,
        "paused": True,
        "approved": [],
        "abort": False,
    }
    assert paused.json()["phase"] == "Progressing"  # the controller decides, later
    await act(hub, {"action": "approve", "wave": "canary"})
    await act(hub, {"action": "approve"})  # the current wave
    await act(hub, {"action": "promote"})
    await act(hub, {"action": "resume"})
    assert await control_of(hub) == {
        "revision": 2,
        "paused": False,
        "approved": [0, 1],
        "abort": False,
        "promote": 1,
    }
    assert (await act(hub, {"action": "abort"})).json()["control"]["abort"] is True


async def test_a_control_of_an_older_revision_is_not_carried_over(
    hub: httpx.AsyncClient,
) -> None:
    old = {"revision": 1, "paused": True, "approved": [0], "abort": True, "promote": 0}
    await web(hub, rollout(control=old))
    await act(hub, {"action": "approve", "wave": 1})
    assert await control_of(hub) == {
        "revision": 2,
        "paused": False,
        "approved": [1],
        "abort": False,
    }


@pytest.mark.parametrize("phase", ["Succeeded", "RolledBack", "Aborted"])
async def test_a_finished_rollout_takes_no_control(hub: httpx.AsyncClient, phase: str) -> None:
    await web(hub, rollout(phase))
    answer = await act(hub, {"action": "abort"})
    assert answer.status_code == 409 and answer.json()["reason"] == "RolloutFinished"
    assert "rollout undo web" in answer.json()["message"]


async def test_a_failed_rollout_can_still_be_aborted(hub: httpx.AsyncClient) -> None:
    await web(hub, rollout("Failed"))
    assert (await act(hub, {"action": "abort"})).status_code == 202
    assert (await control_of(hub))["abort"] is True


async def test_a_control_write_is_retried_on_a_conflict(
    hub: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    await web(hub, rollout())
    store = store_of(hub)
    real, raised = store.replace_status, cast(list[Object], [])

    async def once_stale(obj: Any) -> Any:
        if not raised:
            raised.append(obj)
            # The controller wrote in between: the route must read again, not overwrite.
            current = await store.get("Application", "web")
            status = current["status"] | {"rollout": current["status"]["rollout"] | {"wave": 1}}
            await real({**current, "status": status})
        return await real(obj)  # the first one stale: a Conflict of the store's own

    monkeypatch.setattr(store, "replace_status", once_stale)
    answer = await act(hub, {"action": "promote"})
    assert answer.status_code == 202 and len(raised) == 1
    assert answer.json()["wave"] == 1 and answer.json()["control"]["promote"] == 1


async def test_undo_writes_the_stable_template_back(hub: httpx.AsyncClient) -> None:
    before = await web(hub, rollout())
    answer = await act(hub, {"action": "undo"})
    assert answer.status_code == 202, answer.text
    assert answer.json()["toRevision"] == 1
    after = await store_of(hub).get("Application", "web")
    assert after["spec"]["workload"] == V1
    assert after["spec"]["rollout"] == before["spec"]["rollout"]
    assert after["metadata"]["generation"] == before["metadata"]["generation"] + 1
    again = await act(hub, {"action": "undo", "toRevision": 1})
    assert again.status_code == 202  # it runs that already: nothing written
    unchanged = await store_of(hub).get("Application", "web")
    assert unchanged["metadata"]["resourceVersion"] == after["metadata"]["resourceVersion"]
    forward = await act(hub, {"action": "undo", "toRevision": 2})
    assert forward.status_code == 202
    assert (await store_of(hub).get("Application", "web"))["spec"]["workload"] == V2


async def test_undo_after_success_goes_to_the_revision_before(hub: httpx.AsyncClient) -> None:
    await web(hub, rollout("Succeeded", stableRevision=2))
    answer = await act(hub, {"action": "undo"})
    assert answer.status_code == 202 and answer.json()["toRevision"] == 1, answer.text
    assert (await store_of(hub).get("Application", "web"))["spec"]["workload"] == V1


@pytest.mark.parametrize("stable", [None, 1], ids=["no-stable", "first-revision-stable"])
async def test_undo_with_nothing_before_asks_for_a_revision(
    hub: httpx.AsyncClient, stable: int | None
) -> None:
    await web(hub, rollout("Succeeded", revision=1, stableRevision=stable))
    answer = await act(hub, {"action": "undo"})
    assert answer.status_code == 409 and answer.json()["reason"] == "NothingToUndo", answer.text
    assert answer.json()["field"] == "toRevision"
    assert "--to-revision" in answer.json()["message"]


async def test_undo_goes_through_admission(hub: httpx.AsyncClient) -> None:
    await web(hub, rollout())
    deny = {
        "apiVersion": "edgeplane.io/v1alpha1",
        "kind": "Policy",
        "metadata": {"name": "no-v1"},
        "spec": {
            "scope": "Admission",
            "enforcement": "Deny",
            "rules": [
                {
                    "name": "v1",
                    "expression": 'app.spec.workload.process.command != "/bin/v1"',
                    "message": "v1 is withdrawn",
                }
            ],
        },
    }
    assert (await hub.post(f"{API}/policies", json=deny)).status_code == 201
    answer = await act(hub, {"action": "undo"})
    assert answer.status_code == 422 and answer.json()["reason"] == "PolicyDenied", answer.text
    assert "v1 is withdrawn" in answer.json()["message"]
    assert (await store_of(hub).get("Application", "web"))["spec"]["workload"] == V2


async def test_revisions_are_listed_newest_first_without_templates(
    hub: httpx.AsyncClient,
) -> None:
    app = await web(hub, rollout())
    older = cast(Object, {**app, "metadata": {**app["metadata"], "uid": "older"}})
    stranger = revision(older, 3, V1)
    await store_of(hub).create(stranger)  # of an older object of the same name
    listed = await hub.get(f"{API}/applications/web/revisions")
    assert listed.status_code == 200, listed.text
    items = listed.json()["items"]
    assert [r["spec"]["revision"] for r in items] == [2, 1]
    assert all("template" not in r["spec"] and r["spec"]["hash"] for r in items)
    full = await hub.get(f"{API}/applications/web/revisions", params={"template": "true"})
    assert [r["spec"]["template"]["workload"] for r in full.json()["items"]] == [V2, V1]
