"""One assignment as the kubernetes runtime holds it (``Instance``), and the status
it reads as: a problem of the last apply first, else the health of its objects. Also
the small pure helpers the runtime renders with (identity, CRD-defined kinds)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from edgeplane.agent.runtimes import InstanceSpec, InstanceStatus, Phase
from edgeplane.agent.runtimes.kubernetes.client import KubeError, ObjectRef
from edgeplane.agent.runtimes.kubernetes.readiness import Summary
from edgeplane.agent.runtimes.kubernetes.records import Record
from edgeplane.agent.runtimes.kubernetes.render import Identity

CRD = "CustomResourceDefinition"


@dataclass(frozen=True)
class Problem:
    phase: Phase
    reason: str
    message: str


@dataclass(eq=False)
class Instance:
    spec: InstanceSpec
    namespace: str
    refs: tuple[ObjectRef, ...] = ()
    """What the assignment rendered (or, adopted, what its inventory holds)."""
    applied: bool = False
    problem: Problem | None = None
    summary: Summary | None = None
    retry_at: float | None = None
    removing: bool = False
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def record(self) -> Record:
        spec = self.spec
        return Record(spec.key, spec.generation, self.namespace, dict(spec.workload), self.applied)


def crd_kinds(manifests: Sequence[Any]) -> set[tuple[str, str]]:
    """(apiVersion, kind) of every kind a CRD among the manifests defines: they are not
    discovered (the cluster learns them from this very apply)."""
    kinds: set[tuple[str, str]] = set()
    for m in manifests:
        if not (isinstance(m, dict) and m.get("kind") == CRD):
            continue
        spec = m.get("spec")
        spec = spec if isinstance(spec, dict) else {}
        group, names = spec.get("group"), spec.get("names")
        kind = names.get("kind") if isinstance(names, dict) else None
        for version in spec.get("versions") or []:
            if isinstance(version, dict) and isinstance(group, str) and isinstance(kind, str):
                kinds.add((f"{group}/{version.get('name')}", kind))
    return kinds


def unreachable(e: KubeError) -> Problem:
    return Problem(
        Phase.PENDING,
        "ClusterUnreachable",
        f"the cluster's apiserver does not answer ({e.message}); retrying",
    )


def same(held: InstanceSpec, spec: InstanceSpec) -> bool:
    return held.generation == spec.generation and dict(held.workload) == dict(spec.workload)


def identity_of(spec: InstanceSpec) -> Identity:
    given: Mapping[str, Any] = spec.workload.get("identity") or {}
    return Identity(
        site=str(given.get("site", "")),
        application=str(given.get("application", "")),
        assignment=spec.key,
        revision=int(given.get("revision") or 1),
    )


def status_of(instance: Instance) -> InstanceStatus:
    key, generation = instance.spec.key, instance.spec.generation
    if (problem := instance.problem) is not None:
        return InstanceStatus(
            key,
            generation,
            problem.phase,
            False,
            reason=problem.reason,
            message=problem.message,
            ready_count=0,
        )
    summary = instance.summary
    if summary is None or not instance.applied:
        return InstanceStatus(key, generation, Phase.STARTING, False, reason="Applying")
    phase = Phase(summary.phase)
    return InstanceStatus(
        key,
        generation,
        phase,
        phase is Phase.RUNNING,
        reason=summary.reason,
        message=summary.message,
        ready_count=summary.ready,
    )
