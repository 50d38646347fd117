"""Kubernetes-mode agents on the clusters of ``hack/kube``, and what tests read back.

``tests/k8s``, ``scripts/demo.py --kubernetes`` and ``benchmarks/converge_k8s.py`` start a
real hub (``tests.support.fleet.Fleet``) and real agents run as ``python -m
edgeplane.agent --runtime kubernetes --kubeconfig FILE`` (plus ``--node-pool
edgeplane.io/pool=<pool>`` for a pool of the central cluster). What the agents did is
read straight from the apiserver with the cluster's admin token, never through edgeplane.
"""

from __future__ import annotations

import json
import urllib.error
from typing import Any

from hack.kube.cluster import POOL_LABEL, Cluster
from tests.support.fleet import Agent, Fleet

API_VERSION = "edgeplane.io/v1alpha1"
IMAGE = "registry.example/web:1"
"""Never pulled: KWOK nodes run no container."""


def kube_agent(
    fleet: Fleet,
    name: str,
    cluster: Cluster,
    labels: dict[str, str],
    pool: str | None = None,
) -> Agent:
    """A real agent for site ``name``: the whole ``cluster``, or its ``pool``."""
    flags = ["--runtime", "kubernetes", "--kubeconfig", str(cluster.kubeconfig)]
    flags += ["--kube-poll-seconds", "1"]
    if pool:
        flags += ["--node-pool", f"{POOL_LABEL}={pool}"]
    return fleet.add_agent(name, labels, *flags)


def deployment(name: str, replicas: int = 2, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "containers": [
                        {"name": "web", "image": IMAGE, "ports": [{"containerPort": 8080}]}
                    ]
                },
            },
            **spec,
        },
    }


def service(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {"selector": {"app": name}, "ports": [{"port": 80, "targetPort": 8080}]},
    }


def config_map(name: str, **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}


def web(name: str, replicas: int = 2) -> list[dict[str, Any]]:
    """A Deployment, its Service and a ConfigMap: the issue's example application."""
    return [deployment(name, replicas), service(name), config_map(f"{name}-config", color="blue")]


def kube_app(
    name: str,
    manifests: list[dict[str, Any]],
    placement: dict[str, Any],
    **spec: Any,
) -> dict[str, Any]:
    kubernetes = {"manifests": manifests, **spec.pop("kubernetes", {})}
    return {
        "apiVersion": API_VERSION,
        "kind": "Application",
        "metadata": {"name": name},
        "spec": {"workload": {"kubernetes": kubernetes}, "placement": placement, **spec},
    }


def at(label: str, value: str, mode: str = "EverySite", **placement: Any) -> dict[str, Any]:
    """Placement on the sites labelled ``label=value``."""
    return {"mode": mode, "selector": {"matchLabels": {label: value}}, **placement}


def ready_at(fleet: Fleet, app: str, ready: dict[str, int]) -> dict[str, Any] | None:
    """``app``'s assignments by site once exactly the sites of ``ready`` hold it, each
    Running with that many ready replicas at the generation it was given."""
    found = fleet.assignments(app)
    if set(found) != set(ready):
        return None
    for site, item in found.items():
        status = item.get("status") or {}
        if status.get("phase") != "Running" or status.get("ready") != ready[site]:
            return None
        if status.get("observedGeneration") != item["metadata"]["generation"]:
            return None
    return found


def read(cluster: Cluster, path: str) -> dict[str, Any] | None:
    """GET ``path`` from the cluster's apiserver; None when it is not there (404)."""
    try:
        return dict(json.loads(cluster.request("GET", path)))
    except urllib.error.HTTPError as e:
        if e.code == 404:
            return None
        raise


def items(cluster: Cluster, path: str) -> list[dict[str, Any]]:
    found = read(cluster, path)
    return list(found["items"]) if found else []


def pods(cluster: Cluster, namespace: str, app: str) -> dict[str, dict[str, Any]]:
    """The pods of Deployment ``app`` by UID."""
    found = items(cluster, f"/api/v1/namespaces/{namespace}/pods?labelSelector=app%3D{app}")
    return {p["metadata"]["uid"]: p for p in found}


def running_pods(cluster: Cluster, namespace: str, app: str) -> dict[str, str]:
    """UID -> node of ``app``'s pods Running and not being deleted."""
    return {
        uid: p["spec"].get("nodeName", "")
        for uid, p in pods(cluster, namespace, app).items()
        if p["status"].get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")
    }


def deployment_of(cluster: Cluster, namespace: str, name: str) -> dict[str, Any] | None:
    return read(cluster, f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}")


def settled(cluster: Cluster, namespace: str, name: str) -> bool:
    """Whether Deployment ``name`` is done: observed, every replica available and its
    rollout complete (the controllers' last status write is behind it)."""
    found = deployment_of(cluster, namespace, name)
    if found is None:
        return False
    status = found.get("status") or {}
    progressing = [c for c in status.get("conditions") or [] if c["type"] == "Progressing"]
    return (
        status.get("observedGeneration") == found["metadata"]["generation"]
        and status.get("availableReplicas") == found["spec"]["replicas"]
        and bool(progressing)
        and progressing[0].get("reason") == "NewReplicaSetAvailable"
    )


def apply_as(cluster: Cluster, manager: str, obj: dict[str, Any], force: bool = False) -> None:
    """Server-side apply ``obj`` as another field manager (a person with kubectl)."""
    meta = obj["metadata"]
    plural = {"ConfigMap": "configmaps", "Deployment": "deployments"}[obj["kind"]]
    group = "/api/v1" if obj["apiVersion"] == "v1" else f"/apis/{obj['apiVersion']}"
    path = f"{group}/namespaces/{meta['namespace']}/{plural}/{meta['name']}"
    query = f"?fieldManager={manager}&force={'true' if force else 'false'}"
    cluster.request("PATCH", path + query, obj, "application/apply-patch+yaml")
