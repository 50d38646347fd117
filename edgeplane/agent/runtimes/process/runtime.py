"""``ProcessRuntime``: the ``Runtime`` protocol over supervised OS processes.

Holds one ``Supervisor`` per instance, adopts what its records say still runs, and
rotates logs. Its directory::

    instances/<key>.json   records (``records``), 0600 in a 0700 directory
    logs/<key>.log[.N]     what each workload writes (``logs``), likewise

and, in another tree (``work_dir``, by default ``<directory>/work``; the agent puts it
outside its data dir, see ``edgeplane.agent.layout``)::

    <key>/                 the working directory of a workload without artifacts
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
from collections.abc import Collection
from pathlib import Path

from edgeplane.agent.runtimes import CpuUse, InstanceSpec, InstanceStatus
from edgeplane.agent.runtimes.process.cpu import CpuMeter, Leader
from edgeplane.agent.runtimes.process.logs import LogFiles
from edgeplane.agent.runtimes.process.records import Record, RecordStore, check_key
from edgeplane.agent.runtimes.process.supervisor import Supervisor, Timings

log = logging.getLogger("edgeplane.agent.runtimes.process")


def runs_the_same(record: Record, spec: InstanceSpec) -> bool:
    """Whether ``spec`` would start the very process the record describes."""
    dirs = {name: str(path) for name, path in spec.artifact_dirs.items()}
    return record.workload == dict(spec.workload) and record.artifact_dirs == dirs


class ProcessRuntime:
    def __init__(
        self,
        directory: Path,
        *,
        timings: Timings = Timings(),
        work_dir: Path | None = None,
        private_dir: Path | None = None,
        log_max_bytes: int = 10 * 1024 * 1024,
        log_keep: int = 3,
        log_check_seconds: float = 1.0,
    ) -> None:
        self.directory = directory
        self.work_dir = directory / "work" if work_dir is None else work_dir
        self.private_dir = private_dir
        """The agent's data dir: no workload may run in it (see ``Supervisor``)."""
        self._records = RecordStore(directory / "instances")
        self._logs = LogFiles(directory / "logs", log_max_bytes, log_keep)
        self._timings, self._log_check_seconds = timings, log_check_seconds
        self._supervisors: dict[str, Supervisor] = {}
        self._changed = asyncio.Event()
        self._housekeeping: asyncio.Task[None] | None = None
        self._cpu = CpuMeter()

    async def start(self) -> None:
        for record in self._records.load_all():
            self._supervise(record)
        self._housekeeping = asyncio.create_task(self._rotate_logs(), name="rotate logs")

    async def close(self) -> None:
        if self._housekeeping is not None:
            self._housekeeping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._housekeeping
        for supervisor in self._supervisors.values():
            await supervisor.detach()
        self._supervisors.clear()

    async def ensure(self, spec: InstanceSpec) -> None:
        check_key(spec.key)
        current = self._supervisors.get(spec.key)
        if current is not None and current.record.generation == spec.generation:
            if current.record.private_env:  # read back from disk without their values
                current.record.workload = dict(spec.workload)
            return
        if current is not None and runs_the_same(current.record, spec):
            # Nothing this instance runs changed (the assignment's replicas, revision or
            # resources did): a scale-up or -down must not restart the replicas that stay.
            current.relabel(spec.generation)
            return
        ports: dict[str, int] = {}
        if current is not None:
            log.info(
                "%s: generation %d -> %d: replacing it",
                spec.key,
                current.record.generation,
                spec.generation,
            )
            await current.stop()
            ports = current.record.ports  # clients keep finding it where it was
        record = Record(
            spec.key,
            spec.generation,
            dict(spec.workload),
            {name: str(path) for name, path in spec.artifact_dirs.items()},
            ports,
            private_env=sorted(spec.private_env),
        )
        self._records.save(record)
        self._supervise(record)

    async def remove(self, key: str) -> None:
        supervisor = self._supervisors.pop(key, None)
        if supervisor is not None:
            await supervisor.stop()
        self._records.delete(key)
        self._logs.delete(key)
        # Off the event loop: the workload decides how many files its directory holds,
        # and a million of them took the agent (probes, heartbeats) away for a minute.
        await asyncio.to_thread(shutil.rmtree, self._own_dir(key), ignore_errors=True)
        self._changed.set()

    def keys(self) -> set[str]:
        return set(self._supervisors)

    def artifact_dirs(self) -> set[Path]:
        """The artifact directories the instances it holds were started with (an older
        version that runs while a newer one is refused among them)."""
        return {
            Path(d) for s in self._supervisors.values() for d in s.record.artifact_dirs.values()
        }

    def statuses(self) -> dict[str, InstanceStatus]:
        return {key: s.status for key, s in self._supervisors.items()}

    def log_tail(self, key: str, lines: int) -> str:
        if key not in self._supervisors:
            raise KeyError(key)
        return self._logs.tail(key, lines)

    def changed(self) -> asyncio.Event:
        return self._changed

    async def sample_cpu(self, keys: Collection[str]) -> dict[str, tuple[CpuUse, ...]]:
        """The cores each ready instance of ``keys`` used since the previous call (its
        process and its session's, ``cpu``); in a worker thread, /proc being files."""
        leaders = {key: leader for key in keys if (leader := self._leader(key)) is not None}
        cores = await asyncio.to_thread(self._cpu.sample, leaders)
        return {key: (CpuUse(used),) for key, used in cores.items()}

    def _leader(self, key: str) -> Leader | None:
        supervisor = self._supervisors.get(key)
        if supervisor is None or not supervisor.status.ready:
            return None
        record = supervisor.record
        if record.pid is None or record.start_ticks is None:
            return None
        return Leader(record.pid, record.start_ticks)

    def supervision_errors(self) -> int:
        """Unexpected exceptions the supervisors survived (each one logged)."""
        return sum(s.errors for s in self._supervisors.values())

    def _supervise(self, record: Record) -> None:
        supervisor = Supervisor(
            record,
            self._records,
            self._logs,
            self._own_dir(record.key),
            self._timings,
            self._changed.set,
            self.private_dir,
        )
        self._supervisors[record.key] = supervisor
        supervisor.begin()
        self._changed.set()

    def _own_dir(self, key: str) -> Path:
        return self.work_dir / check_key(key)

    async def _rotate_logs(self) -> None:
        while True:
            await asyncio.sleep(self._log_check_seconds)
            for key in list(self._supervisors):
                try:
                    self._logs.rotate_if_large(key)
                except Exception:  # a full disk (or anything) must not end rotation
                    log.exception("%s: log not rotated", key)
