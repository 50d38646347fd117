"""The placement controller driven by the informer, over each store backend (memory,
SQLite, PostgreSQL): what wakes a pass, what only rewrites an application's status,
and what wakes nothing. Passes and status-only updates are counted by the record the
hub's metrics read."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from edgeplane.api.wire import Object
from edgeplane.hub.controllers import run_controllers
from edgeplane.hub.controllers.record import PlacementRecord, Tally
from edgeplane.hub.controllers.rendering import ResolveArtifact
from edgeplane.hub.informer import Informer
from edgeplane.store.errors import Conflict
from tests.conftest import AnyStore
from tests.integration.hub.controller_fleet import (
    add_site,
    app,
    placed,
    resolve,
    set_replicas,
    site,
    update,
)
from tests.integration.hub.test_placement_controller import EU_ONLY, placement_policy
from tests.support.waiting import wait_until_async


def count(counter: object) -> float:
    assert isinstance(counter, Tally)
    return counter.value


async def counted(counter: object, accept: Callable[[float], bool]) -> float:
    """The counter once ``accept`` takes it (a pass is counted when it ends, after its
    writes are seen)."""
    return await wait_until_async(lambda: asyncio.sleep(0, count(counter)), accept=accept)


@contextlib.asynccontextmanager
async def controlled(
    store: AnyStore, resolver: ResolveArtifact = resolve
) -> AsyncIterator[PlacementRecord]:
    """The controllers over ``store`` with their informer, until the block ends."""
    record, informer, stop = PlacementRecord(), Informer(store), asyncio.Event()
    tasks = [
        asyncio.create_task(informer.run(stop)),
        asyncio.create_task(
            run_controllers(store, resolver, 40.0, stop, informer=informer, record=record)
        ),
    ]
    try:
        yield record
    finally:
        stop.set()
        async with asyncio.timeout(10):  # stops cleanly, promptly
            await asyncio.gather(*tasks)


async def changed(store: AnyStore, kind: str, name: str, change: Any) -> None:
    """``update``, again when the controller wrote the object's status in between."""
    for _ in range(20):
        with contextlib.suppress(Conflict):
            return await update(store, kind, name, change)
    raise AssertionError(f"{kind} {name} kept changing under the test")


async def app_status(store: AnyStore, name: str) -> dict[str, Any]:
    return (await store.get("Application", name)).get("status") or {}


async def web_at_two_sites(store: AnyStore) -> None:
    """Sites s1, s2 and web on every site, before the controllers start: their first
    pass places it, and nothing else wakes them."""
    for name in ("s1", "s2"):
        await add_site(store, site(name, region="eu"))
    await store.create(app("web"))


async def placed_everywhere(store: AnyStore) -> dict[str, Object]:
    found = await wait_until_async(lambda: placed(store), accept=lambda found: len(found) == 2)
    await wait_until_async(
        lambda: app_status(store, "web"), accept=lambda s: s.get("sites") == ["s1", "s2"]
    )
    return found


async def test_heartbeats_wake_nothing_and_a_ready_replica_only_a_status(
    store: AnyStore,
) -> None:
    await web_at_two_sites(store)
    async with controlled(store) as record:
        assignments = await placed_everywhere(store)
        await counted(record.passes, lambda n: n == 1)
        # An older agent's PATCH: only lastHeartbeat (and a condition's heartbeat time).
        s1 = await store.get("Site", "s1")
        later = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 1))
        status = {**s1["status"], "lastHeartbeat": later}
        status["conditions"] = [{"type": "Ready", "status": "True", "lastHeartbeatTime": later}]
        await store.replace_status({**s1, "status": status})
        # Then a replica turns ready: its application's ready count, and no pass.
        one = assignments["web.s1"]
        ready = {"phase": "Running", "ready": 1, "observedGeneration": 1}
        await store.replace_status({**one, "status": ready})
        found = await wait_until_async(
            lambda: app_status(store, "web"), accept=lambda s: s.get("ready") == 1
        )
        assert found["conditions"][1]["message"] == "1/2 ready"
        await counted(record.status_updates, lambda n: n == 1)
        assert count(record.passes) == 1


