"""What fits at a site: each assignment's requests, and which instances the site's
capacity admits (``admit``). Pure; the reconciler (``agent.reconciler``) acts on it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from edgeplane.agent.inventory import Capacity
from edgeplane.agent.replicas import instance_keys, replicas_of, split_key
from edgeplane.api.quantity import Quantity, cpu_millis, memory_bytes
from edgeplane.api.wire import Object


@dataclass(frozen=True)
class Request:
    cpu_millis: int
    memory_bytes: int


def requests_of(obj: Object) -> Request:
    resources = obj.get("spec", {}).get("resources") or {}
    cpu, memory = resources.get("cpu"), resources.get("memory")
    return Request(
        cpu_millis(Quantity.parse(cpu)) if cpu is not None else 0,
        memory_bytes(Quantity.parse(memory)) if memory is not None else 0,
    )


def admit(
    desired: Mapping[str, Object], running: set[str], capacity: Capacity
) -> tuple[set[str], Request]:
    """Which instances fit (by instance key), and what is left. Every replica asks for
    its assignment's requests, so n replicas take n times them. Instances already
    running keep their place, so a new arrival (or another's scale-up) never pushes
    out a workload that runs."""
    limit = capacity.instances
    wanted = [(key, name) for name, obj in desired.items() for key in capped_keys(name, obj, limit)]
    order = sorted(wanted, key=lambda kn: (kn[0] not in running, kn[1], split_key(kn[0])[1]))
    needs = {name: requests_of(obj) for name, obj in desired.items()}
    cpu, memory = capacity.cpu_millis, capacity.memory_bytes
    admitted: set[str] = set()
    for key, name in order:
        if len(admitted) >= limit:
            break
        need = needs[name]
        if need.cpu_millis <= cpu and need.memory_bytes <= memory:
            cpu, memory = cpu - need.cpu_millis, memory - need.memory_bytes
            admitted.add(key)
    return admitted, Request(cpu, memory)


def capped_keys(name: str, obj: Object, limit: int) -> list[str]:
    """The instance keys of an assignment, at most ``limit`` of them (the site's
    instance cap: no assignment may make the agent build billions of keys)."""
    return instance_keys(name, min(replicas_of(obj), limit))
