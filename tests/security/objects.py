"""Objects the security tests write: an Application that runs nothing (no replicas)."""

from __future__ import annotations

from typing import Any

API = "/api/v1alpha1"
APP: dict[str, Any] = {
    "apiVersion": "edgeplane.io/v1alpha1",
    "kind": "Application",
    "metadata": {"name": "web"},
    "spec": {
        "workload": {"process": {"command": "python3", "args": ["-m", "http.server"]}},
        "placement": {"mode": "Replicas", "replicas": 0},
    },
}
