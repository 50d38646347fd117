"""A small fleet for the controller tests: sites, applications and the artifacts the
hub knows, written through any store backend."""

from __future__ import annotations

import time
from typing import Any, TypeVar

from edgeplane.api.wellknown import assignment_name
from edgeplane.api.wire import Json, Object
from edgeplane.hub.controllers.placement import list_all
from tests.conftest import AnyStore
from tests.support import builders

T = TypeVar("T")


SHAS = {("svc", "1"): "a" * 64, ("svc", "2"): "b" * 64}


def resolve(name: str, version: str) -> str | None:
    return SHAS.get((name, version))


def site(name: str, phase: str = "Online", **labels: str) -> Object:
    # Fresh, or the health controller marks the site Offline, and an Offline site
    # takes nothing new.
    heartbeat = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    status = {"phase": phase, "capacity": {"cpu": "2", "memory": "1Gi"}, "lastHeartbeat": heartbeat}
    return builders.site(name, status=status, labels=labels)


def app(name: str, version: str = "1", **placement: Json) -> Object:
    artifacts = [{"name": "svc", "version": version}]
    return builders.application(
        name,
        workload={"process": {"command": "python3", "artifacts": artifacts}},
        placement=placement or None,
        spec={
            "resources": {"cpu": "500m"},
            "overrides": [{"site": "s2", "values": {"process": {"args": ["--fast"]}}}],
        },
    )


async def add_site(store: AnyStore, obj: Object) -> None:
    body: Object = {**obj}
    body.pop("status", None)
    created = await store.create(body)
    await store.replace_status({**created, "status": obj["status"]})


async def placed(store: AnyStore) -> dict[str, Object]:
    """The stored Assignments as ``<application>.<site>`` (their names add a hash)."""
    found = {}
    for a in await list_all(store, "Assignment"):
        assert a["metadata"]["name"] == assignment_name(a["spec"]["application"], a["spec"]["site"])
        found[f"{a['spec']['application']}.{a['spec']['site']}"] = a
    return found


async def update(store: AnyStore, kind: str, name: str, change: Any) -> None:
    """Re-read, change and write back (the stored object carries its resourceVersion)."""
    current = await store.get(kind, name)
    change(current)
    await store.replace(current)


def set_replicas(count: int) -> Any:
    return lambda obj: obj["spec"]["placement"].update(replicas=count)
