"""Revisions and rollouts as the hub's controllers carry them out, over each store
backend: a Revision per template (a placement change makes none), a change without
``spec.rollout`` reaches every site at once, one with a canary group moves the canary
first and the rest once it is Ready, a failing canary is rolled back before any other
site runs the new revision, a paused rollout moves nothing, and a deleted application's
revisions go. The agents are played by the test (it writes each Assignment's status)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from edgeplane.api.wire import Json, Object
from edgeplane.hub.controllers.placement import list_all
from edgeplane.store.errors import Conflict
from tests.conftest import AnyStore
from tests.integration.hub.controller_fleet import add_site, placed, site
from tests.integration.hub.controller_fleet import update as update_once
from tests.integration.hub.test_controllers_running import application_status, controllers
from tests.support import builders
from tests.support.waiting import wait_until_async

SITES = ("s1", "s2", "s3", "s4")


def web(args: str = "1", rollout: dict[str, Json] | None = None) -> Object:
    spec: dict[str, Json] = {} if rollout is None else {"rollout": rollout}
    return builders.application(
        "web", workload={"process": {"command": "sleep", "args": [args]}}, spec=spec
    )


def canary_first() -> dict[str, Json]:
    return {"groups": [{"name": "canary", "siteGroup": "canaries"}], "minSuccessSeconds": 0}


@pytest.fixture
async def hub(store: AnyStore) -> AsyncIterator[AnyStore]:
    for name in SITES:
        await add_site(store, site(name, ring="canary" if name == "s1" else "main"))
    canary = {"selector": {"matchLabels": {"ring": "canary"}}}
    group = builders.wire("SiteGroup", "canaries", canary)
    await store.create(group)
    async with controllers(store):
        yield store


async def revisions_run(store: AnyStore) -> dict[str, int]:
    """Each site's revision of ``web``."""
    return {
        a["spec"]["site"]: a["spec"]["revision"]
        for a in (await placed(store)).values()
        if a["spec"]["application"] == "web"
    }


async def report(store: AnyStore, sites: tuple[str, ...], phase: str = "Running") -> None:
    """The agents' word: each site's Assignment of ``web`` is in ``phase``, as of its
    current spec."""
    for a in (await placed(store)).values():
        if a["spec"]["site"] in sites:
            status = {"phase": phase, "ready": 1 if phase == "Running" else 0}
            status["observedGeneration"] = a["metadata"]["generation"]
            with contextlib.suppress(Conflict):  # told something new meanwhile: next time
                await store.replace_status({**a, "status": status})


async def healthy_agents(store: AnyStore) -> dict[str, int]:
    """Agents that run whatever they are told well: every Assignment Running, then
    each site's revision."""
    await report(store, SITES)
    return await revisions_run(store)


async def revision_numbers(store: AnyStore) -> list[int]:
    return sorted(r["spec"]["revision"] for r in await list_all(store, "Revision"))


async def rollout(store: AnyStore) -> dict[str, Any]:
    return (await application_status(store, "web")).get("rollout") or {}


async def update(store: AnyStore, kind: str, name: str, change: Any) -> None:
    """Change an object as a user does: again on a Conflict (the controller writes the
    application's status meanwhile)."""

    async def attempt() -> bool:
        await update_once(store, kind, name, change)
        return True

    await wait_until_async(attempt, ignore=(Conflict,))


async def healthy_rollout(store: AnyStore) -> dict[str, Any]:
    await report(store, SITES)
    return await rollout(store)


def everywhere(revision: int) -> Any:
    return lambda found: found == dict.fromkeys(SITES, revision)


def new_args(args: str) -> Any:
    return lambda obj: obj["spec"]["workload"]["process"].update(args=[args])


async def started(store: AnyStore, app: Object) -> None:
    await store.create(app)
    await wait_until_async(lambda: revisions_run(store), accept=everywhere(1))
    await report(store, SITES)


