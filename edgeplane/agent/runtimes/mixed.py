"""Both runtimes behind one: a site that runs processes on its host and applies
manifests to a cluster (a k3s edge box that also runs legacy processes).

``MixedRuntime`` holds a process runtime and a kubernetes runtime and routes each call
to one of them: ``ensure`` by the workload's kind, ``remove``, the logs and the CPU by
which one holds the key; ``keys`` and ``statuses`` are the union. The kubernetes
runtime arrives built (``edgeplane.agent.agent`` imports its package only when asked
for it), so this module imports nothing of Kubernetes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Collection
from pathlib import Path
from typing import Any

from edgeplane.agent.runtimes import CpuUse, InstanceSpec, InstanceStatus, Runtime
from edgeplane.agent.runtimes.process import ProcessRuntime

log = logging.getLogger("edgeplane.agent.runtimes.mixed")


def is_kubernetes_spec(spec: InstanceSpec) -> bool:
    """A kubernetes instance's workload holds manifests; a process's, a command."""
    return "manifests" in spec.workload


def _holds(runtime: Runtime, key: str) -> bool:
    held = runtime.keys()  # a set, not a mapping (a Runtime is not a dict)
    return key in held


class MixedRuntime:
    """A ``Runtime`` over a ``ProcessRuntime`` and a kubernetes one. A key is held by
    at most one of them: an assignment whose workload changed kind is removed from the
    one it ran in before the other runs it."""

    def __init__(self, process: ProcessRuntime, kubernetes: Runtime) -> None:
        self.process, self.kubernetes = process, kubernetes
        self.view: Any = getattr(kubernetes, "view", None)
        """The cluster's facts (a KubernetesRuntime's): the site's capacity and nodes."""
        self._changed = asyncio.Event()
        self._forwards: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        await self.process.start()
        await self.kubernetes.start()
        self._forwards = [
            asyncio.create_task(self._forward(r.changed()), name=f"changes of {name}")
            for name, r in (("process", self.process), ("kubernetes", self.kubernetes))
        ]

    async def close(self) -> None:
        for task in self._forwards:
            task.cancel()
        for task in self._forwards:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._forwards = []
        try:
            await self.kubernetes.close()
        finally:
            await self.process.close()

    async def _forward(self, event: asyncio.Event) -> None:
        """Set this runtime's event whenever ``event`` is set: waits, never polls."""
        while True:
            await event.wait()
            event.clear()
            self._changed.set()

    async def ensure(self, spec: InstanceSpec) -> None:
        target, other = self._route(spec)
        if _holds(other, spec.key):
            log.info("%s: its workload changed kind: removing the old one first", spec.key)
            await other.remove(spec.key)
        await target.ensure(spec)

    def _route(self, spec: InstanceSpec) -> tuple[Runtime, Runtime]:
        if is_kubernetes_spec(spec):
            return self.kubernetes, self.process
        return self.process, self.kubernetes

    async def remove(self, key: str) -> None:
        for runtime in self._holders(key):
            await runtime.remove(key)

    def _holders(self, key: str) -> list[Runtime]:
        return [r for r in (self.kubernetes, self.process) if _holds(r, key)]

    def keys(self) -> set[str]:
        return self.process.keys() | self.kubernetes.keys()

    def statuses(self) -> dict[str, InstanceStatus]:
        return {**self.process.statuses(), **self.kubernetes.statuses()}

    def log_tail(self, key: str, lines: int) -> str:
        if _holds(self.kubernetes, key):
            return self.kubernetes.log_tail(key, lines)
        return self.process.log_tail(key, lines)

    async def read_logs(self, key: str, lines: int) -> str:
        """Pod logs over the network for a kubernetes instance; a process's from its
        file. KeyError when neither holds ``key``."""
        read_logs = getattr(self.kubernetes, "read_logs", None)
        if not _holds(self.kubernetes, key):
            return self.process.log_tail(key, lines)
        if read_logs is None:
            return self.kubernetes.log_tail(key, lines)
        text: str = await read_logs(key, lines)
        return text

    async def sample_cpu(self, keys: Collection[str]) -> dict[str, tuple[CpuUse, ...]]:
        asked = set(keys)
        processes = await self.process.sample_cpu(asked & self.process.keys())
        pods = await self.kubernetes.sample_cpu(asked & self.kubernetes.keys())
        return {**processes, **pods}

    def artifact_dirs(self) -> set[Path]:
        return self.process.artifact_dirs()

    def changed(self) -> asyncio.Event:
        return self._changed
