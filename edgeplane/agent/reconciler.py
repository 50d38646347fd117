"""Making the runtime match the local assignments.

For each assignment: is it a workload this site can run, does it fit in what is left
of the site's capacity, are its artifacts here and intact. Only then does the runtime
get it. What stops an assignment is kept as a ``Problem`` (phase, reason, message) that
the status reporter sends instead of silence. Works the same with the hub down: it
reads only local state.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeplane.agent.errors import AgentError, HubRefused, HubUnreachable
from edgeplane.agent.inventory import Capacity
from edgeplane.agent.runtimes import InstanceSpec, Phase, Runtime
from edgeplane.agent.state import LocalState, Object
from edgeplane.api.quantity import Quantity, cpu_millis, memory_bytes

log = logging.getLogger("edgeplane.agent.reconciler")
RETRY_SECONDS = 5.0

EnsureArtifact = Callable[[str, str, str], Awaitable[Path]]


@dataclass(frozen=True)
class Problem:
    phase: Phase
    reason: str
    message: str


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
    """Which assignments fit, and what is left. Ones already running keep their place,
    so a new arrival never pushes out a workload that runs."""
    order = sorted(desired, key=lambda name: (name not in running, name))
    cpu, memory, admitted = capacity.cpu_millis, capacity.memory_bytes, set()
    for name in order:
        need = requests_of(desired[name])
        if need.cpu_millis <= cpu and need.memory_bytes <= memory:
            cpu, memory = cpu - need.cpu_millis, memory - need.memory_bytes
            admitted.add(name)
    return admitted, Request(cpu, memory)


def with_identity(workload: Mapping[str, Any], obj: Object) -> dict[str, Any]:
    """The workload with ``EDGEPLANE_SITE``, ``EDGEPLANE_APPLICATION`` and
    ``EDGEPLANE_ASSIGNMENT`` in its environment; the workload's own values win."""
    spec = obj["spec"]
    env = workload.get("env") or []
    own = dict(env) if isinstance(env, dict) else {e["name"]: e.get("value", "") for e in env}
    identity = {
        "EDGEPLANE_SITE": spec.get("site", ""),
        "EDGEPLANE_APPLICATION": spec.get("application", ""),
        "EDGEPLANE_ASSIGNMENT": obj["metadata"]["name"],
    }
    return {**workload, "env": {**identity, **own}}


def _generation(obj: Object) -> int:
    return int(obj["metadata"].get("generation") or 1)


class Reconciler:
    def __init__(
        self,
        state: LocalState,
        runtime: Runtime,
        ensure_artifact: EnsureArtifact,
        capacity: Capacity,
        wake: asyncio.Event,
        status_changed: asyncio.Event,
    ) -> None:
        self._state, self._runtime, self._ensure_artifact = state, runtime, ensure_artifact
        self.capacity, self._wake, self._status_changed = capacity, wake, status_changed
        self.problems: dict[str, Problem] = {}
        # The uid each instance was started for: an assignment deleted and created
        # again under the same name starts over at generation 1, so the generation
        # alone would not tell the new one from the old.
        self._uids: dict[str, str] = {}
        self.allocatable = Request(capacity.cpu_millis, capacity.memory_bytes)

    def state_names(self) -> set[str]:
        return set(self._state.assignments())

    async def run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), RETRY_SECONDS if self.problems else None)
            self._wake.clear()
            try:
                await self.reconcile()
            except Exception:  # one bad pass must not end supervision
                log.exception("reconcile failed; retrying")
                await asyncio.sleep(RETRY_SECONDS)

    async def reconcile(self) -> None:
        desired = self._state.assignments()
        for key in self._runtime.keys() - desired.keys():
            log.info("assignment %s removed: stopping its workload", key)
            await self._runtime.remove(key)
            self._uids.pop(key, None)
        admitted, self.allocatable = admit(desired, self._runtime.keys(), self.capacity)
        problems: dict[str, Problem] = {}
        for name, obj in sorted(desired.items()):
            if problem := await self._ensure(name, obj, name in admitted):
                problems[name] = problem
        if problems != self.problems:
            self.problems = problems
            self._status_changed.set()

    async def _ensure(self, name: str, obj: Object, fits: bool) -> Problem | None:
        workload = obj["spec"].get("workload", {}).get("process")
        if workload is None:
            return Problem(
                Phase.FAILED,
                "UnsupportedWorkload",
                "this site runs the process runtime: give the application a "
                "workload.process, or place it on a kubernetes site",
            )
        if not fits:
            return self._no_room(name, obj)
        dirs = await self._artifacts(workload.get("artifacts") or [])
        if isinstance(dirs, Problem):
            # An older version that runs keeps running: a bad artifact must not take
            # down what works.
            return dirs
        uid, held = obj["metadata"].get("uid") or "", self._runtime.keys()
        if self._uids.get(name, uid) != uid and name in held:
            log.info("assignment %s was recreated: restarting its workload", name)
            await self._runtime.remove(name)
        self._uids[name] = uid
        spec = InstanceSpec(name, _generation(obj), with_identity(workload, obj), dirs)
        await self._runtime.ensure(spec)
        return None

    def _no_room(self, name: str, obj: Object) -> Problem:
        need, left = requests_of(obj), self.allocatable
        return Problem(
            Phase.PENDING,
            "InsufficientCapacity",
            f"needs cpu {need.cpu_millis}m and memory {need.memory_bytes} bytes; the site "
            f"has {left.cpu_millis}m and {left.memory_bytes} bytes left",
        )

    async def _artifacts(self, artifacts: list[dict[str, Any]]) -> dict[str, Path] | Problem:
        dirs: dict[str, Path] = {}
        for artifact in artifacts:
            label = f"artifact {artifact['name']}:{artifact['version']}"
            if not artifact.get("sha256"):
                return Problem(
                    Phase.PENDING, "ArtifactUnresolved", f"{label} has no sha256 from the hub yet"
                )
            try:
                dirs[artifact["name"]] = await self._ensure_artifact(
                    artifact["name"], artifact["version"], artifact["sha256"]
                )
            except (HubUnreachable, HubRefused) as e:
                return Problem(Phase.PENDING, "ArtifactUnavailable", f"{label}: {e}; retrying")
            except (AgentError, OSError) as e:
                return Problem(Phase.FAILED, "ArtifactInvalid", f"{label}: {e}")
        return dirs