async def test_changes_of_meaning_wake_a_pass(store: AnyStore) -> None:
    await web_at_two_sites(store)
    async with controlled(store) as record:
        await placed_everywhere(store)
        # The site leaves the selector: a pass, and the assignment goes.
        selector = {"mode": "EverySite", "selector": {"matchLabels": {"region": "eu"}}}
        await changed(store, "Application", "web", lambda a: a["spec"].update(placement=selector))
        await update(store, "Site", "s2", lambda s: s["metadata"].update(labels={"region": "us"}))
        await wait_until_async(lambda: placed(store), accept=lambda found: set(found) == {"web.s1"})
        passes = await counted(record.passes, lambda n: n >= 2)
        # An Assignment deleted by hand is put back by the next pass.
        await store.delete("Assignment", (await placed(store))["web.s1"]["metadata"]["name"])
        await wait_until_async(lambda: placed(store), accept=lambda found: set(found) == {"web.s1"})
        await counted(record.passes, lambda n: n > passes)


async def test_the_record_tells_the_story_of_two_changes(store: AnyStore) -> None:
    for name in ("s1", "s2", "s3"):
        await add_site(store, site(name, region="eu"))
    await store.create(
        app("api", mode="Replicas", replicas=1, selector={"matchLabels": {"region": "eu"}})
    )
    async with controlled(store) as record:
        await wait_until_async(lambda: placed(store), accept=lambda found: len(found) == 1)
        (first,) = (a["spec"]["site"] for a in (await placed(store)).values())
        # A label change takes the site it runs at out of the selector...
        await update(store, "Site", first, lambda s: s["metadata"].update(labels={"region": "us"}))
        moved = await wait_until_async(
            lambda: placed(store),
            accept=lambda found: len(found) == 1 and f"api.{first}" not in found,
        )
        (second,) = (a["spec"]["site"] for a in moved.values())
        # ...and a replica change adds the last site of the selector.
        await changed(store, "Application", "api", set_replicas(2))
        await wait_until_async(lambda: placed(store), accept=lambda found: len(found) == 2)
        await wait_until_async(
            lambda: asyncio.sleep(0, len(record.story("api"))), accept=lambda n: n == 3
        )
        await wait_until_async(
            lambda: asyncio.sleep(0, record.decision("api")),
            accept=lambda d: d is not None and d.generation == 2,
        )
        story = record.story("api")
        recorded = record.decision("api")
    assert [(e.added, e.removed, e.unplaced) for e in story] == [
        ((first,), (), 0),
        ((second,), (first,), 0),
        (tuple(sorted({"s1", "s2", "s3"} - {first, second})), (), 0),
    ]
    assert story[0].trigger == "the controller started"
    assert story[1].trigger == f"Site {first} MODIFIED (labels)"
    assert story[2].trigger == "Application api MODIFIED (spec)"
    assert recorded is not None and recorded.generation == 2
    assert not record.active  # the controller stopped


async def test_a_policy_is_read_from_the_informer_and_wakes_a_pass(store: AnyStore) -> None:
    for name, jurisdiction in (("eu1", "eu"), ("us1", "us")):
        await add_site(store, site(name, jurisdiction=jurisdiction))
    await store.create(app("web"))
    async with controlled(store):
        await wait_until_async(
            lambda: placed(store), accept=lambda found: set(found) == {"web.eu1", "web.us1"}
        )
        await store.create(placement_policy(EU_ONLY))
        await wait_until_async(
            lambda: placed(store), accept=lambda found: set(found) == {"web.eu1"}
        )
        status = await wait_until_async(
            lambda: app_status(store, "web"), accept=lambda s: s.get("sites") == ["eu1"]
        )
        assert status["message"] == "placed 1/1; 1 site(s) excluded by policy eu-only"


async def test_an_artifact_pushed_later_is_placed_without_a_store_change(store: AnyStore) -> None:
    """A push is no store event: an application whose artifact is missing is placed
    again after a while, and then finds it."""
    hub_artifacts: dict[tuple[str, str], str] = {}
    await add_site(store, site("s1"))
    await store.create(app("web"))
    async with controlled(store, lambda n, v: hub_artifacts.get((n, v))) as record:
        missing = await wait_until_async(
            lambda: app_status(store, "web"), accept=lambda s: "message" in s
        )
        assert missing["conditions"][0]["reason"] == "ArtifactMissing"
        hub_artifacts[("svc", "1")] = "c" * 64  # pushed
        found = await wait_until_async(
            lambda: placed(store), accept=lambda found: "web.s1" in found
        )
        assert found["web.s1"]["spec"]["workload"]["process"]["artifacts"][0]["sha256"] == "c" * 64
        await counted(record.passes, lambda n: n >= 2)
