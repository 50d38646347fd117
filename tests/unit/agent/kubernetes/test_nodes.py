"""nodes: a site's capacity, allocatable and inventory from its nodes and pods, requests
counted as the scheduler counts them, and the tolerations a pool's taints call for."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgeplane.agent.runtimes.kubernetes.nodes import (
    ClusterFacts,
    cluster_facts,
    pod_requests,
    pool_tolerations,
)

GI = 2**30
MI = 2**20


def node(
    name: str,
    cpu: str = "4",
    memory: str = "8Gi",
    *,
    ready: bool = True,
    cordoned: bool = False,
    kubelet: str = "v1.33.1",
    arch: str = "amd64",
    extra: dict[str, str] | None = None,
    labels: dict[str, str] | None = None,
    taints: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    condition = {"type": "Ready", "status": "True" if ready else "Unknown"}
    return {
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {"unschedulable": True} if cordoned else {"taints": taints or []},
        "status": {
            "allocatable": {"cpu": cpu, "memory": memory, "pods": "110", **(extra or {})},
            "conditions": [{"type": "MemoryPressure", "status": "False"}, condition],
            "nodeInfo": {"kubeletVersion": kubelet, "architecture": arch},
        },
    }


def container(cpu: str | None = None, memory: str | None = None, **more: Any) -> dict[str, Any]:
    requests = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v is not None}
    return {"name": "c", "resources": {"requests": requests}, **more}


def pod(
    on: str | None,
    *containers: dict[str, Any],
    phase: str = "Running",
    init: list[dict[str, Any]] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {"containers": list(containers), "initContainers": init or [], **spec}
    if on is not None:
        body["nodeName"] = on
    return {"metadata": {"name": "p"}, "spec": body, "status": {"phase": phase}}


def room(cpu_millis: int, memory_bytes: int) -> dict[str, str]:
    return {"cpu": f"{cpu_millis}m", "memory": f"{memory_bytes // 1024}Ki"}


FACTS = [
    (
        [node("a"), node("b")],
        [],
        room(8000, 16 * GI),
        room(8000, 16 * GI),
        (2, 2),
    ),
    (
        [node("a"), node("b", ready=False), node("c", cordoned=True)],
        [],
        room(4000, 8 * GI),
        room(4000, 8 * GI),
        (3, 2),
    ),
    (
        [node("a", "3800m", "7Gi"), node("b", ready=False)],
        [
            pod("a", container("500m", "256Mi")),
            pod("a", container("1"), phase="Succeeded"),
            pod("a", container("1"), phase="Failed"),
            pod("b", container("1")),
            pod(None, container("1"), phase="Pending"),
            pod("a", container("250m", "256Mi"), phase="Pending"),
        ],
        room(3800, 7 * GI),
        room(3050, 7 * GI - 512 * MI),
        (2, 1),
    ),
    (
        [node("a", "1", "1Gi")],
        [pod("a", container("3", "4Gi"))],
        room(1000, GI),
        room(0, 0),
        (1, 1),
    ),
    ([], [], room(0, 0), room(0, 0), (0, 0)),
]


@pytest.mark.parametrize(
    ("nodes", "pods", "capacity", "allocatable", "counts"),
    FACTS,
    ids=[
        "two-ready-nodes",
        "not-ready-and-cordoned-add-no-room",
        "unfinished-pods-on-usable-nodes-subtract",
        "overcommitted-floors-at-zero",
        "no-nodes",
    ],
)
def test_capacity_and_allocatable(
    nodes: list[dict[str, Any]],
    pods: list[dict[str, Any]],
    capacity: dict[str, str],
    allocatable: dict[str, str],
    counts: tuple[int, int],
) -> None:
    facts = cluster_facts(nodes, pods)
    assert (facts.capacity, facts.allocatable) == (capacity, allocatable)
    assert (facts.nodes, facts.ready_nodes) == counts


SIDECAR = {"restartPolicy": "Always"}
REQUESTS = [
    (pod("a", container("100m", "64Mi"), container("200m", "64Mi")), (300, 128 * MI)),
    (pod("a", container("100m"), init=[container("1", "1Gi")]), (1000, GI)),
    (
        pod("a", container("100m"), init=[container("50m", **SIDECAR), container("500m")]),
        (550, 0),
    ),
    (
        pod("a", container("100m"), init=[container("500m"), container("50m", **SIDECAR)]),
        (500, 0),
    ),
    (
        pod("a", container("100m"), init=[container("80m", **SIDECAR)]),
        (180, 0),
    ),
    (pod("a", container("100m", "1Mi"), overhead={"cpu": "10m", "memory": "1Mi"}), (110, 2 * MI)),
    (
        pod("a", container("100m", "1Mi"), resources={"requests": {"cpu": "2"}}),
        (2000, MI),
    ),
    (pod("a", container()), (0, 0)),
    (pod("a", container("0.1", "1e3")), (100, 1000)),
    (pod("a", container("lots", "1e99")), (0, 0)),
    ({"spec": {"containers": "x"}}, (0, 0)),
    ({"spec": {"containers": [{"resources": "x"}, "y"]}}, (0, 0)),
]


@pytest.mark.parametrize(
    ("pod_", "requests"),
    REQUESTS,
    ids=[
        "containers-sum",
        "init-container-larger",
        "sidecar-then-init",
        "init-then-sidecar",
        "sidecar-runs-beside",
        "overhead-added",
        "pod-level-requests-win",
        "no-requests",
        "decimal-forms",
        "unparseable-quantities",
        "containers-not-a-list",
        "containers-malformed",
    ],
)
def test_pod_requests_as_the_scheduler_counts(
    pod_: dict[str, Any], requests: tuple[int, int]
) -> None:
    assert pod_requests(pod_) == requests


@pytest.mark.parametrize(
    ("kubelets", "server", "version"),
    [
        (["v1.33.1", "v1.33.1", "v1.32.0"], "v1.34.0", "v1.33.1"),
        (["v1.32.0", "v1.33.1"], None, "v1.33.1"),
        (["v1.9.0", "v1.10.0"], None, "v1.10.0"),
        (["v1.30.2+k3s1"], None, "v1.30.2+k3s1"),
        (["fake", "", "v1.33.1\n"], "v1.34.0", "v1.34.0"),
        ([], "not a version", None),
        ([], None, None),
    ],
    ids=[
        "most-common",
        "tie-newest",
        "tie-numeric",
        "k3s-suffix",
        "server-fallback",
        "junk",
        "none",
    ],
)
def test_kubernetes_version(kubelets: list[str], server: str | None, version: str | None) -> None:
    nodes = [node(f"n{i}", kubelet=k) for i, k in enumerate(kubelets)]
    assert cluster_facts(nodes, [], server).kubernetes_version == version


def test_architectures() -> None:
    nodes = [
        node("a", arch="arm64"),
        node("b", arch="amd64"),
        node("c", arch="", labels={"kubernetes.io/arch": "arm"}),
        node("d", arch="x86 64!"),
        node("e", arch="amd64", ready=False),
    ]
    assert cluster_facts(nodes, []).architectures == ("amd64", "arm", "arm64")


PRODUCT = {"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-40GB"}
ACCELERATORS = [
    (
        [
            node("a", extra={"nvidia.com/gpu": "2"}, labels=PRODUCT),
            node("b", extra={"nvidia.com/gpu": "2"}, labels=PRODUCT),
        ],
        [{"type": "gpu", "vendor": "nvidia", "count": 4, "model": "NVIDIA-A100-SXM4-40GB"}],
    ),
    (
        [
            node(
                "a",
                extra={
                    "amd.com/gpu": "1",
                    "gpu.intel.com/i915": "3",
                    "google.com/tpu": "4",
                    "example.com/npu-v2": "1",
                },
            )
        ],
        [
            {"type": "gpu", "vendor": "amd", "count": 1},
            {"type": "gpu", "vendor": "intel", "count": 3},
            {"type": "npu", "vendor": "example", "count": 1},
            {"type": "tpu", "vendor": "google", "count": 4},
        ],
    ),
    (
        [
            node(
                "a",
                extra={
                    "hugepages-2Mi": "0",
                    "example.com/fpga": "1",
                    "nvidia.com/mig-1g.5gb": "7",
                    "gpu.kubernetes.io/x": "1",
                    "nvidia.com/gpu": "0",
                    "amd.com/gpu": "1.5",
                },
            ),
            node("b", ready=False, extra={"nvidia.com/gpu": "8"}),
        ],
        [],
    ),
]


@pytest.mark.parametrize(
    ("nodes", "accelerators"),
    ACCELERATORS,
    ids=["nvidia-summed-with-model", "vendors-and-types", "not-accelerators-or-not-usable"],
)
def test_accelerators(nodes: list[dict[str, Any]], accelerators: list[dict[str, Any]]) -> None:
    assert list(cluster_facts(nodes, []).accelerators) == accelerators


def taint(key: Any, effect: Any, value: Any = None) -> dict[str, Any]:
    return {"key": key, "effect": effect, **({} if value is None else {"value": value})}


TOLERATIONS = [
    (
        [[taint("edge", "NoSchedule")], [taint("edge", "NoSchedule")]],
        [{"key": "edge", "operator": "Exists", "effect": "NoSchedule"}],
    ),
    (
        [[taint("dedicated", "NoExecute", "pool-a"), taint("edge", "PreferNoSchedule")]],
        [
            {"key": "dedicated", "operator": "Equal", "value": "pool-a", "effect": "NoExecute"},
            {"key": "edge", "operator": "Exists", "effect": "PreferNoSchedule"},
        ],
    ),
    (
        [
            [
                taint("node.kubernetes.io/unreachable", "NoExecute"),
                taint("node.kubernetes.io/unschedulable", "NoSchedule"),
                taint("node.kubernetes.io/not-ready", "NoSchedule"),
                taint("node.cloudprovider.kubernetes.io/uninitialized", "NoSchedule", "true"),
                taint("ToBeDeletedByClusterAutoscaler", "NoSchedule", "1764540000"),
            ]
        ],
        [],
    ),
    (
        [[taint("edge", "Sometimes"), taint("bad key!", "NoSchedule"), taint(["x"], "NoSchedule")]],
        [],
    ),
    ([[taint("a", "NoSchedule", 5), "not a taint"]], []),
]


@pytest.mark.parametrize(
    ("taints", "tolerations"),
    TOLERATIONS,
    ids=[
        "one-per-distinct-taint",
        "equal-on-value",
        "lifecycle-and-transient-taints-left-out",
        "malformed",
        "junk",
    ],
)
def test_pool_tolerations(taints: list[list[Any]], tolerations: list[dict[str, Any]]) -> None:
    nodes = [node(f"n{i}", taints=t) for i, t in enumerate(taints)]
    assert list(pool_tolerations(nodes)) == tolerations


def test_pool_tolerations_skip_unreadable_nodes() -> None:
    nodes: list[Any] = ["x", {"spec": "y"}, {"spec": {"taints": {"key": "a"}}}]
    assert pool_tolerations(nodes) == ()


HUGE = 10**5000


def test_hostile_nodes_add_no_room_and_never_raise() -> None:
    nodes: list[Any] = [
        "not a node",
        {"status": "x"},
        {"metadata": {"name": "n"}, "status": {"conditions": {"Ready": True}}},
        node("big", cpu="1e99999", memory=HUGE),  # type: ignore[arg-type]
        node("ok", cpu="2", memory="1Gi", kubelet=HUGE),  # type: ignore[arg-type]
        {**node("nameless"), "metadata": {"name": 7}},
    ]
    pods: list[Any] = ["x", {"spec": {"nodeName": ["ok"]}}, pod("ok", container("1", "512Mi"))]
    facts = cluster_facts(nodes, pods, server_version=HUGE)  # type: ignore[arg-type]
    assert facts == ClusterFacts(
        capacity=room(2000, GI),
        allocatable=room(1000, 512 * MI),
        nodes=6,
        ready_nodes=3,
        kubernetes_version="v1.33.1",
        architectures=("amd64",),
        accelerators=(),
    )


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.builds(lambda: HUGE)  # built, not st.just: hypothesis cannot repr it
    | st.text(max_size=8)
    | st.sampled_from(["True", "Ready", "1", "2Gi", "nvidia.com/gpu", "Always", "NoSchedule"]),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=12,
)
PATHS = st.sampled_from(
    [
        ("status",),
        ("status", "allocatable"),
        ("status", "conditions"),
        ("status", "nodeInfo"),
        ("spec",),
        ("spec", "taints"),
        ("spec", "containers"),
        ("spec", "initContainers"),
        ("spec", "overhead"),
        ("spec", "nodeName"),
        ("metadata",),
        ("metadata", "labels"),
    ]
)


def _spoil(obj: dict[str, Any], changes: list[tuple[tuple[str, ...], Any]]) -> dict[str, Any]:
    for path, value in changes:
        target: Any = obj
        for key in path[:-1]:
            target = target.get(key) if isinstance(target, dict) else None
        if isinstance(target, dict):
            target[path[-1]] = value
    return obj


@settings(max_examples=200, deadline=None)
@given(
    node_changes=st.lists(st.tuples(PATHS, JSON), max_size=4),
    pod_changes=st.lists(st.tuples(PATHS, JSON), max_size=4),
)
def test_cluster_facts_never_raise(
    node_changes: list[tuple[tuple[str, ...], Any]], pod_changes: list[tuple[tuple[str, ...], Any]]
) -> None:
    nodes = [_spoil(node("a", taints=[taint("t", "NoSchedule")]), node_changes), node("b")]
    pods = [_spoil(pod("a", container("1", "1Gi")), pod_changes)]
    facts = cluster_facts(nodes, pods, "v1.33.0")
    assert facts.nodes == 2 and 1 <= facts.ready_nodes <= 2
    assert facts.capacity["cpu"].endswith("m") and facts.allocatable["memory"].endswith("Ki")
    assert all(t["operator"] in ("Exists", "Equal") for t in pool_tolerations(nodes))
