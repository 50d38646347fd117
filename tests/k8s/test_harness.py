"""Proof that the harness is a real Kubernetes: workloads, SSA, watches, outages."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from lightkube import Client, KubeConfig
from lightkube.codecs import from_dict
from lightkube.core.exceptions import ApiError
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import ConfigMap, Namespace, Node, Pod, Service
from lightkube.resources.discovery_v1 import EndpointSlice

from hack.kube.cluster import Cluster
from tests.support.waiting import wait_until

APP = "web"


@pytest.fixture
def client(cluster: Cluster) -> Iterator[Client]:
    with Client(
        config=KubeConfig.from_file(str(cluster.kubeconfig)), field_manager="edgeplane"
    ) as opened:
        yield opened


@pytest.fixture
def namespace(client: Client, request: pytest.FixtureRequest) -> Iterator[str]:
    name = request.node.name.replace("_", "-")[:50].lower()
    client.create(from_dict({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}))
    yield name
    client.delete(Namespace, name)


def deployment(replicas: int) -> Any:
    return from_dict(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": APP},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": APP}},
                "template": {
                    "metadata": {"labels": {"app": APP}},
                    "spec": {
                        "containers": [
                            {
                                "name": APP,
                                "image": "example.invalid/web:1",
                                "ports": [{"containerPort": 8080}],
                            }
                        ],
                        "nodeSelector": {"type": "kwok"},
                        "tolerations": [
                            {
                                "key": "kwok.x-k8s.io/node",
                                "operator": "Exists",
                                "effect": "NoSchedule",
                            }
                        ],
                    },
                },
            },
        }
    )


def test_nodes_carry_site_and_zone_labels(client: Client, cluster: Cluster) -> None:
    nodes = list(client.list(Node))
    assert len(nodes) == 3
    assert {n.metadata.labels["edgeplane.io/site"] for n in nodes} == {cluster.name}
    assert {n.metadata.labels["topology.kubernetes.io/zone"] for n in nodes} == {"zone-a", "zone-b"}
    ready = wait_until(
        lambda: all(
            any(c.type == "Ready" and c.status == "True" for c in (n.status.conditions or []))
            for n in client.list(Node)
        ),
        what="nodes Ready",
        within=60,
        every=0.2,
    )
    assert ready


def test_deployment_runs_pods_and_service_gets_endpoints(client: Client, namespace: str) -> None:
    client.apply(deployment(3), namespace=namespace)

    def running() -> list[Any]:
        pods = client.list(Pod, namespace=namespace)
        return [p for p in pods if p.status and p.status.phase == "Running"]

    wait_until(lambda: len(running()) == 3, what="3 pods Running", within=60, every=0.2)
    pods = running()
    assert all(p.spec.nodeName and p.spec.nodeName.startswith("site-") for p in pods)
    wait_until(
        lambda: client.get(Deployment, APP, namespace=namespace).status.readyReplicas == 3,
        what="deployment ready",
        within=60,
        every=0.2,
    )
    client.apply(
        from_dict(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": APP},
                "spec": {"selector": {"app": APP}, "ports": [{"port": 80, "targetPort": 8080}]},
            }
        ),
        namespace=namespace,
    )

    def ready_endpoints() -> int:
        slices = client.list(
            EndpointSlice, namespace=namespace, labels={"kubernetes.io/service-name": APP}
        )
        return sum(
            1 for s in slices for e in (s.endpoints or []) if e.conditions and e.conditions.ready
        )

    assert wait_until(
        lambda: ready_endpoints() == 3, what="3 ready endpoints", within=60, every=0.2
    )
    assert client.get(Service, APP, namespace=namespace).spec.clusterIP


def test_server_side_apply_reports_a_conflicting_manager(client: Client, namespace: str) -> None:
    config = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "cfg"},
        "data": {"color": "blue"},
    }
    client.apply(from_dict(config), namespace=namespace, field_manager="edgeplane")
    other = {**config, "data": {"color": "red"}}
    with pytest.raises(ApiError) as conflict:
        client.apply(from_dict(other), namespace=namespace, field_manager="someone-else")
    assert conflict.value.status.code == 409
    assert "color" in (conflict.value.status.message or "")
    forced = client.apply(
        from_dict(other), namespace=namespace, field_manager="someone-else", force=True
    )
    assert forced.data == {"color": "red"}
    managers = {
        m.manager for m in client.get(ConfigMap, "cfg", namespace=namespace).metadata.managedFields
    }
    assert "someone-else" in managers


def test_watch_resumes_from_a_resource_version(client: Client, namespace: str) -> None:
    def config_map(name: str) -> Any:
        meta = {"name": name, "labels": {"test": "watch"}}
        return from_dict({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta})

    version = client.create(config_map("a"), namespace=namespace).metadata.resourceVersion
    for name in ("b", "c"):
        client.create(config_map(name), namespace=namespace)
    seen: list[tuple[str, str | None]] = []
    events = client.watch(
        ConfigMap,
        namespace=namespace,
        labels={"test": "watch"},
        resource_version=version,
        server_timeout=30,
    )
    for event, obj in events:
        seen.append((event, obj.metadata.name))
        if len(seen) == 2:
            break
    assert seen == [("ADDED", "b"), ("ADDED", "c")]


def test_apiserver_outage_is_a_connection_failure_then_recovers(
    client: Client, cluster: Cluster
) -> None:
    cluster.stop_apiserver()
    try:
        with pytest.raises(httpx2.TransportError):
            client.list(Node).__iter__().__next__()
    finally:
        cluster.start_apiserver()
    assert len(list(client.list(Node))) == 3


def test_second_cluster_is_separate(kube_fleet: list[Cluster]) -> None:
    with Client(config=KubeConfig.from_file(str(kube_fleet[1].kubeconfig))) as second:
        names = {n.metadata.name for n in second.list(Node)}
    assert names == {f"{kube_fleet[1].name}-node-{i}" for i in range(3)}
