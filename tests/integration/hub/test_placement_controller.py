"""The placement controller and site health over each store backend (memory, SQLite,
PostgreSQL): what it writes when applications, sites and groups change."""

from __future__ import annotations

import time
from typing import Any

from edgeplane.api.wire import Object
from edgeplane.hub.controllers.health import mark_offline
from edgeplane.hub.controllers.placement import PlacementController, list_all
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


async def web_in_the_eu(store: AnyStore) -> PlacementController:
    """Sites s1, s2 in region eu and s3 in us; web on every eu site, placed once."""
    controller = PlacementController(store, resolve)
    for name, region in (("s1", "eu"), ("s2", "eu"), ("s3", "us")):
        await add_site(store, site(name, region=region))
    await store.create(app("web", mode="EverySite", selector={"matchLabels": {"region": "eu"}}))
    await controller.reconcile()
    return controller


async def test_assignments_follow_applications_and_sites(store: AnyStore) -> None:
    controller = await web_in_the_eu(store)
    assignments = await placed(store)
    assert set(assignments) == {"web.s1", "web.s2"}
    one = assignments["web.s1"]
    assert one["metadata"]["labels"] == {
        "edgeplane.io/application": "web",
        "edgeplane.io/site": "s1",
    }
    assert one["spec"]["workload"]["process"]["artifacts"][0]["sha256"] == "a" * 64
    assert "args" not in one["spec"]["workload"]["process"]
    assert assignments["web.s2"]["spec"]["workload"]["process"]["args"] == ["--fast"]
    status = (await store.get("Application", "web"))["status"]
    assert (status["sites"], status["replicas"], status["ready"]) == (["s1", "s2"], 2, 0)
    assert status["message"] == "placed 2/2; 1 site(s) did not match the selector"

    versions = {n: a["metadata"]["resourceVersion"] for n, a in assignments.items()}
    await controller.reconcile()  # nothing changed: nothing is written
    assert {
        n: a["metadata"]["resourceVersion"] for n, a in (await placed(store)).items()
    } == versions

    current = await store.get("Application", "web")
    await store.replace(
        {
            **app("web", "2", mode="EverySite", selector={"matchLabels": {"region": "eu"}}),
            "metadata": current["metadata"],
        }
    )
    await controller.reconcile()
    updated = await placed(store)
    assert {a["spec"]["revision"] for a in updated.values()} == {2}
    assert updated["web.s1"]["spec"]["workload"]["process"]["artifacts"][0]["sha256"] == "b" * 64

    await store.delete("Site", "s2")
    await controller.reconcile()
    assert set(await placed(store)) == {"web.s1"}
    await store.delete("Application", "web")
    await controller.reconcile()
    assert await placed(store) == {}


async def test_replicas_stay_put_and_ready_is_counted(store: AnyStore) -> None:
    controller = PlacementController(store, resolve)
    for name in ("s1", "s2", "s3"):
        await add_site(store, site(name))
    await store.create(app("api", mode="Replicas", replicas=2))
    await controller.reconcile()
    first = set(await placed(store))
    assert len(first) == 2
    await add_site(store, site("s0"))  # a new site sorts first, but nothing moves
    await controller.reconcile()
    assert set(await placed(store)) == first
    for assignment in (await placed(store)).values():
        status = {"phase": "Running", "ready": 1, "observedGeneration": 1}
        await store.replace_status({**assignment, "status": status})
    await controller.reconcile()
    status = (await store.get("Application", "api"))["status"]
    assert (status["ready"], status["replicas"], status["unplaced"]) == (2, 2, 0)


async def test_an_unknown_artifact_keeps_what_runs(store: AnyStore) -> None:
    controller = PlacementController(store, resolve)
    await add_site(store, site("s1"))
    await store.create(app("web"))
    await controller.reconcile()
    before = await placed(store)
    current = await store.get("Application", "web")
    await store.replace({**app("web", "9"), "metadata": current["metadata"]})
    await controller.reconcile()
    assert await placed(store) == before
    message = (await store.get("Application", "web"))["status"]["message"]
    assert message == "artifact svc:9 is not on the hub: `edgeplane artifact push` it"