async def test_a_revision_per_template_and_none_for_placement(hub: AnyStore) -> None:
    await started(hub, web())
    assert await revision_numbers(hub) == [1]
    status = await wait_until_async(lambda: rollout(hub), accept=lambda r: r.get("phase"))
    assert status["phase"] == "Succeeded" and status["stableRevision"] == 1

    # Placement is no template: the same revision, nothing restarts.
    failover = {"afterSeconds": 5}
    await update(hub, "Application", "web", lambda o: o["spec"].update(failover=failover))
    await update(hub, "Application", "web", new_args("2"))
    await wait_until_async(lambda: revisions_run(hub), accept=everywhere(2))
    assert await revision_numbers(hub) == [1, 2]

    # Back to the first template: its number again, and no new Revision.
    await update(hub, "Application", "web", new_args("1"))
    await wait_until_async(lambda: revisions_run(hub), accept=everywhere(1))
    assert await revision_numbers(hub) == [1, 2]


async def test_the_canary_moves_first_then_the_rest(hub: AnyStore) -> None:
    await started(hub, web(rollout=canary_first()))
    await update(hub, "Application", "web", new_args("2"))

    found = await wait_until_async(lambda: revisions_run(hub), accept=lambda f: f["s1"] == 2)
    assert found == {"s1": 2, "s2": 1, "s3": 1, "s4": 1}
    status = await wait_until_async(lambda: rollout(hub), accept=lambda r: r["revision"] == 2)
    assert status["phase"] == "Progressing" and status["waves"][0]["name"] == "canary"

    await report(hub, ("s1",))
    # maxUnavailable 25% of 4 sites: the rest moves one site at a time, each once the
    # one before it is Ready.
    done = await wait_until_async(
        lambda: healthy_rollout(hub), accept=lambda r: r.get("phase") == "Succeeded"
    )
    assert await revisions_run(hub) == dict.fromkeys(SITES, 2)
    assert done["stableRevision"] == 2
    reasons = [e["reason"] for e in (await application_status(hub, "web"))["events"]]
    assert "RolloutSucceeded" in reasons


async def test_a_failing_canary_is_rolled_back_before_the_rest_moves(hub: AnyStore) -> None:
    await started(hub, web(rollout=canary_first()))
    await update(hub, "Application", "web", new_args("2"))
    await wait_until_async(lambda: revisions_run(hub), accept=lambda f: f["s1"] == 2)

    await report(hub, ("s1",), phase="CrashLoopBackOff")
    found = await wait_until_async(lambda: revisions_run(hub), accept=everywhere(1))
    assert found == dict.fromkeys(SITES, 1)
    status = await wait_until_async(
        lambda: rollout(hub), accept=lambda r: r.get("phase") == "RolledBack"
    )
    assert status["stableRevision"] == 1
    assert [f["site"] for f in status["failed"]] == ["s1"]


async def test_a_paused_rollout_moves_nothing(hub: AnyStore) -> None:
    await started(hub, web(rollout={"maxUnavailable": 1, "minSuccessSeconds": 0}))
    await update(hub, "Application", "web", new_args("2"))
    await wait_until_async(lambda: rollout(hub), accept=lambda r: r.get("revision") == 2)

    def pause(obj: Object) -> None:
        obj["status"]["rollout"]["control"] = {"revision": 2, "paused": True}

    app = await hub.get("Application", "web")
    pause(app)
    await hub.replace_status(app)
    status = await wait_until_async(
        lambda: rollout(hub), accept=lambda r: r.get("phase") == "Paused"
    )
    assert status["control"] == {"revision": 2, "paused": True}
    moved = [s for s, r in (await revisions_run(hub)).items() if r == 2]
    await report(hub, SITES)
    await wait_until_async(lambda: rollout(hub), accept=lambda r: r.get("phase") == "Paused")
    assert [s for s, r in (await revisions_run(hub)).items() if r == 2] == moved


async def test_a_deleted_application_leaves_no_revision(hub: AnyStore) -> None:
    await started(hub, web())
    await hub.delete("Application", "web")
    await wait_until_async(lambda: revision_numbers(hub), accept=lambda found: found == [])
