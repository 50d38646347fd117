"""Issue 10's evidence for a cluster per site: a real hub, real agents run with
``--runtime kubernetes``, and real control planes (see conftest). Each test uses its own
application, so namespaces never overlap; what the agents did is read from the apiserver.
"""

from __future__ import annotations

import functools
import json
import time
from typing import Any

import pytest

from hack.kube.cluster import Cluster
from tests.k8s.conftest import Edge
from tests.support.fleet import Fleet, wait_for
from tests.support.kube import (
    apply_as,
    at,
    config_map,
    deployment,
    deployment_of,
    items,
    kube_app,
    read,
    ready_at,
    running_pods,
    settled,
    web,
)

CLUSTER_SITES = ("site-0", "site-1", "site-2")
MANAGED = "app.kubernetes.io/managed-by"


def update(fleet: Fleet, app: str, **kubernetes: Any) -> None:
    """A new revision of ``app``: its kubernetes workload's fields replaced. The hub
    writes the application's status meanwhile (a new resourceVersion): a 409 is read
    again and retried, as a client of the API does."""
    for _ in range(20):
        body = fleet.ok("GET", f"/applications/{app}")
        body["spec"]["workload"]["kubernetes"].update(kubernetes)
        body.pop("status", None)
        answer = fleet.api("PUT", f"/applications/{app}", body)
        if answer.status_code != 409:
            assert answer.status_code < 300, (answer.status_code, answer.text)
            return
    raise AssertionError(f"PUT /applications/{app}: 409 twenty times in a row")


def status_of(fleet: Fleet, app: str, site: str) -> dict[str, Any]:
    return dict(fleet.assignments(app).get(site, {}).get("status") or {})


def saying(fleet: Fleet, app: str, site: str, text: str) -> dict[str, Any] | None:
    """The assignment's status once ``text`` is in it."""
    status = status_of(fleet, app, site)
    return status if text in json.dumps(status) else None


def ready_endpoints(cluster: Cluster, namespace: str, service: str) -> int:
    path = f"/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices"
    slices = items(cluster, f"{path}?labelSelector=kubernetes.io%2Fservice-name%3D{service}")
    return sum(
        1
        for s in slices
        for e in s.get("endpoints") or []
        if (e.get("conditions") or {}).get("ready")
    )


def snapshot(cluster: Cluster, namespace: str, app: str) -> tuple[Any, ...]:
    """What must not change when nothing should: the pods (by UID, Running) and the
    resourceVersion of each object the application holds."""
    versions = []
    for kind, path in (
        ("Deployment", f"/apis/apps/v1/namespaces/{namespace}/deployments/{app}"),
        ("Service", f"/api/v1/namespaces/{namespace}/services/{app}"),
        ("ConfigMap", f"/api/v1/namespaces/{namespace}/configmaps/{app}-config"),
    ):
        found = read(cluster, path)
        versions.append((kind, found["metadata"]["resourceVersion"] if found else None))
    return (sorted(running_pods(cluster, namespace, app)), versions)


def test_one_apply_is_ready_at_three_clusters(edge: Edge) -> None:
    app = "shop"
    edge.fleet.ok("POST", "/applications", kube_app(app, web(app), at("shape", "cluster")))
    found = wait_for(
        lambda: ready_at(edge.fleet, app, dict.fromkeys(CLUSTER_SITES, 2)),
        "shop Running with 2 ready at the three cluster sites",
        120,
    )
    for site in CLUSTER_SITES:
        cluster = edge.clusters[site]
        labels = deployment_of(cluster, app, app)["metadata"]["labels"]  # type: ignore[index]
        assert labels["edgeplane.io/application"] == app
        assert labels["edgeplane.io/assignment"] == found[site]["metadata"]["name"]
        assert labels["edgeplane.io/site"] == site
        assert labels[MANAGED] == "edgeplane"
        assert len(running_pods(cluster, app, app)) == 2
        # Running needs one ready endpoint; the EndpointSlice controller adds the
        # second pod's a moment later.
        ready = functools.partial(ready_endpoints, cluster, app, app)
        wait_for(lambda: ready() == 2, f"2 endpoints at {site}", 30)  # noqa: B023
        config = read(cluster, f"/api/v1/namespaces/{app}/configmaps/{app}-config")
        assert config is not None and config["data"] == {"color": "blue"}
        namespace = read(cluster, f"/api/v1/namespaces/{app}")
        assert namespace is not None
        assert namespace["metadata"]["labels"]["edgeplane.io/application"] == app


