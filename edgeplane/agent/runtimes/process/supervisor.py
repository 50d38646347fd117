"""One instance under supervision: start it (or adopt it), watch it exit or fail its
health check, restart it per its policy with backoff, and stop it on request.

The supervisor owns the instance's record and status; the runtime (``runtime``) owns
the set of supervisors. How to launch is in ``launch``, when to restart in
``restarts``, how to probe in ``probes``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import math
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edgeplane.agent.identity import DEVICES_ENV, DEVICES_FILE, DEVICES_FILE_ENV
from edgeplane.agent.runtimes import Endpoint, InstanceStatus, Phase
from edgeplane.agent.runtimes.process.accounts import Account, RunAsError, resolve_run_as
from edgeplane.agent.runtimes.process.launch import (
    Launch,
    allocate_ports,
    inherited_env,
    plan_launch,
    port_key,
    spawn,
)
from edgeplane.agent.runtimes.process.logs import LogFiles
from edgeplane.agent.runtimes.process.probes import (
    STARTUP_PROBE_SECONDS,
    HealthCheck,
    ProbeFailed,
    probe,
)
from edgeplane.agent.runtimes.process.processes import ProcessHandle, is_ours
from edgeplane.agent.runtimes.process.records import Record, RecordStore
from edgeplane.agent.runtimes.process.restarts import (
    Ending,
    RestartBackoff,
    crash_loop_message,
    exit_ending,
    final_phase,
    should_restart,
)

log = logging.getLogger("edgeplane.agent.runtimes.process")


@dataclass(frozen=True)
class Timings:
    """The runtime's clock settings; tests shrink them."""

    poll_seconds: float = 0.5
    """How often a process is checked for exit (an adopted one cannot be waited for)."""
    backoff_initial: float = 1.0
    backoff_cap: float = 60.0
    backoff_reset: float = 60.0
    default_grace: float = 10.0


LOGGED_CHARS = 512


def shown(text: str) -> str:
    """Workload-given text as the agent logs it: cut at ``LOGGED_CHARS`` and with its
    control characters escaped, so a 1 MiB command line does not write 1 MiB to the
    agent's log on every restart, nor an escape sequence reach whoever reads it."""
    cut = text if len(text) <= LOGGED_CHARS else f"{text[:LOGGED_CHARS]}... [cut]"
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in cut)