async def test_silent_sites_turn_offline(store: AnyStore) -> None:
    fresh = site("fresh")
    fresh["status"]["lastHeartbeat"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    stale = site("stale")
    stale["status"]["lastHeartbeat"] = "2020-01-01T00:00:00Z"
    for obj in (fresh, stale, site("pending", phase="Pending")):
        await add_site(store, obj)
    assert await mark_offline(store, await list_all(store, "Site"), 40.0) == ["stale"]
    phases = {s["metadata"]["name"]: s["status"]["phase"] for s in await list_all(store, "Site")}
    assert phases == {"fresh": "Online", "pending": "Pending", "stale": "Offline"}


def placement_policy(
    expression: str, enforcement: str = "Deny", on_violation: str = "Move"
) -> Object:
    return {
        "apiVersion": "edgeplane.io/v1alpha1",
        "kind": "Policy",
        "metadata": {"name": "eu-only"},
        "spec": {
            "scope": "Placement",
            "enforcement": enforcement,
            "onViolation": on_violation,
            "rules": [{"name": "eu", "expression": expression, "message": "only in the EU"}],
        },
    }


EU_ONLY = 'site.labels["jurisdiction"] == "eu"'


async def fleet_with_app(store: AnyStore, **placement: Any) -> PlacementController:
    controller = PlacementController(store, resolve)
    for name, jurisdiction in (("eu1", "eu"), ("eu2", "eu"), ("us1", "us")):
        await add_site(store, site(name, jurisdiction=jurisdiction))
    await store.create(app("web", **placement))
    await controller.reconcile()
    return controller


async def test_a_deny_policy_moves_replicas_out_and_says_why(store: AnyStore) -> None:
    controller = await fleet_with_app(store, mode="Replicas", replicas=1)
    first = set(await placed(store))
    assert first == {"web.eu1"}  # Online first, then by name
    await store.delete("Site", "eu1")
    await controller.reconcile()
    assert set(await placed(store)) == {"web.eu2"}
    await store.delete("Site", "eu2")
    await add_site(store, site("eu1", jurisdiction="eu"))
    await controller.reconcile()
    await store.create(placement_policy('site.labels["jurisdiction"] == "us"'))
    await controller.reconcile()
    assert set(await placed(store)) == {"web.us1"}
    status = (await store.get("Application", "web"))["status"]
    assert status["message"] == "placed 1/1; 1 site(s) excluded by policy eu-only"
    current = await store.get("Policy", "eu-only")
    await store.replace({**placement_policy(EU_ONLY), "metadata": current["metadata"]})
    await controller.reconcile()
    assert set(await placed(store)) == {"web.eu1"}


async def test_report_keeps_what_runs_and_flags_it(store: AnyStore) -> None:
    controller = await fleet_with_app(store, mode="EverySite")
    assert set(await placed(store)) == {"web.eu1", "web.eu2", "web.us1"}
    await store.create(placement_policy(EU_ONLY, on_violation="Report"))
    await controller.reconcile()
    assert set(await placed(store)) == {"web.eu1", "web.eu2", "web.us1"}
    conditions = (await store.get("Application", "web"))["status"]["conditions"]
    violation = next(c for c in conditions if c["type"] == "PolicyViolation")
    assert "(us1)" in violation["message"]
    await add_site(store, site("us2", jurisdiction="us"))  # a new site is not placed on
    await controller.reconcile()
    assert "web.us2" not in await placed(store)


async def test_warn_places_and_adds_a_condition(store: AnyStore) -> None:
    controller = await fleet_with_app(store, mode="EverySite")
    await store.create(placement_policy(EU_ONLY, enforcement="Warn"))
    await controller.reconcile()
    assert set(await placed(store)) == {"web.eu1", "web.eu2", "web.us1"}
    conditions = {
        c["type"]: c for c in (await store.get("Application", "web"))["status"]["conditions"]
    }
    assert conditions["Placed"]["status"] == "True"
    assert conditions["PolicyWarning"]["message"].endswith("only in the EU")


async def test_an_unplaceable_application_says_why(store: AnyStore) -> None:
    await fleet_with_app(
        store, mode="EverySite", selector={"matchLabels": {"jurisdiction": "mars"}}
    )
    conditions = (await store.get("Application", "web"))["status"]["conditions"]
    assert conditions[0] == {
        "type": "Placed",
        "status": "False",
        "reason": "Unplaced",
        "message": "placed 0/0; 3 site(s) did not match the selector",
    }


async def test_preemption_is_recorded_on_both_applications(store: AnyStore) -> None:
    controller = PlacementController(store, resolve)
    for name in ("s1", "s2"):
        await add_site(store, site(name, zone=name))
    low = app("low", mode="Replicas", replicas=1, priority=1)
    low["spec"]["resources"] = {"cpu": "1500m"}
    await store.create(low)
    await controller.reconcile()
    assert set(await placed(store)) == {"low.s1"}
    high = app(
        "high", mode="Replicas", replicas=1, priority=9, selector={"matchLabels": {"zone": "s1"}}
    )
    high["spec"]["resources"] = {"cpu": "1500m"}
    await store.create(high)
    await controller.reconcile()
    assert set(await placed(store)) == {"high.s1", "low.s2"}
    low_events = (await store.get("Application", "low"))["status"]["events"]
    high_events = (await store.get("Application", "high"))["status"]["events"]
    assert [e["reason"] for e in low_events] == ["Preempted"]
    assert "displaced by high" in low_events[0]["message"]
    assert [e["reason"] for e in high_events] == ["Preempting"]
    await controller.reconcile()  # nothing new: the events stay as they were
    assert (await store.get("Application", "low"))["status"]["events"] == low_events


async def test_replica_changes_keep_what_runs(store: AnyStore) -> None:
    controller = PlacementController(store, resolve)
    for name in ("s1", "s2", "s3", "s4"):
        await add_site(store, site(name))
    await store.create(app("api", mode="Replicas", replicas=2))
    await controller.reconcile()
    two = set(await placed(store))
    await update(store, "Application", "api", set_replicas(3))
    await controller.reconcile()
    three = set(await placed(store))
    assert len(three) == 3 and two < three  # one added, none moved
    await update(store, "Application", "api", set_replicas(1))
    await controller.reconcile()
    one = set(await placed(store))
    assert len(one) == 1 and one < three
    # Replicas are no template: the first revision still runs (nothing restarted).
    assert {a["spec"]["revision"] for a in (await placed(store)).values()} == {1}


async def test_selector_and_label_changes_move_assignments(store: AnyStore) -> None:
    controller = await web_in_the_eu(store)
    assert set(await placed(store)) == {"web.s1", "web.s2"}
    kept = (await placed(store))["web.s1"]["metadata"]["resourceVersion"]

    await update(store, "Site", "s2", lambda s: s["metadata"]["labels"].update(region="us"))
    await controller.reconcile()
    assert set(await placed(store)) == {"web.s1"}
    assert (await placed(store))["web.s1"]["metadata"]["resourceVersion"] == kept

    def to_us(obj: dict[str, Any]) -> None:
        obj["spec"]["placement"]["selector"] = {"matchLabels": {"region": "us"}}

    await update(store, "Application", "web", to_us)
    await controller.reconcile()
    assert set(await placed(store)) == {"web.s2", "web.s3"}


async def test_site_groups_narrow_the_selector(store: AnyStore) -> None:
    controller = PlacementController(store, resolve)
    for name, tier in (("s1", "edge"), ("s2", "cloud"), ("s3", "edge")):
        await add_site(store, site(name, tier=tier))
    await store.create(
        {
            "apiVersion": "edgeplane.io/v1alpha1",
            "kind": "SiteGroup",
            "metadata": {"name": "edges"},
            "spec": {"selector": {"matchLabels": {"tier": "edge"}}},
        }
    )
    await store.create(app("web", mode="EverySite", siteGroups=["edges", "nowhere"]))
    await controller.reconcile()
    assert set(await placed(store)) == set()  # an unknown group is a reason, not a crash
    status = (await store.get("Application", "web"))["status"]
    assert status["message"] == "placed 0/0; 3 site(s) siteGroup nowhere does not exist"
    await update(
        store, "Application", "web", lambda a: a["spec"]["placement"].update(siteGroups=["edges"])
    )
    await controller.reconcile()
    assert set(await placed(store)) == {"web.s1", "web.s3"}


def kubernetes_app(name: str, overrides: list[dict[str, Any]], **labels: str) -> Object:
    deploy = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}}
    shared = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "x"}}
    return {
        "apiVersion": "edgeplane.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "workload": {"kubernetes": {"manifests": [deploy, shared] if labels else [deploy]}},
            "placement": {"mode": "EverySite"},
            "overrides": overrides,
        },
    }


