"""One good object of every kind, and a helper to spoil one field of a copy."""

from __future__ import annotations

import copy
from typing import Any

API = "edgeplane.io/v1alpha1"
PROCESS = {"process": {"command": "python3", "args": ["-m", "http.server"]}}

GOOD: dict[str, dict[str, Any]] = {
    "Site": {
        "apiVersion": API,
        "kind": "Site",
        "metadata": {"name": "dublin-1", "labels": {"region": "eu-west", "tier": "edge"}},
        "spec": {
            "location": {"lat": 53.35, "lon": -6},
            "runtime": "process",
            "taints": [{"key": "dedicated", "value": "pos", "effect": "NoSchedule"}],
            "uplink": {"bandwidthBytesPerSecond": 1000000},
        },
        "status": {
            "phase": "Online",
            "capacity": {"cpu": "4", "memory": "8Gi"},
            "inventory": {"arch": "arm64", "cpus": 4, "accelerators": [{"type": "gpu"}]},
            "devices": [{"name": "cam-1", "labels": {"class": "camera"}}],
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    },
    "SiteGroup": {
        "apiVersion": API,
        "kind": "SiteGroup",
        "metadata": {"name": "eu-stores"},
        "spec": {
            "description": "EU edge",
            "selector": {
                "matchLabels": {"jurisdiction": "eu"},
                "matchExpressions": [{"key": "tier", "operator": "In", "values": ["edge"]}],
            },
        },
    },
    "Application": {
        "apiVersion": API,
        "kind": "Application",
        "metadata": {"name": "web", "labels": {"team": "retail"}},
        "spec": {
            "workload": PROCESS,
            "resources": {"cpu": "500m", "memory": "256Mi"},
            "placement": {"mode": "Replicas", "replicas": 2, "siteGroups": ["eu-stores"]},
        },
    },
    "Policy": {
        "apiVersion": API,
        "kind": "Policy",
        "metadata": {"name": "eu-only"},
        "spec": {
            "scope": "Placement",
            "enforcement": "Deny",
            "onViolation": "Move",
            "rules": [{"name": "eu", "expression": 'site.labels["jurisdiction"] == "eu"'}],
        },
    },
    "Assignment": {
        "apiVersion": API,
        "kind": "Assignment",
        "metadata": {"name": "web.dublin-1"},
        "spec": {
            "application": "web",
            "revision": 1,
            "site": "dublin-1",
            "replicas": 1,
            "workload": PROCESS,
            "resources": {"cpu": "500m"},
        },
        "status": {"phase": "Running", "ready": 1, "observedGeneration": 1},
    },
}


def good(kind: str) -> dict[str, Any]:
    return copy.deepcopy(GOOD[kind])


def changed(obj: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of ``obj`` with the dotted ``path`` set to ``value`` (``[n]`` indexes lists)."""
    result = copy.deepcopy(obj)
    target: Any = result
    *parents, last = path.split(".")
    for key in parents:
        name, _, index = key.partition("[")
        target = target.setdefault(name, {})
        if index:
            target = target[int(index.rstrip("]"))]
    target[last] = value
    return result
