"""The harness's node pools cut off for real: what test_node_pools' "pods kept" rests on.

Cutting a pool off (its KWOK process stopped) must make its nodes NotReady and tainted
unreachable, and the cluster must then evict pods WITHOUT the unreachable toleration,
else keeping pods WITH it would prove nothing.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from functools import partial
from typing import Any

import pytest

from hack.kube.cluster import POOL_LABEL, Cluster
from tests.support.fleet import wait_for
from tests.support.kube import deployment, pods, running_pods

POOL = "pool-b"
NAMESPACE = "harness-cut"
UNREACHABLE = [
    {"key": f"node.kubernetes.io/{key}", "operator": "Exists", "effect": "NoExecute"}
    for key in ("unreachable", "not-ready")
]


def pinned(name: str, tolerations: list[dict[str, Any]]) -> dict[str, Any]:
    obj = deployment(name, 2)
    spec = obj["spec"]["template"]["spec"]
    spec["nodeSelector"] = {POOL_LABEL: POOL}
    spec["tolerations"] = tolerations
    return obj


@pytest.fixture
def central(kube_fleet: list[Cluster]) -> Iterator[Cluster]:
    cluster = next(c for c in kube_fleet if c.pools)
    cluster.request("POST", "/api/v1/namespaces", {"metadata": {"name": NAMESPACE}})
    yield cluster
    cluster.request("DELETE", f"/api/v1/namespaces/{NAMESPACE}")


def two_running(cluster: Cluster, app: str) -> bool:
    return len(running_pods(cluster, NAMESPACE, app)) == 2


def evicted(cluster: Cluster, app: str, uids: set[str]) -> bool:
    found = pods(cluster, NAMESPACE, app)
    return all(u not in found or found[u]["metadata"].get("deletionTimestamp") for u in uids)


def test_a_cut_off_pool_evicts_only_pods_without_the_unreachable_toleration(
    central: Cluster,
) -> None:
    for name, tolerations in (("bare", []), ("tolerant", UNREACHABLE)):
        path = f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments"
        central.request("POST", path, pinned(name, tolerations))
    for name in ("bare", "tolerant"):
        wait_for(partial(two_running, central, name), f"{name} runs")
    bare, tolerant = (set(running_pods(central, NAMESPACE, n)) for n in ("bare", "tolerant"))

    started = time.monotonic()
    central.cut_off(POOL)
    try:
        wait_for(
            lambda: not any(central.node_ready(n) for n in central.pool_nodes(POOL)),
            f"{POOL}'s nodes NotReady",
            60,
        )
        not_ready = time.monotonic() - started
        wait_for(lambda: evicted(central, "bare", bare), "pods without the toleration evicted", 90)
        kept = pods(central, NAMESPACE, "tolerant")
        assert set(kept) == tolerant
        assert not [u for u, p in kept.items() if p["metadata"].get("deletionTimestamp")]
    finally:
        central.reconnect(POOL)
    # The grace period is 8 s (after the last lease renewal): NotReady well before the
    # default 40 s.
    assert not_ready < 30, not_ready
    wait_for(partial(two_running, central, "bare"), "bare replaced", 60)
    assert set(running_pods(central, NAMESPACE, "tolerant")) == tolerant
