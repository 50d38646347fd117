"""Issue 10's evidence for node pools of a central cluster: sites ``pool-a`` and
``pool-b`` are pools of the cluster ``central`` (one agent each, ``--node-pool
edgeplane.io/pool=<pool>``). A pool is cut off for real: its KWOK process stops, its
nodes' leases lapse, the node lifecycle controller marks them Unknown and taints them
unreachable (see hack/kube/cluster.py)."""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Any

from hack.kube.cluster import POOL_LABEL, Cluster
from tests.k8s.conftest import POOLS, Edge
from tests.support.fleet import wait_for
from tests.support.kube import at, deployment, kube_app, pods, read, ready_at, running_pods


def pool_of(cluster: Cluster, node: str) -> str:
    found = read(cluster, f"/api/v1/nodes/{node}")
    assert found is not None, node
    return str(found["metadata"]["labels"][POOL_LABEL])


def tainted_since(cluster: Cluster, pool: str) -> float | None:
    """When the last of ``pool``'s nodes was tainted unreachable (NoExecute), as a
    time.time(); None while one is not."""
    times = []
    for node in cluster.pool_nodes(pool):
        taints = (read(cluster, f"/api/v1/nodes/{node}") or {}).get("spec", {}).get("taints")
        added = [
            t.get("timeAdded")
            for t in taints or []
            if t["key"] == "node.kubernetes.io/unreachable" and t["effect"] == "NoExecute"
        ]
        if not added or not added[0]:
            return None
        times.append(datetime.fromisoformat(added[0].replace("Z", "+00:00")).timestamp())
    return max(times)


def site_status(edge: Edge, site: str) -> dict[str, Any]:
    return dict(edge.fleet.ok("GET", f"/sites/{site}").get("status") or {})


def test_a_pool_application_runs_on_its_pools_nodes_only(edge: Edge) -> None:
    app = "pinned"
    placement = at("shape", "pool")
    edge.fleet.ok("POST", "/applications", kube_app(app, [deployment(app, 2)], placement))
    wait_for(lambda: ready_at(edge.fleet, app, dict.fromkeys(POOLS, 2)), "pinned at both pools", 90)
    for pool in POOLS:
        nodes = running_pods(edge.central, f"{app}-{pool}", app).values()
        assert sorted(pool_of(edge.central, n) for n in nodes) == [pool, pool]
    inventory = site_status(edge, POOLS[0]).get("inventory") or {}
    assert inventory.get("runtime") == "kubernetes"
    assert inventory.get("nodes") == 2 and inventory.get("readyNodes") == 2, inventory


def test_a_pool_cut_off_keeps_its_pods_and_its_application_moves(edge: Edge) -> None:
    app, central = "roam", edge.central
    placement = at("shape", "pool", mode="Replicas", replicas=1)
    body = kube_app(app, [deployment(app, 2)], placement, failover={"afterSeconds": 1})
    edge.fleet.ok("POST", "/applications", body)
    first = wait_for(
        lambda: next((p for p in POOLS if ready_at(edge.fleet, app, {p: 2})), None),
        "roam ready at one pool",
        90,
    )
    other = next(p for p in POOLS if p != first)
    namespace = f"{app}-{first}"
    before = running_pods(central, namespace, app)
    assert len(before) == 2

    central.cut_off(first)
    try:
        wait_for(lambda: edge.fleet.site_phase(first) == "Offline", f"{first} Offline", 60)
        assert "NodesNotReady" in json.dumps(site_status(edge, first))
        wait_for(lambda: ready_at(edge.fleet, app, {other: 2}), f"roam moved to {other}", 90)
        # Pods without the unreachable toleration are evicted this long after the taint
        # (the harness's --default-unreachable-toleration-seconds); wait it out twice.
        grace = float(central.node_grace_seconds or 0)
        since = wait_for(lambda: tainted_since(central, first), f"{first} tainted", 60)
        wait_for(lambda: time.time() > since + 2 * grace, "twice the toleration", 60)
        kept = pods(central, namespace, app)
        assert set(kept) == set(before), "pods on the cut-off pool were replaced"
        assert not [u for u, p in kept.items() if p["metadata"].get("deletionTimestamp")]
    finally:
        central.reconnect(first)
    wait_for(lambda: edge.fleet.site_phase(first) == "Online", f"{first} Online again", 60)
    # The held removal goes ahead once the pool is back: the application is at `other`.
    wait_for(lambda: not pods(central, namespace, app), f"roam removed from {first}", 60)
    assert ready_at(edge.fleet, app, {other: 2})