def test_a_new_revision_prunes_a_removed_config_map(edge: Edge) -> None:
    app, cluster = "prune", edge.clusters["site-0"]
    manifests = [*web(app, 1), config_map("extra", kept="no")]
    edge.fleet.ok("POST", "/applications", kube_app(app, manifests, at("at", "site-0")))
    wait_for(lambda: ready_at(edge.fleet, app, {"site-0": 1}), "prune ready at site-0", 90)
    assert read(cluster, f"/api/v1/namespaces/{app}/configmaps/extra") is not None

    update(edge.fleet, app, manifests=web(app, 1))
    # The status of revision 1 reads Running too: wait for the assignment of revision 2.
    wait_for(
        lambda: (
            (found := ready_at(edge.fleet, app, {"site-0": 1}))
            and found["site-0"]["spec"]["revision"] == 2
        ),
        "revision 2 ready",
        90,
    )
    wait_for(
        lambda: read(cluster, f"/api/v1/namespaces/{app}/configmaps/extra") is None,
        "the removed ConfigMap pruned",
        60,
    )
    assert read(cluster, f"/api/v1/namespaces/{app}/configmaps/{app}-config") is not None
    assert deployment_of(cluster, app, app) is not None


def test_a_conflict_with_another_field_manager_is_reported_until_forced(edge: Edge) -> None:
    app, cluster = "conflict", edge.clusters["site-1"]
    path = f"/api/v1/namespaces/{app}/configmaps/settings"
    placement = at("at", "site-1")
    edge.fleet.ok(
        "POST", "/applications", kube_app(app, [config_map("settings", color="blue")], placement)
    )
    wait_for(lambda: ready_at(edge.fleet, app, {"site-1": 0}), "conflict ready at site-1", 90)
    # Someone edits the object by hand: their manager now owns data.color.
    theirs = config_map("settings", color="red")
    theirs["metadata"]["namespace"] = app
    apply_as(cluster, "kubectl-edit", theirs, force=True)

    update(edge.fleet, app, manifests=[config_map("settings", color="green")])
    status = wait_for(
        lambda: saying(edge.fleet, app, "site-1", "kubectl-edit"),
        "the conflict named in the assignment's status",
        60,
    )
    text = json.dumps(status)
    assert "color" in text and "force" in text, status
    assert read(cluster, path)["data"] == {"color": "red"}  # type: ignore[index]

    update(edge.fleet, app, manifests=[config_map("settings", color="green")], force=True)
    wait_for(
        lambda: read(cluster, path)["data"] == {"color": "green"},  # type: ignore[index]
        "force takes the field",
        60,
    )
    wait_for(lambda: ready_at(edge.fleet, app, {"site-1": 0}), "Running after force", 60)
    assert "kubectl-edit" not in json.dumps(status_of(edge.fleet, app, "site-1"))


def barrier(edge: Edge, site: str, name: str) -> None:
    """Until a fresh application is Running at ``site``: the agent has since made a
    whole pass over its assignments, the older ones included."""
    manifests = [config_map(f"{name}-mark", at=site)]
    edge.fleet.ok("POST", "/applications", kube_app(name, manifests, at("at", site)))
    wait_for(lambda: ready_at(edge.fleet, name, {site: 0}), f"{name} ready at {site}", 90)


