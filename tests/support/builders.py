"""Wire objects for tests: a Site, an Application, a Policy, an Assignment, as JSON.

Each builder returns a fresh ``Object`` (``edgeplane.api.wire``) with the least a
test needs, and keyword overrides for the rest (``labels``, ``status``, and ``spec``
fields merged over the defaults). ``GOOD`` holds one complete, valid body of every
kind (every optional field filled), untyped as a client may send anything, for the
API's validation tests; ``changed`` spoils one field of a copy. Neighbours: ``fleet``
(``demo_app``: the demo service with its artifact, for tests with real agents).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, TypeVar

from edgeplane.api.wire import Json, Object

API_VERSION = "edgeplane.io/v1alpha1"
SITE_LABEL = "edgeplane.io/site"
APPLICATION_LABEL = "edgeplane.io/application"
Body = TypeVar("Body", bound=Mapping[str, object])
PROCESS = {"process": {"command": "python3", "args": ["-m", "http.server"]}}


def wire(
    kind: str,
    name: str,
    spec: dict[str, Json],
    status: dict[str, Json] | None = None,
    labels: Mapping[str, str] | None = None,
) -> Object:
    """An object of ``kind``; ``metadata.labels`` and ``status`` only when given."""
    obj: Object = {"apiVersion": API_VERSION, "kind": kind, "metadata": {"name": name}}
    if labels is not None:
        obj["metadata"]["labels"] = dict(labels)
    obj["spec"] = spec
    if status is not None:
        obj["status"] = status
    return obj


def site(
    name: str,
    *,
    spec: dict[str, Json] | None = None,
    status: dict[str, Json] | None = None,
    labels: Mapping[str, str] | None = None,
) -> Object:
    """A Site, its ``spec`` empty unless given."""
    return wire("Site", name, dict(spec or {}), status, labels)


def application(
    name: str = "web",
    *,
    workload: dict[str, Json] | None = None,
    placement: dict[str, Json] | None = None,
    spec: dict[str, Json] | None = None,
    status: dict[str, Json] | None = None,
    labels: Mapping[str, str] | None = None,
) -> Object:
    """An Application that runs ``true`` at every site, unless told otherwise."""
    body = {
        "workload": workload or {"process": {"command": "true"}},
        "placement": placement or {"mode": "EverySite"},
        **(spec or {}),
    }
    return wire("Application", name, body, status, labels)


def policy(
    name: str,
    *expressions: str,
    scope: str = "Placement",
    enforcement: str = "Deny",
    spec: dict[str, Json] | None = None,
) -> Object:
    """A Policy with one rule per CEL expression (named ``r0``, ``r1``...)."""
    rules = [{"name": f"r{i}", "expression": e} for i, e in enumerate(expressions)]
    body = {"scope": scope, "enforcement": enforcement, "rules": rules, **(spec or {})}
    return wire("Policy", name, body)


def assignment(
    app: str,
    at: str,
    *,
    workload: dict[str, Json] | None = None,
    spec: dict[str, Json] | None = None,
    status: dict[str, Json] | None = None,
    labels: Mapping[str, str] | None = None,
) -> Object:
    """``app``'s Assignment to site ``at`` as placement names and labels it (without
    the hash placement adds to long names), revision 1."""
    body = {
        "application": app,
        "revision": 1,
        "site": at,
        "workload": workload or {"process": {"command": "true"}},
        **(spec or {}),
    }
    placed = {SITE_LABEL: at, APPLICATION_LABEL: app, **(labels or {})}
    return wire("Assignment", f"{app}.{at}", body, status, placed)


GOOD: dict[str, dict[str, Any]] = {
    "Site": {
        "apiVersion": API_VERSION,
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
        "apiVersion": API_VERSION,
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
        "apiVersion": API_VERSION,
        "kind": "Application",
        "metadata": {"name": "web", "labels": {"team": "retail"}},
        "spec": {
            "workload": PROCESS,
            "resources": {"cpu": "500m", "memory": "256Mi"},
            "placement": {"mode": "Replicas", "replicas": 2, "siteGroups": ["eu-stores"]},
        },
    },
    "Policy": {
        "apiVersion": API_VERSION,
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
        "apiVersion": API_VERSION,
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
    "DataStream": {
        "apiVersion": API_VERSION,
        "kind": "DataStream",
        "metadata": {"name": "fridge-temps"},
        "spec": {
            "selector": {"matchLabels": {"team": "retail"}},
            "priority": "high",
            "retention": {"maxAgeSeconds": 86400, "maxBytes": 1048576},
            "aggregation": {
                "windowSeconds": 60,
                "field": "celsius",
                "keyBy": "fridge",
                "functions": ["count", "mean", "max"],
                "raw": "threshold",
                "threshold": {"above": 8},
            },
            "sink": {"type": "hub"},
        },
    },
}


def good(kind: str) -> dict[str, Any]:
    """A copy of ``GOOD[kind]``: a raw body as a client sends it, to spoil freely."""
    return copy.deepcopy(GOOD[kind])


def changed(obj: Body, path: str, value: Any) -> Body:
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