async def test_a_kubernetes_render_that_fails_is_a_condition_not_a_crash(store: AnyStore) -> None:
    """Stored past admission (a store write, an older hub): a patch that cannot apply at
    a site, or a namespace no Policy allows, keeps the application out with RenderFailed;
    the other applications are placed all the same."""
    controller = PlacementController(store, resolve)
    kube = site("k1")
    kube["spec"] = {"runtime": "kubernetes"}
    await add_site(store, kube)
    broken = {
        "site": "k1",
        "patches": [
            {
                "target": {"kind": "Deployment", "name": "web"},
                "jsonPatch": [{"op": "remove", "path": "/spec/paused"}],
            }
        ],
    }
    await store.create(kubernetes_app("clumsy", [broken]))
    await store.create(kubernetes_app("sneaky", [], team="shop"))
    await store.create(kubernetes_app("fine", []))
    await controller.reconcile()

    assert set(await placed(store)) == {"fine.k1"}
    for name, words in (
        ("clumsy", "spec.overrides[0].patches[0].jsonPatch[0]: '/spec' does not exist"),
        ("sneaky", "spec.workload.kubernetes.manifests[1].metadata.namespace: is 'x'"),
    ):
        status = (await store.get("Application", name))["status"]
        placed_condition = status["conditions"][0]
        assert (placed_condition["type"], placed_condition["reason"]) == ("Placed", "RenderFailed")
        assert "its Assignment at site k1 is invalid (check spec.overrides)" in status["message"]
        assert words in status["message"]

    await store.create(
        {
            "apiVersion": "edgeplane.io/v1alpha1",
            "kind": "Policy",
            "metadata": {"name": "shop-writes-x"},
            "spec": {
                "scope": "Admission",
                "selector": {"matchLabels": {"team": "shop"}},
                "kubernetes": {"allowedNamespaces": ["x"]},
            },
        }
    )
    await controller.reconcile()
    assignments = await placed(store)
    assert set(assignments) == {"fine.k1", "sneaky.k1"}
    workload = assignments["sneaky.k1"]["spec"]["workload"]["kubernetes"]
    assert (workload["namespace"], workload["allowedNamespaces"]) == ("sneaky", ["x"])