def test_an_agent_restart_recreates_nothing(edge: Edge) -> None:
    app, site = "steady", "site-2"
    cluster = edge.clusters[site]
    edge.fleet.ok("POST", "/applications", kube_app(app, web(app), at("at", site)))
    wait_for(lambda: ready_at(edge.fleet, app, {site: 2}), "steady ready", 90)
    wait_for(lambda: settled(cluster, app, app), "steady's rollout complete", 30)
    before = snapshot(cluster, app, app)
    assert len(before[0]) == 2

    agent = edge.fleet.agents[site]
    assert agent.stop() == 0
    agent.start()
    barrier(edge, site, "steady-after")

    assert snapshot(cluster, app, app) == before
    assert ready_at(edge.fleet, app, {site: 2})


def test_the_hub_down_changes_nothing_in_the_cluster(edge: Edge) -> None:
    app, site = "calm", "site-0"
    cluster = edge.clusters[site]
    edge.fleet.ok("POST", "/applications", kube_app(app, web(app), at("at", site)))
    wait_for(lambda: ready_at(edge.fleet, app, {site: 2}), "calm ready", 90)
    wait_for(lambda: settled(cluster, app, app), "calm's rollout complete", 30)
    before = snapshot(cluster, app, app)

    edge.fleet.stop_hub()
    try:
        # Ten agent status periods (--kube-poll-seconds 1) and several failed watches.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            assert snapshot(cluster, app, app) == before
            assert edge.fleet.agents[site].process.poll() is None  # type: ignore[union-attr]
            time.sleep(0.5)
    finally:
        edge.fleet.start_hub()
    barrier(edge, site, "calm-after")
    assert snapshot(cluster, app, app) == before
    assert ready_at(edge.fleet, app, {site: 2})


def test_a_divided_application_scales_deployments_two_to_one(edge: Edge) -> None:
    app = "split"
    placement = {
        "mode": "Replicas",
        "replicas": 3,
        "division": "Divided",
        "selector": {
            "matchExpressions": [{"key": "at", "operator": "In", "values": ["site-0", "site-1"]}]
        },
        "weights": [
            {"selector": {"matchLabels": {"at": "site-0"}}, "weight": 2},
            {"selector": {"matchLabels": {"at": "site-1"}}, "weight": 1},
        ],
    }
    edge.fleet.ok("POST", "/applications", kube_app(app, [deployment(app, 1)], placement))
    wait_for(lambda: ready_at(edge.fleet, app, {"site-0": 2, "site-1": 1}), "2:1 ready", 90)
    for site, replicas in (("site-0", 2), ("site-1", 1)):
        cluster = edge.clusters[site]
        assert deployment_of(cluster, app, app)["spec"]["replicas"] == replicas  # type: ignore[index]
        assert len(running_pods(cluster, app, app)) == replicas


BAD = [
    pytest.param(
        "bad-kind",
        {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}},
        "Widget",
        id="unknown-kind",
    ),
    pytest.param(
        "bad-field",
        deployment("web", replicas=-1),
        "must be greater than or equal to 0",
        id="invalid-field",
    ),
]


@pytest.mark.parametrize(("app", "bad", "said"), BAD)
def test_a_bad_manifest_gives_the_apiservers_message_and_applies_nothing(
    edge: Edge, app: str, bad: dict[str, Any], said: str
) -> None:
    site = "site-1"
    cluster = edge.clusters[site]
    manifests = [config_map(f"{app}-before"), bad, config_map(f"{app}-after")]
    edge.fleet.ok("POST", "/applications", kube_app(app, manifests, at("at", site)))
    status = wait_for(
        lambda: saying(edge.fleet, app, site, said),
        f"the apiserver's message ({said!r}) in the assignment's status",
        60,
    )
    assert said in status.get("message", ""), status
    assert status["phase"] != "Running", status
    for name in (f"{app}-before", f"{app}-after"):
        assert read(cluster, f"/api/v1/namespaces/{app}/configmaps/{name}") is None
    assert deployment_of(cluster, app, "web") is None
