"""The CPU of an assignment's pods (``runtimes.kubernetes.usage``): PodMetrics and pods
as the cluster returns them, as plain dicts: only Ready pods with metrics count, each
with its containers' usage and requests summed; and a cluster without the metrics API
gives nothing, said once. (The runtime's side: ``test_runtime``.)"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from edgeplane.agent.runtimes import CpuUse
from edgeplane.agent.runtimes.kubernetes.client import KubeError, KubeUnreachable
from edgeplane.agent.runtimes.kubernetes.usage import POD_METRICS, PodCpu, pod_cpu


def pod(
    name: str,
    requests: list[str | None] | None = None,
    *,
    ready: bool = True,
    phase: str = "Running",
    deleting: bool = False,
) -> dict[str, Any]:
    containers = [
        {"name": f"c{i}", "resources": {"requests": {"cpu": cpu}} if cpu else {}}
        for i, cpu in enumerate(requests or ["250m"])
    ]
    meta: dict[str, Any] = {"name": name, "namespace": "shop"}
    if deleting:
        meta["deletionTimestamp"] = "2030-01-01T00:00:00Z"
    return {
        "metadata": meta,
        "spec": {"containers": containers},
        "status": {
            "phase": phase,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def metrics(name: str, *usage: Any, namespace: str = "shop") -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": namespace},
        "window": "15s",
        "containers": [{"name": f"c{i}", "usage": {"cpu": u}} for i, u in enumerate(usage)],
    }


@pytest.mark.parametrize(
    ("pods", "measured", "uses"),
    [
        ([pod("a")], [metrics("a", "125000000n")], [CpuUse(0.125, 0.25)]),
        (
            [pod("a", ["250m", "750m"])],
            [metrics("a", "100m", "400m")],
            [CpuUse(0.5, 1.0)],
        ),
        ([pod("a", ["250m", None])], [metrics("a", "100m", "0")], [CpuUse(0.1, None)]),
        ([pod("a", ["0"])], [metrics("a", "1")], [CpuUse(1.0, None)]),
        ([pod("a", ready=False)], [metrics("a", "1")], []),
        ([pod("a", phase="Pending")], [metrics("a", "1")], []),
        ([pod("a", deleting=True)], [metrics("a", "1")], []),
        ([pod("a"), pod("b")], [metrics("b", "50m")], [CpuUse(0.05, 0.25)]),
        ([pod("a")], [metrics("a", "1", namespace="other")], []),
        ([pod("a")], [metrics("a", "lots")], []),
        ([pod("a")], [metrics("a", "1", None)], []),
        ([pod("a")], [{"metadata": {"name": "a", "namespace": "shop"}, "containers": "x"}], []),
        ([{"metadata": "?", "status": []}], [metrics("a", "1")], []),
    ],
    ids=[
        "nanocores",
        "containers-summed",
        "a-container-without-request",
        "zero-request",
        "not-ready",
        "not-running",
        "being-deleted",
        "no-metrics-yet",
        "other-namespace",
        "bad-quantity",
        "a-container-without-usage",
        "containers-not-a-list",
        "odd-pod",
    ],
)
def test_ready_pods_with_metrics_count(
    pods: list[dict[str, Any]], measured: list[dict[str, Any]], uses: list[CpuUse]
) -> None:
    assert list(pod_cpu(pods, measured)) == uses


class Cluster:
    """The two lists ``PodCpu`` makes; ``refusal`` is what the metrics list raises."""

    def __init__(self, refusal: KubeError | None = None) -> None:
        self.refusal = refusal
        self.lists: list[tuple[str, str, str | None, str | None]] = []

    async def list(
        self,
        api_version: str,
        kind: str,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
    ) -> list[dict[str, Any]]:
        self.lists.append((api_version, kind, namespace, label_selector))
        if (api_version, kind) == POD_METRICS:
            if self.refusal is not None:
                raise self.refusal
            return [metrics("a", "200m")]
        return [pod("a")]


async def test_each_assignments_pods_are_read_in_its_namespaces() -> None:
    cluster = Cluster()
    uses = await PodCpu(cluster).sample({"web-s1": {"shop"}})  # type: ignore[arg-type]
    assert uses == {"web-s1": (CpuUse(0.2, 0.25),)}
    selector = "edgeplane.io/assignment=web-s1"
    assert cluster.lists == [(*POD_METRICS, "shop", selector), ("v1", "Pod", "shop", selector)]


NOT_SERVED = KubeError(404, "NotFound", "the cluster has no kind PodMetrics")


@pytest.mark.parametrize(
    ("refusal", "said"),
    [
        (NOT_SERVED, "does not serve metrics.k8s.io/v1beta1"),
        (KubeError(403, "Forbidden", "podmetrics is forbidden"), "podmetrics is forbidden"),
        (KubeUnreachable("connection refused"), None),
    ],
    ids=["not-served", "forbidden", "unreachable"],
)
async def test_without_the_metrics_api_nothing_and_it_is_said_once(
    refusal: KubeError, said: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    cluster = Cluster(refusal)
    meter = PodCpu(cluster)  # type: ignore[arg-type]
    for _ in range(3):
        assert await meter.sample({"web-s1": {"shop"}}) == {}
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == (1 if said else 0)
    assert said is None or said in warnings[0]
    cluster.refusal = None
    assert await meter.sample({"web-s1": {"shop"}}) != {}
    cluster.refusal = refusal
    await meter.sample({"web-s1": {"shop"}})
    assert len([r for r in caplog.records if r.levelno >= logging.WARNING]) == 2 * len(warnings)
