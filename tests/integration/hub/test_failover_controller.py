"""Failover and failback as the hub's controllers carry them out, over each store
backend: replicas at an Offline site wait until their failover is due, then move with
an event and their home named; fenced ones take a higher epoch; a home site that has
been back for its hold-down takes its replica back. Sites here are stored objects (the
health controller's Offline is written by the test): the agents' side is tested in
tests/integration/failover/."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from edgeplane.api.wire import Json, Object
from tests.conftest import AnyStore
from tests.integration.hub.controller_fleet import add_site, placed, site
from tests.integration.hub.test_controllers_running import application_status, controllers
from tests.support import builders
from tests.support.waiting import wait_until_async


def stamp(at: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))


def singleton(name: str, at: str | None = None, **failover: Json) -> Object:
    """One replica (at the site named ``at`` or nowhere, when given)."""
    placement: dict[str, Json] = {"mode": "Replicas", "replicas": 1}
    if at is not None:
        placement["selector"] = {"matchLabels": {"id": at}}
    return builders.application(
        name,
        workload={"process": {"command": "sleep", "args": ["60"]}},
        placement=placement,
        spec={"failover": failover},
    )


def lost(ago: float) -> Any:
    """The health controller's write for a site silent for ``ago`` seconds."""

    def change(obj: Object) -> None:
        obj["status"].update(phase="Offline", lastHeartbeat=stamp(time.time() - ago))

    return change


def back(returned_ago: float) -> Any:
    def change(obj: Object) -> None:
        now = time.time()
        obj["status"].update(
            phase="Online", lastHeartbeat=stamp(now), returns=[stamp(now - returned_ago)]
        )

    return change


@pytest.fixture
async def hub(store: AnyStore) -> AsyncIterator[AnyStore]:
    for name in ("s1", "s2", "s3"):
        await add_site(store, site(name, id=name))
    async with controllers(store):
        yield store


async def where(store: AnyStore, app: str) -> list[str]:
    return sorted(
        a["spec"]["site"] for a in (await placed(store)).values() if a["spec"]["application"] == app
    )


async def set_status(store: AnyStore, kind: str, name: str, change: Any) -> None:
    obj = await store.get(kind, name)
    change(obj)
    await store.replace_status(obj)


async def test_replicas_wait_until_due_then_move_with_an_event(hub: AnyStore) -> None:
    await hub.create(singleton("prompt"))
    (home,) = await wait_until_async(lambda: where(hub, "prompt"))
    # Pinned to the same site: it cannot move, and waits an hour before it would.
    await hub.create(singleton("patient", at=home, afterSeconds=3600))
    await wait_until_async(lambda: where(hub, "patient"))
    await set_status(hub, "Site", home, lost(ago=12))

    moved = await wait_until_async(
        lambda: where(hub, "prompt"), accept=lambda found: found and home not in found
    )
    # The pass that moved "prompt" kept "patient" where it waits (pinned or not, an
    # Offline site takes nothing and keeps only what waits there).
    assert await where(hub, "patient") == [home]
    (assignment,) = [
        a for a in (await placed(hub)).values() if a["spec"]["application"] == "prompt"
    ]
    assert assignment["spec"]["failedOverFrom"] == home
    assert "epoch" not in assignment["spec"]
    status = await wait_until_async(
        lambda: application_status(hub, "prompt"), accept=lambda s: s.get("events")
    )
    event = status["events"][-1]
    assert event["reason"] == "FailedOver"
    assert event["message"].startswith(f"failed over from {home} to {moved[0]}: no heartbeat for 1")


async def test_a_fenced_replica_moves_after_the_lease_with_a_higher_epoch(hub: AnyStore) -> None:
    await hub.create(singleton("single", fencing="Strict"))
    first = await wait_until_async(lambda: placed(hub), accept=lambda found: len(found) == 1)
    (before,) = first.values()
    assert before["spec"]["fencing"] == "Strict" and before["spec"]["epoch"] == 1
    # The default lease is 30 s (3 heartbeats of the hub's 10 s): silent for 40 s is past it.
    await set_status(hub, "Site", before["spec"]["site"], lost(ago=40))
    after = await wait_until_async(
        lambda: placed(hub),
        accept=lambda found: (
            [a["spec"]["site"] for a in found.values()] not in ([], [before["spec"]["site"]])
        ),
    )
    (moved,) = after.values()
    assert moved["spec"]["epoch"] == 2 and moved["spec"]["fencing"] == "Strict"
    status = await wait_until_async(
        lambda: application_status(hub, "single"), accept=lambda s: s.get("fencingEpoch") == 2
    )
    assert status["events"][-1]["reason"] == "FailedOver"


async def test_the_home_site_back_for_its_hold_down_takes_the_replica_back(
    hub: AnyStore,
) -> None:
    await hub.create(singleton("homing", failback=True, holdDownSeconds=5))
    (first,) = (await wait_until_async(lambda: placed(hub), accept=bool)).values()
    home = first["spec"]["site"]
    await set_status(hub, "Site", home, lost(ago=12))
    await wait_until_async(lambda: where(hub, "homing"), accept=lambda f: f and home not in f)
    await set_status(hub, "Site", home, back(returned_ago=6))  # back for longer than 5 s

    await wait_until_async(lambda: where(hub, "homing"), accept=lambda found: found == [home])
    status = await wait_until_async(
        lambda: application_status(hub, "homing"),
        accept=lambda s: any(e["reason"] == "FailedBack" for e in s.get("events") or ()),
    )
    assert [e["reason"] for e in status["events"]][-2:] == ["FailedOver", "FailedBack"]
