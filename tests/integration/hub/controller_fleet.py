"""A small fleet for the controller tests: sites, applications and the artifacts the
hub knows, written through any store backend."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from edgeplane.api.wellknown import assignment_name
from edgeplane.hub.controllers.placement import list_all
from tests.conftest import AnyStore

T = TypeVar("T")


SHAS = {("svc", "1"): "a" * 64, ("svc", "2"): "b" * 64}


def resolve(name: str, version: str) -> str | None:
    return SHAS.get((name, version))


def site(name: str, phase: str = "Online", **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "edgeplane.io/v1alpha1",
        "kind": "Site",
        "metadata": {"name": name, "labels": labels},
        "spec": {},
        "status": {
            "phase": phase,
            "capacity": {"cpu": "2", "memory": "1Gi"},
            # Fresh, or the health controller marks the site Offline, and an Offline
            # site takes nothing new.
            "lastHeartbeat": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        },
    }


def app(name: str, version: str = "1", **placement: Any) -> dict[str, Any]:
    return {
        "apiVersion": "edgeplane.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": name},
        "spec": {
            "workload": {
                "process": {
                    "command": "python3",
                    "artifacts": [{"name": "svc", "version": version}],
                }
            },
            "resources": {"cpu": "500m"},
            "placement": placement or {"mode": "EverySite"},
            "overrides": [{"site": "s2", "values": {"process": {"args": ["--fast"]}}}],
        },
    }


async def add_site(store: AnyStore, obj: dict[str, Any]) -> None:
    created = await store.create({k: v for k, v in obj.items() if k != "status"})
    await store.replace_status({**created, "status": obj["status"]})


async def placed(store: AnyStore) -> dict[str, dict[str, Any]]:
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


async def eventually(
    probe: Callable[[], Awaitable[T]],
    accept: Callable[[T], bool] = bool,
    seconds: float = 20.0,
) -> T:
    """The first answer of ``probe`` that ``accept`` takes, polled until the deadline
    (no fixed sleeps)."""
    deadline = time.monotonic() + seconds
    while not accept(found := await probe()):
        assert time.monotonic() < deadline, f"timed out; last answer: {found!r}"
        await asyncio.sleep(0.05)
    return found
