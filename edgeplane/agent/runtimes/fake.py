"""``FakeRuntime``: the Runtime protocol in memory, for unit tests of what drives a
runtime (the reconciler). Every ensure "runs" at once; calls are recorded.

It keeps the protocol's promises as the process runtime does (both pass
``tests/unit/agent/runtimes/test_contract.py``): each start gets a new pid, a new
generation of the same workload is taken on in place, every status change sets
``changed()``, and a fake made over the ``FakeRecords`` of one that closed adopts what
it left running. Its CPU is what a test sets in ``cpu``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import time
from collections.abc import Collection

from edgeplane.agent.runtimes import CpuUse, InstanceSpec, InstanceStatus, Phase

FakeRecords = dict[str, tuple[InstanceSpec, InstanceStatus]]
"""What outlives a fake runtime (the process runtime's records): the spec and status
of each instance it left running, by key."""

_pids = itertools.count(100_000)


class FakeRuntime:
    def __init__(self, records: FakeRecords | None = None) -> None:
        self.specs: dict[str, InstanceSpec] = {}
        self.starts: list[tuple[str, int]] = []
        self.removed: list[str] = []
        self.records: FakeRecords = {} if records is None else records
        self._statuses: dict[str, InstanceStatus] = {}
        self._changed = asyncio.Event()
        self.cpu: dict[str, tuple[CpuUse, ...]] = {}
        """What ``sample_cpu`` answers for each key (a test sets it)."""
        self.cpu_asked: list[set[str]] = []

    async def start(self) -> None:
        """Adopt what the records say still runs: no start, the same pid."""
        for key, (spec, status) in self.records.items():
            self.specs[key], self._statuses[key] = spec, status
            self._changed.set()

    async def close(self) -> None:
        return None

    async def ensure(self, spec: InstanceSpec) -> None:
        held, status = self.specs.get(spec.key), self._statuses.get(spec.key)
        if status is not None and status.generation == spec.generation:
            self.specs[spec.key] = spec
        elif held is not None and status is not None and _runs_the_same(held, spec):
            self._set(spec, dataclasses.replace(status, generation=spec.generation))
        else:
            self.starts.append((spec.key, spec.generation))
            self._set(spec, _started(spec))

    def _set(self, spec: InstanceSpec, status: InstanceStatus) -> None:
        self.specs[spec.key], self._statuses[spec.key] = spec, status
        self.records[spec.key] = (spec, status)
        self._changed.set()

    async def remove(self, key: str) -> None:
        self.specs.pop(key, None)
        self.records.pop(key, None)
        if self._statuses.pop(key, None) is not None:
            self.removed.append(key)
            self._changed.set()

    def keys(self) -> set[str]:
        return set(self._statuses)

    def statuses(self) -> dict[str, InstanceStatus]:
        return dict(self._statuses)

    def log_tail(self, key: str, lines: int) -> str:
        if key not in self._statuses:
            raise KeyError(key)
        return f"{key}: {lines} lines\n"

    def changed(self) -> asyncio.Event:
        return self._changed

    async def sample_cpu(self, keys: Collection[str]) -> dict[str, tuple[CpuUse, ...]]:
        self.cpu_asked.append(set(keys))
        return {key: self.cpu[key] for key in keys if key in self.cpu}


def _runs_the_same(held: InstanceSpec, spec: InstanceSpec) -> bool:
    return (held.workload, held.artifact_dirs) == (spec.workload, spec.artifact_dirs)


def _started(spec: InstanceSpec) -> InstanceStatus:
    """A new start: a pid of its own, running (and ready) at once."""
    now = time.time()
    return InstanceStatus(
        spec.key, spec.generation, Phase.RUNNING, True, pid=next(_pids), started_at=now
    )
