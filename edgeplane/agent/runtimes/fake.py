"""``FakeRuntime``: the Runtime protocol in memory, for unit tests of what drives a
runtime (the reconciler). Every ensure "runs" at once; calls are recorded."""

from __future__ import annotations

import asyncio

from edgeplane.agent.runtimes import InstanceSpec, InstanceStatus, Phase


class FakeRuntime:
    def __init__(self) -> None:
        self.specs: dict[str, InstanceSpec] = {}
        self.starts: list[tuple[str, int]] = []
        self.removed: list[str] = []
        self._changed = asyncio.Event()

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def ensure(self, spec: InstanceSpec) -> None:
        held = self.specs.get(spec.key)
        same = held is not None and (held.workload, held.artifact_dirs) == (
            spec.workload,
            spec.artifact_dirs,
        )
        if held is None or (held.generation != spec.generation and not same):
            self.starts.append((spec.key, spec.generation))
            self._changed.set()
        self.specs[spec.key] = spec

    async def remove(self, key: str) -> None:
        if self.specs.pop(key, None) is not None:
            self.removed.append(key)
            self._changed.set()

    def keys(self) -> set[str]:
        return set(self.specs)

    def statuses(self) -> dict[str, InstanceStatus]:
        return {
            key: InstanceStatus(key, spec.generation, Phase.RUNNING, True)
            for key, spec in self.specs.items()
        }

    def log_tail(self, key: str, lines: int) -> str:
        if key not in self.specs:
            raise KeyError(key)
        return f"{key}: {lines} lines\n"

    def changed(self) -> asyncio.Event:
        return self._changed
