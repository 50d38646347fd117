"""The placement engine through the controller, on each store backend: Divided
replicas become Assignments with their counts, Devices decide where device-hungry
applications go, and a maximum distance keeps far sites out."""

from __future__ import annotations

from edgeplane.api.wire import Object
from edgeplane.hub.controllers.placement import PlacementController
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


def device(name: str, at: str, phase: str | None = None, **labels: str) -> Object:
    obj: Object = {
        "apiVersion": "edgeplane.io/v1alpha1",
        "kind": "Device",
        "metadata": {"name": name, "labels": labels},
        "spec": {"site": at, "protocol": "onvif"},
    }
    if phase:
        obj["status"] = {"phase": phase}
    return obj


async def add_device(store: AnyStore, obj: Object) -> None:
    body: Object = {**obj}
    body.pop("status", None)
    created = await store.create(body)
    if "status" in obj:
        await store.replace_status({**created, "status": obj["status"]})


def counts(assignments: dict[str, Object]) -> dict[str, int]:
    return {a["spec"]["site"]: a["spec"]["replicas"] for a in assignments.values()}


async def test_divided_replicas_are_written_as_counts_and_kept(store: AnyStore) -> None:
    controller = PlacementController(store, resolve)
    for name, region in (("s1", "eu"), ("s2", "eu"), ("s3", "us"), ("s4", "us")):
        await add_site(store, site(name, region=region))  # 2 cpus each; 500m a replica
    spread = [{"topologyKey": "region"}]
    await store.create(app("api", mode="Replicas", replicas=6, division="Divided", spread=spread))
    await controller.reconcile()
    first = counts(await placed(store))
    assert sum(first.values()) == 6
    by_region = {"eu": first.get("s1", 0) + first.get("s2", 0)}
    assert by_region["eu"] == 3  # even over the regions
    assert all(n <= 4 for n in first.values())  # no site over its 2 cpus
    status = (await store.get("Application", "api"))["status"]
    assert (status["replicas"], status["unplaced"]) == (6, 0)

    await update(store, "Application", "api", set_replicas(8))
    await controller.reconcile()
    grown = counts(await placed(store))
    assert sum(grown.values()) == 8
    assert all(grown.get(s, 0) >= n for s, n in first.items())  # nothing taken away

    await update(store, "Application", "api", set_replicas(20))  # room for 16
    await controller.reconcile()
    status = (await store.get("Application", "api"))["status"]
    assert sum(counts(await placed(store)).values()) == 16
    assert status["unplaced"] == 4
    assert "room for 16 of 20 replicas" in status["message"]


async def test_devices_decide_where_an_application_goes(store: AnyStore) -> None:
    controller = PlacementController(store, resolve)
    for name in ("s1", "s2", "s3"):
        await add_site(store, site(name))
    await add_device(store, device("s1-cam", "s1", **{"class": "camera"}))
    await add_device(store, device("s2-cam", "s2", "Unavailable", **{"class": "camera"}))
    await add_device(store, device("s3-plc", "s3", **{"class": "plc"}))
    vision = app("vision", mode="EverySite")
    vision["spec"]["devices"] = [{"selector": {"matchLabels": {"class": "camera"}}, "count": 1}]
    await store.create(vision)
    await controller.reconcile()
    assert set(counts(await placed(store))) == {"s1"}
    status = (await store.get("Application", "vision"))["status"]
    assert "2 site(s) had fewer than 1 device(s) matching class=camera" in status["message"]

    await add_device(store, device("s3-cam", "s3", **{"class": "camera"}))
    await controller.reconcile()
    assert set(counts(await placed(store))) == {"s1", "s3"}


async def test_a_maximum_distance_keeps_far_sites_out(store: AnyStore) -> None:
    controller = PlacementController(store, resolve)
    for name, (lat, lon) in {
        "munich": (48.14, 11.58),
        "vienna": (48.21, 16.37),
        "lisbon": (38.72, -9.14),
    }.items():
        obj = site(name)
        obj["spec"] = {"location": {"lat": lat, "lon": lon}}
        await add_site(store, obj)
    await add_site(store, site("nowhere"))
    locality = {"near": {"lat": 48.14, "lon": 11.58}, "maxDistanceKm": 500}
    await store.create(app("near", mode="Replicas", replicas=3, locality=locality))
    await controller.reconcile()
    assert set(counts(await placed(store))) == {"munich", "vienna"}
    status = (await store.get("Application", "near"))["status"]
    assert status["unplaced"] == 1
    assert "2 site(s) are farther than 500 km from the location" in status["message"]
