"""Smoke test of the kubernetes runtime end to end: a real hub process, a real agent
process run with ``--runtime kubernetes --kubeconfig`` against a real control plane
of hack/kube. An Application holding a Deployment and a Service reaches Ready in its
assignment's status, the Site reports its nodes, ``edgeplane logs`` reaches its pods,
and deleting the Application deletes what the agent applied. (The acceptance tests
of issue 10 are the other tests of this folder.)
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from lightkube import Client, KubeConfig
from lightkube.codecs import from_dict
from lightkube.core.exceptions import ApiError
from lightkube.resources.apps_v1 import Deployment

from edgeplane.api.quantity import Quantity, cpu_millis
from hack.kube.cluster import Cluster
from tests.support.fleet import Fleet, wait_for

SITE = "smoke-k8s"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "kubernetes" / "agent-in-cluster.yaml"
RBAC_KINDS = ("Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding")


@pytest.fixture
def kube(cluster: Cluster) -> Iterator[Client]:
    with Client(config=KubeConfig.from_file(str(cluster.kubeconfig))) as client:
        yield client


def application(app: str) -> dict[str, Any]:
    labels = {"app": app}
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
        "metadata": {"name": app},
        "spec": {
            "workload": {"kubernetes": {"manifests": [deployment, service]}},
            "placement": {"mode": "EverySite"},
        },
    }


def example_rbac_kubeconfig(cluster: Cluster, kube: Client, to: Path) -> Path:
    """A kubeconfig holding a token of the example's service account, bound by the
    example's own ClusterRole: what an in-cluster agent may do, and no more."""
    for doc in yaml.safe_load_all(EXAMPLE.read_text()):
        if doc["kind"] in RBAC_KINDS:
            kube.apply(from_dict(doc), field_manager="smoke-test")
    path = "/api/v1/namespaces/edgeplane-system/serviceaccounts/edgeplane-agent/token"
    request = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}}
    token = json.loads(cluster.request("POST", path, request))["status"]["token"]
    config = json.loads(cluster.kubeconfig.read_text())
    config["users"] = [{"name": "admin", "user": {"token": token}}]
    to.write_text(json.dumps(config))
    to.chmod(0o600)
    return to


def ready(fleet: Fleet, app: str) -> dict[str, Any] | None:
    found = fleet.assignments(app).get(SITE)
    status = (found or {}).get("status") or {}
    current = found and status.get("observedGeneration") == found["metadata"]["generation"]
    return found if current and status.get("phase") == "Running" else None


@pytest.mark.parametrize("credential", ["admin", "example-rbac"])
def test_a_deployment_reaches_ready_and_goes_with_its_application(
    fleet: Fleet, cluster: Cluster, kube: Client, tmp_path: Path, credential: str
) -> None:
    """With the cluster's admin, and with only what the example's ClusterRole grants."""
    app = f"smoke-{credential}"  # a namespace each: the first may still be terminating
    kubeconfig = cluster.kubeconfig
    if credential == "example-rbac":
        kubeconfig = example_rbac_kubeconfig(cluster, kube, tmp_path / "agent.kubeconfig")
    fleet.add_agent(
        SITE,
        None,
        "--runtime",
        "kubernetes",
        "--kubeconfig",
        str(kubeconfig),
        "--kube-poll-seconds",
        "0.5",
    )
    fleet.ok("POST", "/applications", application(app))
    assignment = wait_for(lambda: ready(fleet, app), "the assignment Running", timeout=90)
    assert assignment["status"]["ready"] == 2

    site = fleet.ok("GET", f"/sites/{SITE}")["status"]
    assert site["inventory"]["runtime"] == "kubernetes"
    assert (site["inventory"]["nodes"], site["inventory"]["readyNodes"]) == (3, 3)
    assert cpu_millis(Quantity.parse(site["capacity"]["cpu"])) == 24_000  # 3 nodes of 8 cpus

    web = kube.get(Deployment, "web", namespace=app)
    assert web.metadata is not None and web.metadata.labels is not None
    assert web.metadata.labels["edgeplane.io/assignment"] == assignment["metadata"]["name"]
    assert web.metadata.labels["app.kubernetes.io/managed-by"] == "edgeplane"

    # Pod logs through the hub: KWOK runs no container, so each container's line says
    # why there is no log; the prefix shows the agent read every pod of the assignment.
    logs = fleet.api("GET", f"/sites/{SITE}/logs", params={"application": app, "tail": "5"})
    assert logs.status_code == 200, logs.text
    pods = {line.split("/", 1)[0] for line in logs.text.splitlines()}
    assert len(pods) == 2 and all(p.startswith("[web-") for p in pods), logs.text

    fleet.ok("DELETE", f"/applications/{app}")

    def gone() -> bool:
        try:
            left = kube.get(Deployment, "web", namespace=app)
        except ApiError as e:
            return e.status.code == 404
        return left.metadata is not None and left.metadata.deletionTimestamp is not None

    assert wait_for(gone, "the Deployment deleted", timeout=60)
