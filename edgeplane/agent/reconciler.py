"""Making the runtime match the local assignments.

For each assignment: is it a workload this site can run, do its replicas fit in what
is left of the site's capacity, are its artifacts here and intact, are its Secrets
(``agent.secrets``) to hand. Only then does the runtime get one instance per replica
(keyed as ``replicas`` says); replicas beyond ``spec.replicas`` are stopped, highest
first. What stops an assignment is a ``Problem`` (phase, reason, message) that the
status reporter sends instead of silence. Works with the hub down: local state only.

On the kubernetes runtime an assignment is one instance (keyed by its name) whose
workload is ``spec.workload.kubernetes`` plus the assignment's identity; the cluster's
scheduler decides what fits, so only the count of assignments is bounded here. An
agent running both (``--runtime process,kubernetes``) does each as its runtime would,
both under one instance cap: kubernetes assignments first (they take no host capacity),
process ones in what is left. A workload of a kind the agent does not run is an
``UnsupportedWorkload`` problem.

While the site is fenced (``agent.fencing``: its lease with the hub ended), assignments
with ``spec.fencing: Strict`` are left out: their instances are stopped, and their
status says ``Fenced`` until the fence lifts.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeplane.agent.errors import AgentError, HubRefused, HubUnreachable
from edgeplane.agent.fencing import FENCED_MESSAGE, is_strict
from edgeplane.agent.fitting import Request, admit, capped_keys, requests_of
from edgeplane.agent.identity import with_identity
from edgeplane.agent.inventory import Capacity
from edgeplane.agent.kinds import (
    UNSUPPORTED,
    admit_count,
    is_kubernetes,
    kind_of,
    kubernetes_workload,
)
from edgeplane.agent.replicas import replicas_of, split_key, stop_order
from edgeplane.agent.runtimes import InstanceSpec, Phase, Runtime
from edgeplane.agent.secrets import SecretProblem
from edgeplane.agent.state import LocalState
from edgeplane.api.wire import Object

log = logging.getLogger("edgeplane.agent.reconciler")
RETRY_SECONDS = 5.0
STEP_SECONDS = 5.0
"""How long a pass waits for one assignment's stops and starts before it goes on with
the others, leaving the rest to finish in the background: a workload that ignores
SIGTERM, with a day as its grace period, must not hold up every other assignment of
the site (new ones not started, deleted ones not stopped) for that day."""

EnsureArtifact = Callable[[str, str, str], Awaitable[Path]]


@dataclass(frozen=True)
class Problem:
    phase: Phase
    reason: str
    message: str


def readable(assignments: Mapping[str, Object]) -> tuple[dict[str, Object], dict[str, Problem]]:
    """The assignments whose replicas and resources the agent can read, and a problem
    for each of the others. The hub validates them, but one it should not have sent
    (a ``replicas: "3"``, a cpu of ``lots``) must fail alone, not every pass."""
    good: dict[str, Object] = {}
    bad: dict[str, Problem] = {}
    for name, obj in assignments.items():
        try:
            replicas_of(obj)
            requests_of(obj)
            obj["metadata"].get("uid")
        except Exception as e:
            log.warning("%s: cannot read it: %r", name, e)
            bad[name] = Problem(
                Phase.FAILED,
                "AgentError",
                f"the agent cannot read it ({type(e).__name__}: {str(e)[:200]})",
            )
        else:
            good[name] = obj
    return good, bad


def fenced_out(desired: Mapping[str, Object]) -> tuple[dict[str, Object], dict[str, Problem]]:
    """The assignments a fenced site keeps running, and a problem for each Strict one."""
    fenced = {
        name: Problem(Phase.PENDING, "Fenced", FENCED_MESSAGE)
        for name, obj in desired.items()
        if is_strict(obj)
    }
    return {n: obj for n, obj in desired.items() if n not in fenced}, fenced


def _generation(obj: Object) -> int:
    return int(obj["metadata"].get("generation") or 1)


async def _no_secrets(_name: str, _obj: Object) -> Mapping[str, str]:
    return {}


class Reconciler:
    def __init__(
        self,
        state: LocalState,
        runtime: Runtime,
        ensure_artifact: EnsureArtifact,
        capacity: Capacity,
        wake: asyncio.Event,
        status_changed: asyncio.Event,
        runtime_kinds: str | Iterable[str] = "process",
        fenced: Callable[[], bool] = lambda: False,
    ) -> None:
        self._state, self._runtime, self._ensure_artifact = state, runtime, ensure_artifact
        kinds = {runtime_kinds} if isinstance(runtime_kinds, str) else set(runtime_kinds)
        if not kinds or not kinds <= UNSUPPORTED.keys():
            raise ValueError(f"runtime kinds {sorted(kinds)}: give process, kubernetes or both")
        self.runtime_kinds = frozenset(kinds)
        self.capacity, self._wake, self._status_changed = capacity, wake, status_changed
        self._fenced = fenced
        self.extra_env: Callable[[Object], Mapping[str, str]] | None = None
        """More environment for each assignment's workload (the data plane's)."""
        self.secrets: Callable[[str, Object], Awaitable[Mapping[str, str]]] = _no_secrets
        """An assignment's Secrets as environment (``agent.secrets``): values the
        runtime never writes to disk; a SecretProblem keeps the workload from starting."""
        self.kept: Callable[[Iterable[str]], None] = lambda names: None
        """Told which assignments the site still holds (their Secrets' files stay)."""
        self.problems: dict[str, Problem] = {}
        # The uid each instance was started for: an assignment deleted and created
        # again under the same name starts over at generation 1, so the generation
        # alone would not tell the new one from the old.
        self._uids: dict[str, str] = {}
        self.allocatable = Request(capacity.cpu_millis, capacity.memory_bytes)
        # Work that outlasted STEP_SECONDS, going on in the background: stops by
        # instance key, and an assignment's ensure by its name. Neither is begun again
        # while it runs, and an instance is not started while its key is stopping.
        self._stopping: dict[str, asyncio.Task[None]] = {}
        self._busy: dict[str, asyncio.Task[Problem | None]] = {}

    def state_names(self) -> set[str]:
        return set(self._state.assignments())

    async def run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(RETRY_SECONDS if self.problems else None):
                    await self._wake.wait()
            self._wake.clear()
            try:
                await self.reconcile()
            except Exception:  # one bad pass must not end supervision
                log.exception("reconcile failed; retrying")
                await asyncio.sleep(RETRY_SECONDS)

    async def reconcile(self) -> None:
        desired, problems = readable(self._state.assignments())
        desired, fenced = fenced_out(desired) if self._fenced() else (desired, {})
        wanted = {key for name, obj in desired.items() for key in self._keys(name, obj)}
        # What runs of an assignment the agent cannot read keeps running, as on a bad
        # artifact: only a readable change (or a deletion) replaces it.
        running = self._runtime.keys()
        wanted |= {key for key in running if split_key(key)[0] in problems}
        problems |= fenced
        await self._stop(running - wanted, desired, fenced)
        for name in self._uids.keys() - desired.keys() - problems.keys():
            del self._uids[name]
        self.kept(desired.keys() | problems.keys())
        admitted = self._admit(desired)
        ensuring: dict[str, asyncio.Task[Problem | None]] = {}
        for name, obj in sorted(desired.items()):
            if name in self._busy:  # still at it since an earlier pass
                if name in self.problems:
                    problems[name] = self.problems[name]
                continue
            ensuring[name] = asyncio.create_task(self._ensure_alone(name, obj, admitted))
        await self._within_a_step(ensuring.values())
        for name, task in ensuring.items():
            if not task.done():
                self._background(self._busy, name, task)
            elif problem := task.result():
                problems[name] = problem
        if problems != self.problems:
            self.problems = problems
            self._status_changed.set()

    def _keys(self, name: str, obj: Object) -> list[str]:
        if kind_of(obj) not in self.runtime_kinds:
            return []
        if is_kubernetes(obj):
            return [name]
        return capped_keys(name, obj, self.capacity.instances)

    def _admit(self, desired: Mapping[str, Object]) -> set[str]:
        """Kubernetes assignments under the instance cap, then process instances in the
        host's capacity and what is left of the cap."""
        running, capacity = self._runtime.keys(), self.capacity
        admitted: set[str] = set()
        if "kubernetes" in self.runtime_kinds:
            admitted = admit_count(desired, running, capacity.instances)
        if "process" in self.runtime_kinds:
            processes = {n: obj for n, obj in desired.items() if not is_kubernetes(obj)}
            left = dataclasses.replace(capacity, instances=capacity.instances - len(admitted))
            held, self.allocatable = admit(processes, running, left)
            admitted |= held
        return admitted

    async def _stop(
        self, keys: set[str], desired: Mapping[str, Object], fenced: Mapping[str, Problem]
    ) -> None:
        for key in stop_order(keys):
            name, replica = split_key(key)
            if name in fenced:
                log.warning("%s: the site is fenced: stopping its replica %d", name, replica)
            elif name in desired:
                log.info("%s: replica %d is beyond spec.replicas: stopping it", name, replica)
            else:
                log.info("assignment %s removed: stopping its replica %d", name, replica)
        await self._remove(keys)

    async def _remove(self, keys: set[str]) -> None:
        """Side by side, so that n stubborn replicas take one grace period, not n;
        started highest replica first; waited for at most a step."""
        tasks = []
        for key in stop_order(keys):
            task = self._stopping.get(key)
            if task is None:
                task = asyncio.create_task(self._runtime.remove(key))
                self._background(self._stopping, key, task)
            tasks.append(task)
        await self._within_a_step(tasks)

    @staticmethod
    async def _within_a_step(tasks: Iterable[asyncio.Task[Any]]) -> None:
        if pending := list(tasks):
            await asyncio.wait(pending, timeout=STEP_SECONDS)

    def _background(
        self, where: dict[str, asyncio.Task[Any]], key: str, task: asyncio.Task[Any]
    ) -> None:
        """Track ``task`` under ``key`` until it ends, then pass again."""
        where[key] = task

        def done(_: asyncio.Task[Any]) -> None:
            where.pop(key, None)
            if not task.cancelled() and (error := task.exception()) is not None:
                log.error("%s: %r", key, error)
            self._wake.set()

        task.add_done_callback(done)

    async def _ensure_alone(self, name: str, obj: Object, admitted: set[str]) -> Problem | None:
        """``_ensure``, where an assignment the agent cannot take (whatever it raises)
        fails alone: the others in the pass are still ensured."""
        try:
            return await self._ensure(name, obj, admitted)
        except Exception as e:
            log.exception("%s: cannot run it", name)
            return Problem(
                Phase.FAILED, "AgentError", f"the agent cannot run it ({type(e).__name__})"
            )

    async def _ensure(self, name: str, obj: Object, admitted: set[str]) -> Problem | None:
        if kind_of(obj) not in self.runtime_kinds:
            # Two kinds in all: an agent without this one runs only the other.
            (only,) = self.runtime_kinds
            return Problem(Phase.FAILED, "UnsupportedWorkload", UNSUPPORTED[only])
        if is_kubernetes(obj):
            return await self._ensure_kubernetes(name, obj, admitted)
        workload = obj["spec"]["workload"]["process"]
        keys = [key for key in capped_keys(name, obj, self.capacity.instances) if key in admitted]
        if keys:
            dirs = await self._artifacts(workload.get("artifacts") or [])
            if isinstance(dirs, Problem):
                # An older version that runs keeps running: a bad artifact must not
                # take down what works.
                return dirs
            try:
                private = await self.secrets(name, obj)
            except SecretProblem as e:
                return Problem(Phase.FAILED if e.failed else Phase.PENDING, e.reason, str(e))
            extra = {**(self.extra_env(obj) if self.extra_env else {}), **private}
            await self._restart_if_recreated(name, obj)
            for key in keys:
                if key in self._stopping:  # started once the old one is gone
                    continue
                identity = with_identity(workload, obj, split_key(key)[1], extra)
                spec = InstanceSpec(key, _generation(obj), identity, dirs, frozenset(private))
                await self._runtime.ensure(spec)
        waiting = replicas_of(obj) - len(keys)
        if waiting and len(admitted) >= self.capacity.instances:
            return self._instance_limit(obj, waiting)
        return self._no_room(obj, waiting) if waiting else None

    async def _ensure_kubernetes(
        self, name: str, obj: Object, admitted: set[str]
    ) -> Problem | None:
        if name not in admitted:
            return Problem(
                Phase.PENDING,
                "InstanceLimit",
                f"this site runs at most {self.capacity.instances} assignments in all "
                "(the agent's --max-instances)",
            )
        if name not in self._stopping:  # applied once the old one's objects are gone
            spec = InstanceSpec(name, _generation(obj), kubernetes_workload(obj))
            await self._runtime.ensure(spec)
        return None

    async def _restart_if_recreated(self, name: str, obj: Object) -> None:
        uid = obj["metadata"].get("uid") or ""
        if self._uids.get(name, uid) != uid:
            held = set(filter(lambda key: split_key(key)[0] == name, self._runtime.keys()))
            if held:
                log.info("assignment %s was recreated: restarting its workload", name)
                await self._remove(held)
        self._uids[name] = uid

    def _no_room(self, obj: Object, waiting: int) -> Problem:
        need, left, replicas = requests_of(obj), self.allocatable, replicas_of(obj)
        which = "needs" if replicas == 1 else f"{waiting} of {replicas} replicas wait: each needs"
        return Problem(
            Phase.PENDING,
            "InsufficientCapacity",
            f"{which} cpu {need.cpu_millis}m and memory {need.memory_bytes} bytes; the site "
            f"has {left.cpu_millis}m and {left.memory_bytes} bytes left",
        )

    def _instance_limit(self, obj: Object, waiting: int) -> Problem:
        return Problem(
            Phase.PENDING,
            "InstanceLimit",
            f"{waiting} of {replicas_of(obj)} replicas wait: this site runs at most "
            f"{self.capacity.instances} instances in all (the agent's --max-instances)",
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
