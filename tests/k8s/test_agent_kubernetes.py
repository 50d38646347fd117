"""Smoke test of the kubernetes runtime end to end: a real hub process, a real agent
process run with ``--runtime kubernetes --kubeconfig`` against a real control plane
of hack/kube. An Application holding a Deployment and a Service reaches Ready in its
assignment's status, the Site reports its nodes, ``edgeplane logs`` reaches its pods,
and deleting the Application deletes what the agent applied. (The acceptance tests
of issue 10 are the other tests of this folder.)
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lightkube import Client, KubeConfig
from lightkube.core.exceptions import ApiError
from lightkube.resources.apps_v1 import Deployment

from edgeplane.api.quantity import Quantity, cpu_millis
from hack.kube.cluster import Cluster
from tests.support.fleet import Fleet, wait_for

APP = "smoke-web"
SITE = "smoke-k8s"


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    fleet = Fleet(tmp_path)
    fleet.start_hub()
    try:
        yield fleet
    finally:
        fleet.close()


@pytest.fixture
def kube(cluster: Cluster) -> Iterator[Client]:
    with Client(config=KubeConfig.from_file(str(cluster.kubeconfig))) as client:
        yield client


def application() -> dict[str, Any]:
    labels = {"app": APP}
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "web", "image": "example.invalid/web:1"}]},
            },
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {"selector": labels, "ports": [{"port": 80, "targetPort": 8080}]},
    }
    return {
        "apiVersion": "edgeplane.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": APP},
        "spec": {
            "workload": {"kubernetes": {"manifests": [deployment, service]}},
            "placement": {"mode": "EverySite"},
        },
    }


def ready(fleet: Fleet) -> dict[str, Any] | None:
    found = fleet.assignments(APP).get(SITE)
    status = (found or {}).get("status") or {}
    current = found and status.get("observedGeneration") == found["metadata"]["generation"]
    return found if current and status.get("phase") == "Running" else None


def test_a_deployment_reaches_ready_and_goes_with_its_application(
    fleet: Fleet, cluster: Cluster, kube: Client
) -> None:
    fleet.add_agent(
        SITE,
        None,
        "--runtime",
        "kubernetes",
        "--kubeconfig",
        str(cluster.kubeconfig),
        "--kube-poll-seconds",
        "0.5",
    )
    fleet.ok("POST", "/applications", application())
    assignment = wait_for(lambda: ready(fleet), "the assignment Running", timeout=90)
    assert assignment["status"]["ready"] == 2

    site = fleet.ok("GET", f"/sites/{SITE}")["status"]
    assert site["inventory"]["runtime"] == "kubernetes"
    assert (site["inventory"]["nodes"], site["inventory"]["readyNodes"]) == (3, 3)
    assert cpu_millis(Quantity.parse(site["capacity"]["cpu"])) == 24_000  # 3 nodes of 8 cpus

    web = kube.get(Deployment, "web", namespace=APP)
    assert web.metadata is not None and web.metadata.labels is not None
    assert web.metadata.labels["edgeplane.io/assignment"] == assignment["metadata"]["name"]
    assert web.metadata.labels["app.kubernetes.io/managed-by"] == "edgeplane"

    # Pod logs through the hub: KWOK runs no container, so each container's line says
    # why there is no log; the prefix shows the agent read every pod of the assignment.
    logs = fleet.api("GET", f"/sites/{SITE}/logs", params={"application": APP, "tail": "5"})
    assert logs.status_code == 200, logs.text
    pods = {line.split("/", 1)[0] for line in logs.text.splitlines()}
    assert len(pods) == 2 and all(p.startswith("[web-") for p in pods), logs.text

    fleet.ok("DELETE", f"/applications/{APP}")

    def gone() -> bool:
        try:
            left = kube.get(Deployment, "web", namespace=APP)
        except ApiError as e:
            return e.status.code == 404
        return left.metadata is not None and left.metadata.deletionTimestamp is not None

    assert wait_for(gone, "the Deployment deleted", timeout=60)