class Supervisor:
    def __init__(
        self,
        record: Record,
        records: RecordStore,
        logs: LogFiles,
        own_dir: Path,
        timings: Timings,
        notify: Callable[[], None],
        private_dir: Path | None = None,
    ) -> None:
        self.record, self._records, self._logs, self._timings = record, records, logs, timings
        self._own_dir, self._notify, self._private_dir = own_dir, notify, private_dir
        workload = record.workload
        self._check = HealthCheck.parse(workload.get("healthCheck"))
        self._policy = str(workload.get("restartPolicy") or "Always")
        self._backoff = RestartBackoff(
            timings.backoff_initial, timings.backoff_cap, timings.backoff_reset
        )
        self._handle: ProcessHandle | None = None
        self._task: asyncio.Task[None] | None = None
        self._account: Account | None = None
        self.errors = 0
        """Unexpected exceptions survived (logged with their stack): supervision goes on."""
        self.status = InstanceStatus(
            record.key, record.generation, Phase.STARTING, False, record.restarts
        )

    # -- lifecycle, called by the runtime ---------------------------------------------

    def begin(self) -> None:
        """Adopt the recorded process when it is still ours, else (re)start per policy."""
        record, ending = self.record, None
        if record.finished:
            self._set(
                phase=Phase(record.finished["phase"]),
                reason=record.finished.get("reason"),
                message=record.finished.get("message"),
            )
            return
        if record.pid is not None and record.start_ticks is not None:
            if is_ours(record.pid, record.start_ticks):
                self._handle = ProcessHandle(record.pid, record.start_ticks)
                log.info("%s: adopted pid %d", record.key, record.pid)
            else:
                ending = exit_ending(None)
        self._task = asyncio.create_task(self._run(ending), name=f"supervise {record.key}")

    def relabel(self, generation: int) -> None:
        """Take on a new generation whose workload is the same, without a restart."""
        self._save(generation=generation)
        self._set(generation=generation)

    async def detach(self) -> None:
        """Stop supervising; the process keeps running and its record stays."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def stop(self) -> None:
        """Stop supervising and stop the process (SIGTERM, grace, SIGKILL)."""
        await self.detach()
        if self._handle is not None:
            await self._handle.stop(self._grace(), self._timings.poll_seconds)
            self._handle = None

    # -- the supervision loop ----------------------------------------------------------

    async def _run(self, ending: Ending | None) -> None:
        ran_for = 0.0
        while True:
            try:
                if ending is not None:
                    if not should_restart(self._policy, ending):
                        self._finish(ending)
                        return
                    await self._back_off(ending, ran_for)
                started = time.monotonic()
                ending = await self._run_once()
                ran_for = time.monotonic() - started
            except Exception as e:  # nothing may end supervision but stop() (a cancel)
                ending, ran_for = await self._survive(e), 0.0

    async def _survive(self, error: Exception) -> Ending:
        """An unexpected failure counts as a failed run: the process (if any) goes, as
        after an exit, and the restart policy and backoff decide what comes next."""
        self.errors += 1
        log.exception(
            "%s: supervision failed (%d so far), carrying on", self.record.key, self.errors
        )
        handle, self._handle = self._handle, None
        with contextlib.suppress(Exception):
            if handle is not None:  # killed and reaped (no zombie left per failure)
                async with asyncio.timeout(self._grace() + 5.0):
                    await handle.stop(0.0, self._timings.poll_seconds)
        with contextlib.suppress(Exception):
            self._save(pid=None, start_ticks=None)
        # Never a busy loop, even when the failure recurs before the backoff's own wait.
        await asyncio.sleep(self._timings.backoff_initial)
        message = f"the agent failed supervising it ({type(error).__name__})"
        return Ending(None, "SupervisionError", message)

    async def _run_once(self) -> Ending:
        if self._handle is None:
            try:
                self._start()
            except RunAsError as e:
                return Ending(None, "RunAsFailed", str(e))
            except (OSError, ValueError) as e:
                # ValueError: exec cannot take it (a NUL in the command, an argument, an
                # env value or the working directory): the assignment's fault, not ours.
                return Ending(None, "StartError", f"cannot start {self._launch().argv[0]}: {e}")
        self._set(
            phase=Phase.RUNNING,
            ready=self._check is None,
            reason=None,
            message=None,
            pid=self.record.pid,
            started_at=self.record.started_at,
        )
        assert self._handle is not None
        ending = await self._watch(self._handle)
        # Whatever the workload left in its session goes with it, as in a container.
        self._handle.signal_group(signal.SIGKILL)
        self._handle = None
        self._save(pid=None, start_ticks=None)
        return ending

    async def _watch(self, handle: ProcessHandle) -> Ending:
        """Until the process exits, or fails its health check too often (then stopped)."""
        exited = asyncio.create_task(handle.wait(self._timings.poll_seconds))
        watchers = {exited}
        if self._check is not None:
            watchers.add(asyncio.create_task(self._probe_until_failed(self._check)))  # type: ignore[arg-type]
        try:
            done, _ = await asyncio.wait(watchers, return_when=asyncio.FIRST_COMPLETED)
            if exited in done:
                return exit_ending(exited.result())
            ending: Ending = done.pop().result()  # type: ignore[assignment]
            self._set(
                phase=Phase.UNHEALTHY,
                ready=False,
                reason=ending.reason,
                message=f"{ending.message}; stopping it",
            )
            await handle.stop(self._grace(), self._timings.poll_seconds)
            return ending
        finally:
            for task in watchers:
                task.cancel()

    async def _probe_until_failed(self, check: HealthCheck) -> Ending:
        failures, passed, counted_at = 0, False, -math.inf
        while True:
            try:
                await self._probe_once(check)
                failures, passed = 0, True
                self._set(phase=Phase.RUNNING, ready=True, reason=None, message=None)
            except ProbeFailed as e:
                # Until its first pass it is probed every second so that it turns ready
                # soon, but failures count once a period, as they would in Kubernetes.
                now = time.monotonic()
                if passed or now - counted_at >= check.period:
                    failures, counted_at = failures + 1, now
                if failures >= check.failure_threshold:
                    return Ending(None, "Unhealthy", f"{e} ({failures} times in a row)", True)
                # Before its first pass a workload is starting, not sick.
                phase = Phase.UNHEALTHY if passed else Phase.RUNNING
                self._set(phase=phase, ready=False, reason="HealthCheckFailed", message=str(e))
            await asyncio.sleep(
                check.period if passed else min(check.period, STARTUP_PROBE_SECONDS)
            )

    async def _probe_once(self, check: HealthCheck) -> None:
        """One probe; any exception at all is a failed probe (counted and logged when
        it is not an ordinary ``ProbeFailed``), never the end of the probing task."""
        try:
            # An adopted process was started by an earlier agent: look its account up.
            account = self._account or resolve_run_as(self.record.workload.get("runAs"))
            launch = self._launch()
            await probe(check, self.record.ports, launch.env, account, str(launch.cwd))
        except ProbeFailed:
            raise
        except RunAsError as e:
            raise ProbeFailed(str(e)) from e
        except Exception as e:
            self.errors += 1
            log.exception("%s: health check raised (%d so far)", self.record.key, self.errors)
            raise ProbeFailed(f"{check.kind} health check failed: {type(e).__name__}") from e

    async def _back_off(self, ending: Ending, ran_for: float) -> None:
        delay = self._backoff.delay(ran_for)
        phase = Phase.UNHEALTHY if ending.unhealthy else Phase.CRASH_LOOP
        message = crash_loop_message(ending, delay, self.record.restarts + 1)
        self._set(phase=phase, ready=False, reason=ending.reason, message=message, pid=None)
        log.info("%s: %s", self.record.key, shown(message))
        await asyncio.sleep(delay)
        self._save(restarts=self.record.restarts + 1)
        self._set(restarts=self.record.restarts)

    def _finish(self, ending: Ending) -> None:
        phase = final_phase(ending)
        self._save(
            finished={"phase": phase.value, "reason": ending.reason, "message": ending.message}
        )
        self._set(phase=phase, ready=False, reason=ending.reason, message=ending.message, pid=None)

    def _start(self) -> None:
        record = self.record
        self._account = resolve_run_as(record.workload.get("runAs"))
        ports = allocate_ports(record.workload.get("ports") or [], record.ports)
        self._save(ports=ports)
        launch = self._launch()
        self._prepare_cwd(launch.cwd)
        self._write_devices(launch.env.get(DEVICES_ENV))
        self._logs.rotate_if_large(record.key)
        log_fd = self._logs.open_for_append(record.key)
        try:
            pid = spawn(launch, log_fd, self._account)
        finally:
            os.close(log_fd)
        self._handle = ProcessHandle.of(pid)
        self._save(pid=pid, start_ticks=self._handle.start_ticks, started_at=time.time())
        log.info("%s: started pid %d: %s", record.key, pid, shown(" ".join(launch.argv)))

    # -- helpers ---------------------------------------------------------------------

    def _write_devices(self, listed: str | None) -> None:
        """The devices this instance was given, as ``devices.json`` in its own
        directory (``$EDGEPLANE_DEVICES_FILE``), readable by its user alone. That
        directory is the workload's: what it left under the name (a FIFO would block
        the open, a symlink redirect the write or the chown) is removed, and the file
        made anew, never followed, and owned through its descriptor."""
        path = self._own_dir / DEVICES_FILE
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        if listed is None:
            return
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_NONBLOCK
        fd = os.open(path, flags, 0o600)
        try:
            if self._account is not None:
                os.fchown(fd, self._account.uid, self._account.gid)
            data = listed.encode()
            while data:
                data = data[os.write(fd, data) :]
        finally:
            os.close(fd)

    def _prepare_cwd(self, cwd: Path) -> None:
        """The workload's own directory (``$EDGEPLANE_WORK_DIR``, its working directory
        when it has no artifact) is its user's alone, 0700: the one place a ``runAs``
        workload can write besides /tmp. Another working directory (in an artifact, or
        named by workingDir) is made if missing, unless it lies in the agent's data
        dir: a workingDir of ``/var/lib/edgeplane`` (or ``../../..`` from an artifact)
        would run the workload among the credential and ``state.db``."""
        if (private := self._private_dir) is not None:
            where = cwd.resolve()
            inside = private.resolve()
            if where == inside or inside in where.parents:
                raise ValueError(
                    f"its working directory {cwd} lies in the agent's data dir {private}, "
                    "which holds the site's credential: give workingDir another directory"
                )
        own = self._own_dir
        own.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(own, 0o700)
        if self._account is not None:
            os.chown(own, self._account.uid, self._account.gid)
        if cwd != own:
            cwd.mkdir(parents=True, exist_ok=True)

    def _launch(self) -> Launch:
        record = self.record
        dirs = {name: Path(d) for name, d in record.artifact_dirs.items()}
        inherited = inherited_env(os.environ)
        if self._account is not None:
            inherited.update(self._account.env())
        inherited["EDGEPLANE_WORK_DIR"] = str(self._own_dir)
        launch = plan_launch(record.workload, dirs, record.ports, self._own_dir, inherited)
        if DEVICES_ENV in launch.env:
            launch.env[DEVICES_FILE_ENV] = str(self._own_dir / DEVICES_FILE)
        return launch

    def _grace(self) -> float:
        grace = self.record.workload.get("terminationGracePeriodSeconds")
        return self._timings.default_grace if grace is None else float(grace)

    def _save(self, **changes: object) -> None:
        self.record = dataclasses.replace(self.record, **changes)  # type: ignore[arg-type]
        self._records.save(self.record)

    def _set(self, **changes: object) -> None:
        status = dataclasses.replace(self.status, **changes)  # type: ignore[arg-type]
        status = dataclasses.replace(status, endpoints=self._endpoints())
        if status != self.status:
            self.status = status
            self._notify()

    def _endpoints(self) -> tuple[Endpoint, ...]:
        ports = enumerate(self.record.workload.get("ports") or [])
        return tuple(
            Endpoint(port.get("name"), self.record.ports[port_key(i, port)])
            for i, port in ports
            if port_key(i, port) in self.record.ports
        )
