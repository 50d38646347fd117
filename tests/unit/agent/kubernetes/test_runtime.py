"""KubernetesRuntime against a fake cluster: what it applies (with render and the
pool's namespaces), the statuses it makes of apply outcomes and of the objects it reads
back, removals held while a pool has no Ready node, and adoption after a restart.

The apply engine is replaced by a recorder here (it has tests of its own); what the
runtime gives it and makes of its outcome is what is tested. The real cluster is in
tests/k8s/test_agent_kubernetes.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from edgeplane.agent.runtimes import CpuUse, InstanceSpec, Phase
from edgeplane.agent.runtimes.kubernetes import runtime as runtime_module
from edgeplane.agent.runtimes.kubernetes.apply import ApplyOutcome
from edgeplane.agent.runtimes.kubernetes.client import (
    KubeError,
    KubeUnreachable,
    ObjectRef,
    ResourceInfo,
)
from edgeplane.agent.runtimes.kubernetes.facts import ClusterView
from edgeplane.agent.runtimes.kubernetes.instances import crd_kinds
from edgeplane.agent.runtimes.kubernetes.pool import KubeSettings, pool_namespace
from edgeplane.agent.runtimes.kubernetes.runtime import KubernetesRuntime

SCOPES = {
    ("v1", "Namespace"): False,
    ("v1", "ConfigMap"): True,
    ("v1", "Service"): True,
    ("v1", "Pod"): True,
    ("apps/v1", "Deployment"): True,
}


def deployment(replicas: int = 2) -> dict[str, Any]:
    labels = {"app": "web"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "web", "image": "example.invalid/web:1"}]},
            },
        },
    }


def workload(*manifests: dict[str, Any], namespace: str = "shop") -> dict[str, Any]:
    return {
        "manifests": list(manifests) or [deployment()],
        "namespace": namespace,
        "force": False,
        "allowedNamespaces": [],
        "identity": {"site": "s1", "application": "web", "assignment": "web-s1", "revision": 3},
    }


def spec(generation: int = 1, **kw: Any) -> InstanceSpec:
    return InstanceSpec("web-s1", generation, workload(**kw))


def node(name: str, ready: bool) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": {"pool": "a"}},
        "spec": {},
        "status": {
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"},
            "capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"},
            "nodeInfo": {"architecture": "arm64", "kubeletVersion": "v1.37.2"},
        },
    }


Page = list[dict[str, Any]]


@dataclass
class FakeCluster:
    """The client calls the runtime makes itself (discovery, list, logs)."""

    objects: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    nodes: list[dict[str, Any]] = field(default_factory=list)
    down: bool = False
    lists: list[tuple[str, str, str | None, str | None]] = field(default_factory=list)
    forbidden: set[str] = field(default_factory=set)
    logs: dict[tuple[str, str], str] = field(default_factory=dict)
    closed: bool = False

    def _check(self) -> None:
        if self.down:
            raise KubeUnreachable("connection refused")

    async def resource(self, api_version: str, kind: str) -> ResourceInfo:
        self._check()
        if (api_version, kind) not in SCOPES:
            raise KubeError(
                404, "NotFound", f"the cluster has no kind {kind} in apiVersion {api_version}"
            )
        group, _, version = api_version.rpartition("/")
        namespaced = SCOPES[(api_version, kind)]
        return ResourceInfo(group, version, kind, kind.lower() + "s", namespaced)

    async def list(
        self,
        api_version: str,
        kind: str,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
    ) -> list[dict[str, Any]]:
        self._check()
        self.lists.append((api_version, kind, namespace, label_selector))
        if kind in self.forbidden:
            raise KubeError(403, "Forbidden", f"{kind.lower()}s is forbidden")
        if kind == "Node":
            return self.nodes
        return self.objects.get((api_version, kind), [])

    async def pages(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        label_selector: str | None = None,
    ) -> AsyncIterator[Page]:
        items = await self.list(
            api_version, kind, namespace=namespace, label_selector=label_selector
        )
        yield [{**i, "apiVersion": api_version, "kind": kind} for i in items]  # as the client

    async def pod_logs(
        self, namespace: str, pod: str, *, container: str | None = None, tail_lines: int = 100
    ) -> str:
        self._check()
        return self.logs[(pod, str(container))]

    async def server_version(self) -> str:
        return "v1.37.2"

    async def close(self) -> None:
        self.closed = True


@dataclass
class FakeApply:
    """Stands in for apply.py: records calls, answers with ``outcome``."""

    calls: list[dict[str, Any]] = field(default_factory=list)
    deleted: list[tuple[str, str]] = field(default_factory=list)
    outcome: ApplyOutcome = field(default_factory=lambda: ApplyOutcome((), (), (), None))
    inventories: dict[tuple[str, str], list[ObjectRef]] = field(default_factory=dict)
    cluster: FakeCluster | None = None

    async def apply_objects(self, client: Any, objects: list[dict[str, Any]], **kw: Any) -> Any:
        assert self.cluster is not None
        self.cluster._check()
        self.calls.append({"objects": objects, **kw})
        refs = [ObjectRef.of(o) for o in objects]
        self.inventories[(kw["assignment"], kw["namespace"])] = refs
        return self.outcome

    async def delete_objects(self, client: Any, *, assignment: str, namespace: str) -> None:
        assert self.cluster is not None
        self.cluster._check()
        self.deleted.append((assignment, namespace))
        self.inventories.pop((assignment, namespace), None)

    async def applied_refs(self, client: Any, *, assignment: str, namespace: str) -> Any:
        return self.inventories.get((assignment, namespace), [])


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def cluster() -> FakeCluster:
    return FakeCluster()


@pytest.fixture
def fake_apply(monkeypatch: pytest.MonkeyPatch, cluster: FakeCluster) -> Iterator[FakeApply]:
    fake = FakeApply(cluster=cluster)
    for name in ("apply_objects", "delete_objects", "applied_refs"):
        monkeypatch.setattr(runtime_module, name, getattr(fake, name))
    yield fake


def make(
    cluster: FakeCluster, tmp_path: Path, clock: Clock | None = None, **kw: Any
) -> KubernetesRuntime:
    settings = KubeSettings("s1", **kw)
    view = ClusterView(cluster, settings)  # type: ignore[arg-type]
    return KubernetesRuntime(
        cluster,  # type: ignore[arg-type]
        view,
        tmp_path / "kubernetes",
        clock=clock or Clock(),
    )


def ready_deployment(namespace: str, ready: int, wanted: int = 2) -> dict[str, Any]:
    return {
        "metadata": {"name": "web", "namespace": namespace, "generation": 1},
        "spec": {"replicas": wanted},
        "status": {
            "observedGeneration": 1,
            "replicas": wanted,
            "updatedReplicas": wanted,
            "readyReplicas": ready,
            "availableReplicas": ready,
            "conditions": [
                {
                    "type": "Available",
                    "status": "True" if ready == wanted else "False",
                    "reason": "MinimumReplicasAvailable",
                }
            ],
        },
    }


def in_cluster(cluster: FakeCluster, namespace: str, ready: int) -> None:
    cluster.objects[("v1", "Namespace")] = [{"metadata": {"name": namespace}}]
    cluster.objects[("apps/v1", "Deployment")] = [ready_deployment(namespace, ready)]


async def test_ensure_renders_and_applies_into_the_namespace(
    cluster: FakeCluster, fake_apply: FakeApply, tmp_path: Path
) -> None:
    runtime = make(cluster, tmp_path)
    await runtime.ensure(spec())
    [call] = fake_apply.calls
    assert (call["assignment"], call["namespace"]) == ("web-s1", "shop")
    assert (call["field_manager"], call["force"]) == ("edgeplane", False)
    kinds = [(o["kind"], o["metadata"].get("namespace")) for o in call["objects"]]
    assert kinds == [("Namespace", None), ("Deployment", "shop")]
    labels = call["objects"][1]["metadata"]["labels"]
    assert labels["edgeplane.io/assignment"] == "web-s1"
    assert labels["edgeplane.io/revision"] == "3"
    assert labels["app.kubernetes.io/managed-by"] == "edgeplane"
    status = runtime.statuses()["web-s1"]
    assert (status.phase, status.reason, status.ready) == (Phase.STARTING, "Applying", False)


async def test_statuses_follow_the_objects_read_back(
    cluster: FakeCluster, fake_apply: FakeApply, tmp_path: Path
) -> None:
    runtime = make(cluster, tmp_path)
    await runtime.ensure(spec())
    in_cluster(cluster, "shop", ready=1)
    runtime.changed().clear()
    await runtime.poll()
    status = runtime.statuses()["web-s1"]
    assert status.phase is Phase.STARTING and status.ready_count == 1
    assert status.message is not None and "Deployment shop/web" in status.message
    assert runtime.changed().is_set()
    # Read in the namespace it uses: objects labelled alike elsewhere cost nothing.
    assert ("apps/v1", "Deployment", "shop", "app.kubernetes.io/managed-by=edgeplane") in (
        cluster.lists
    )
    in_cluster(cluster, "shop", ready=2)
    await runtime.poll()
    status = runtime.statuses()["web-s1"]
    assert (status.phase, status.ready, status.ready_count) == (Phase.RUNNING, True, 2)


async def test_an_object_not_in_the_cluster_is_in_progress(
    cluster: FakeCluster, fake_apply: FakeApply, tmp_path: Path
) -> None:
    runtime = make(cluster, tmp_path)
    await runtime.ensure(spec())
    await runtime.poll()
    status = runtime.statuses()["web-s1"]
    assert status.phase is Phase.STARTING
    assert status.message is not None and "not in the cluster" in status.message


async def test_a_kind_the_cluster_will_not_list_says_why(
    cluster: FakeCluster, fake_apply: FakeApply, tmp_path: Path
) -> None:
    runtime = make(cluster, tmp_path)
    await runtime.ensure(spec())
    in_cluster(cluster, "shop", ready=2)
    cluster.forbidden = {"Deployment"}
    await runtime.poll()
    status = runtime.statuses()["web-s1"]
    assert status.phase is Phase.STARTING
    assert status.message == "Deployment shop/web: not read: deployments is forbidden"


async def test_the_same_generation_is_not_applied_again(
    cluster: FakeCluster, fake_apply: FakeApply, tmp_path: Path
) -> None:
    runtime = make(cluster, tmp_path)
    await runtime.ensure(spec())
    await runtime.ensure(spec())
    await runtime.poll()
    assert len(fake_apply.calls) == 1
    await runtime.ensure(spec(generation=2))
    assert len(fake_apply.calls) == 2


@pytest.mark.parametrize(
    ("outcome", "reason", "text"),
    [
        (
            ApplyOutcome((), (), (), "Deployment shop/web: spec.replicas: Invalid value: -1"),
            "ApplyFailed",
            "Invalid value: -1",
        ),
        (
            ApplyOutcome(
                (),
                (),
                ("ConfigMap shop/cfg: .data.color is owned by kubectl (set force)",),
                None,
            ),
            "FieldConflict",
            ".data.color is owned by kubectl",
        ),
    ],
    ids=["apiserver-refusal", "conflict"],
)
async def test_apply_outcomes_become_the_status(
    cluster: FakeCluster,
    fake_apply: FakeApply,
    tmp_path: Path,
    outcome: ApplyOutcome,
    reason: str,
    text: str,
) -> None:
    fake_apply.outcome = outcome
    runtime = make(cluster, tmp_path)
    await runtime.ensure(spec())
    status = runtime.statuses()["web-s1"]
    assert (status.phase, status.reason) == (Phase.FAILED, reason)
    assert status.message is not None and text in status.message


async def test_an_unknown_kind_is_an_invalid_manifest_and_nothing_is_applied(
    cluster: FakeCluster, fake_apply: FakeApply, tmp_path: Path
) -> None:
    widget = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    runtime = make(cluster, tmp_path)
    await runtime.ensure(InstanceSpec("web-s1", 1, workload(deployment(), widget)))
    status = runtime.statuses()["web-s1"]
    assert (status.phase, status.reason) == (Phase.FAILED, "InvalidManifest")
    assert status.message == (
        "manifests[1] (Widget w): the cluster has no kind Widget in apiVersion example.com/v1"
    )
    assert fake_apply.calls == []


async def test_a_crd_among_the_manifests_is_not_discovered() -> None:
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "names": {"kind": "Widget", "plural": "widgets"},
            "scope": "Namespaced",
            "versions": [{"name": "v1"}, {"name": "v2"}],
        },
    }
    assert crd_kinds([crd, deployment(), "junk"]) == {
        ("example.com/v1", "Widget"),
        ("example.com/v2", "Widget"),
    }


async def test_an_unreachable_cluster_is_pending_and_retried_when_due(
    cluster: FakeCluster, fake_apply: FakeApply, tmp_path: Path
) -> None:
    clock = Clock()
    runtime = make(cluster, tmp_path, clock)
    cluster.down = True
    await runtime.ensure(spec())
    status = runtime.statuses()["web-s1"]
    assert (status.phase, status.reason) == (Phase.PENDING, "ClusterUnreachable")
    cluster.down = False
    await runtime.poll()  # not due yet
    assert fake_apply.calls == []
    clock.now += 2.0
    await runtime.poll()
    assert len(fake_apply.calls) == 1
    assert runtime.statuses()["web-s1"].reason != "ClusterUnreachable"


async def test_remove_deletes_what_the_assignment_applied(
    cluster: FakeCluster, fake_apply: FakeApply, tmp_path: Path
) -> None:
    runtime = make(cluster, tmp_path)
    await runtime.ensure(spec())
    await runtime.remove("web-s1")
    assert fake_apply.deleted == [("web-s1", "shop")]
    assert runtime.keys() == set() and runtime.statuses() == {}
    assert list((tmp_path / "kubernetes" / "instances").glob("*.json")) == []


async def test_a_pool_gets_its_own_namespace_manager_and_selector(
    cluster: FakeCluster, fake_apply: FakeApply, tmp_path: Path
) -> None:
    cluster.nodes = [node("n1", ready=True)]
    runtime = make(cluster, tmp_path, pool=("pool", "a"))
    await runtime.ensure(spec())
    [call] = fake_apply.calls
    assert (call["namespace"], call["field_manager"]) == ("shop-s1", "edgeplane-s1")
    pod = call["objects"][1]["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"pool": "a"}
    assert {t["key"] for t in pod["tolerations"]} >= {
        "node.kubernetes.io/unreachable",
        "node.kubernetes.io/not-ready",
    }
    assert ("v1", "Node", None, "pool=a") in cluster.lists
    await runtime.poll()
    selectors = {s for (_, kind, _, s) in cluster.lists if kind == "Deployment"}
    assert selectors == {"app.kubernetes.io/managed-by=edgeplane,edgeplane.io/site=s1"}


async def test_removals_wait_while_the_pool_has_no_ready_node(
    cluster: FakeCluster, fake_apply: FakeApply, tmp_path: Path
) -> None:
    cluster.nodes = [node("n1", ready=True)]
    runtime = make(cluster, tmp_path, pool=("pool", "a"))
    await runtime.ensure(spec())
    cluster.nodes = [node("n1", ready=False)]
    await runtime.view.refresh()
    await runtime.remove("web-s1")
    await runtime.poll()
    assert fake_apply.deleted == [] and runtime.keys() == {"web-s1"}
    cluster.nodes = [node("n1", ready=True)]
    await runtime.view.refresh()
    await runtime.poll()
    assert fake_apply.deleted == [("web-s1", "shop-s1")]
    assert runtime.keys() == set()


async def test_a_whole_cluster_never_holds_removals(
    cluster: FakeCluster, fake_apply: FakeApply, tmp_path: Path
) -> None:
    runtime = make(cluster, tmp_path)
    await runtime.ensure(spec())
    cluster.nodes = [node("n1", ready=False)]
    await runtime.view.refresh()
    await runtime.remove("web-s1")
    assert fake_apply.deleted == [("web-s1", "shop")]


async def test_a_restarted_runtime_adopts_without_applying(
    cluster: FakeCluster, fake_apply: FakeApply, tmp_path: Path
) -> None:
    first = make(cluster, tmp_path)
    await first.ensure(spec())
    await first.close()
    assert cluster.closed
    in_cluster(cluster, "shop", ready=2)
    second = make(cluster, tmp_path)
    await second.start()
    try:
        assert second.keys() == {"web-s1"}
        await second.ensure(spec())
        await second.poll()  # learns the objects from the inventory
        await second.poll()
        assert len(fake_apply.calls) == 1
        status = second.statuses()["web-s1"]
        assert (status.phase, status.ready_count) == (Phase.RUNNING, 2)
    finally:
        await second.close()


async def test_a_record_of_an_unfinished_apply_is_applied_at_start(
    cluster: FakeCluster, fake_apply: FakeApply, tmp_path: Path
) -> None:
    cluster.down = True
    first = make(cluster, tmp_path)
    await first.ensure(spec())
    cluster.down = False
    second = make(cluster, tmp_path)
    for record in second._records.load_all():
        second._adopt(record)
    await second.poll()
    assert len(fake_apply.calls) == 1


async def test_the_instance_cap_refuses_one_more_assignment(
    cluster: FakeCluster, fake_apply: FakeApply, tmp_path: Path
) -> None:
    runtime = make(cluster, tmp_path, max_instances=1)
    await runtime.ensure(spec())
    with pytest.raises(ValueError, match="--max-instances"):
        await runtime.ensure(InstanceSpec("other", 1, workload()))


async def test_pod_logs_are_prefixed_with_pod_and_container(
    cluster: FakeCluster, fake_apply: FakeApply, tmp_path: Path
) -> None:
    pod = {
        "metadata": {"name": "web-1", "namespace": "shop"},
        "spec": {"containers": [{"name": "web"}, {"name": "side"}]},
    }
    cluster.objects[("v1", "Pod")] = [pod]
    cluster.logs = {("web-1", "web"): "a\nb\n", ("web-1", "side"): "c\n"}
    runtime = make(cluster, tmp_path)
    await runtime.ensure(spec())
    text = await runtime.read_logs("web-s1", 10)
    assert text == "[web-1/web] a\n[web-1/web] b\n[web-1/side] c\n"
    assert ("v1", "Pod", "shop", "edgeplane.io/assignment=web-s1") in cluster.lists
    with pytest.raises(KeyError):
        await runtime.read_logs("nothing", 10)


@pytest.mark.parametrize(
    ("namespace", "site"),
    [("shop", "pool-a"), ("n" * 63, "pool-a"), ("shop", "s" * 63), ("a" * 40, "b.c" * 10)],
    ids=["short", "long-namespace", "long-site", "dotted-site"],
)
def test_pool_namespaces_are_labels_and_distinct(namespace: str, site: str) -> None:
    name = pool_namespace(namespace, site)
    assert len(name) <= 63 and name[0].isalnum() and name[-1].isalnum()
    assert "." not in name
    assert name != pool_namespace(namespace, site + "x")


async def test_the_status_pass_runs_until_closed(
    cluster: FakeCluster, fake_apply: FakeApply, tmp_path: Path
) -> None:
    runtime = make(cluster, tmp_path, poll_seconds=0.2)
    await runtime.start()
    await runtime.ensure(spec())
    in_cluster(cluster, "shop", ready=2)
    async with asyncio.timeout(10):
        while runtime.statuses()["web-s1"].phase is not Phase.RUNNING:
            await runtime.changed().wait()
            runtime.changed().clear()
    await runtime.close()


async def test_cpu_is_read_for_applied_assignments_from_the_metrics_api(
    cluster: FakeCluster, fake_apply: FakeApply, tmp_path: Path
) -> None:
    ready = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
    containers = [{"name": "web", "resources": {"requests": {"cpu": "500m"}}}]
    cluster.objects[("v1", "Pod")] = [
        {
            "metadata": {"name": "web-1", "namespace": "shop"},
            "spec": {"containers": containers},
            "status": ready,
        }
    ]
    cluster.objects[("metrics.k8s.io/v1beta1", "PodMetrics")] = [
        {
            "metadata": {"name": "web-1", "namespace": "shop"},
            "containers": [{"usage": {"cpu": "250m"}}],
        }
    ]
    runtime = make(cluster, tmp_path)
    await runtime.ensure(spec())
    uses = await runtime.sample_cpu(["web-s1", "not-held"])
    assert uses == {"web-s1": (CpuUse(0.25, 0.5),)}
    selector = "edgeplane.io/assignment=web-s1"
    assert ("metrics.k8s.io/v1beta1", "PodMetrics", "shop", selector) in cluster.lists
    fake_apply.outcome = ApplyOutcome((), (), (), "refused")
    await runtime.ensure(spec(generation=2))
    assert await runtime.sample_cpu(["web-s1"]) == {}, "not applied: nothing read"
