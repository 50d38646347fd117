"""Runtime drivers, one per module behind one small protocol (process, kubernetes).

The agent's reconciler tells a runtime what should run (``ensure``/``remove``) and
reads back what does (``statuses``); the agent's metering asks it what CPU its
instances use (``sample_cpu``). A runtime supervises on its own between calls:
it restarts, health-checks and rotates logs without the hub and without the
reconciler, and it keeps records in its directory so that a restarted agent adopts
running workloads instead of starting them again.

Drivers: ``process`` (supervised OS processes) and ``kubernetes`` (server-side apply
into a cluster or a node pool of one; imported only by an agent started with
``--runtime kubernetes``). ``fake`` is an in-memory runtime for unit tests of what
drives one.

Workloads arrive as the wire dicts of ``Assignment.spec.workload`` (already validated
by the hub); nothing here imports pydantic, to keep the agent small.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol


class Phase(enum.StrEnum):
    PENDING = "Pending"
    STARTING = "Starting"
    RUNNING = "Running"
    UNHEALTHY = "Unhealthy"
    CRASH_LOOP = "CrashLoopBackOff"
    FAILED = "Failed"
    SUCCEEDED = "Succeeded"


@dataclass(frozen=True)
class InstanceSpec:
    """One workload to run: an assignment's rendered spec, plus where its artifacts are."""

    key: str
    """Unique at the site: the assignment's name for its replica 0, else
    ``<assignment>_<replica>`` (see ``edgeplane.agent.replicas``)."""
    generation: int
    """The assignment's ``metadata.generation``: a different one means restart with the new spec."""
    workload: Mapping[str, Any]
    """``spec.workload.process`` as wire data: command, args, env, workingDir, ports,
    healthCheck, restartPolicy, artifacts, terminationGracePeriodSeconds; or, for the
    kubernetes runtime, ``spec.workload.kubernetes`` (manifests, namespace, force,
    allowedNamespaces) plus ``identity`` (site, application, assignment, revision)."""
    artifact_dirs: Mapping[str, Path] = field(default_factory=dict)
    """Artifact name -> the directory it is unpacked in."""
    private_env: frozenset[str] = frozenset()
    """Names in ``workload.env`` whose values (a Secret's) are never written to disk:
    the process runtime's record keeps them empty, and the reconciler gives them again."""


@dataclass(frozen=True)
class Endpoint:
    name: str | None
    port: int


@dataclass(frozen=True)
class InstanceStatus:
    key: str
    generation: int
    phase: Phase
    ready: bool
    restarts: int = 0
    reason: str | None = None
    message: str | None = None
    pid: int | None = None
    started_at: float | None = None
    """Unix time the current process started."""
    endpoints: tuple[Endpoint, ...] = ()
    ready_count: int | None = None
    """How many replicas are ready, for an instance that runs several (a Kubernetes
    assignment's pods); None: ``ready`` says it for the one process."""


@dataclass(frozen=True)
class CpuUse:
    """The CPU one ready replica used over the last sampling period."""

    cores: float
    """Cores used on average: 1.0 is one core busy the whole period."""
    requested: float | None = None
    """The cores it requested, when the runtime knows them (a pod's own requests);
    None: the assignment's ``spec.resources.cpu``."""


class Runtime(Protocol):
    async def start(self) -> None:
        """Adopt what the records say still runs, then begin supervising."""

    async def close(self) -> None:
        """Stop supervising and leave workloads running (they outlive the agent)."""

    async def ensure(self, spec: InstanceSpec) -> None:
        """Run this instance: start it, or leave it when it already runs at this
        generation, or stop the old one and start this when the generation differs.
        A new generation with the same workload and artifact directories is taken on
        in place (its status reads the new generation) and restarts nothing."""

    async def remove(self, key: str) -> None:
        """Stop the instance (SIGTERM, the grace period, then SIGKILL) and forget it."""

    def keys(self) -> set[str]:
        """The instances this runtime holds, running or not."""

    def statuses(self) -> dict[str, InstanceStatus]:
        """The current state of every instance, by key."""

    def log_tail(self, key: str, lines: int) -> str:
        """The last ``lines`` lines of the instance's log; KeyError when unknown."""

    def changed(self) -> Any:
        """An ``asyncio.Event`` set whenever any status changes (the caller clears it)."""

    async def sample_cpu(self, keys: Collection[str]) -> dict[str, tuple[CpuUse, ...]]:
        """The CPU each of these instances used since the previous call, by key: one
        use per ready replica measured (a process instance: its one; a kubernetes
        instance: each Ready pod the cluster's metrics API has). No entry, or none in
        it: nothing to say yet (a process seen for the first time, no metrics API).
        Keys not asked are forgotten, so the runtime keeps no more than it is asked."""


RuntimeDir = Path
"""The directory a runtime keeps its records and logs in (``<data-dir>/runtime/<name>``)."""
