"""How much CPU each instance's processes used, from ``/proc``.

An instance is its process and everything in that process's session: the supervisor
starts each workload in a session of its own (``launch.spawn``), so the session id of
its processes is the leader's pid, and its children stay in it even when they make
process groups of their own (a shell with job control). A process that leaves the
session (``setsid``, a daemon) is no longer the instance's, as it is not for the
SIGKILL the supervisor sends the group when the workload ends.

One pass over ``/proc`` serves every instance (each process's ``stat`` read once),
reading at most ``MAX_SCANNED`` processes: a host with more gives no value at all
rather than a low one, and says so once in the log. The ``/proc/<pid>/task/*/children``
files are not used: kernels without ``CONFIG_PROC_CHILDREN`` lack them, and they lose
a child whose parent exited (re-parented away, yet still in the session).

Blocking (file reads): the runtime calls ``CpuMeter.sample`` in a worker thread.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("edgeplane.agent.runtimes.process")
MAX_SCANNED = 4096
"""Processes read per sample at most: the work of a sample stays bounded whatever the
host (or a fork bomb in a workload) holds."""
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PROC = Path("/proc")


@dataclass(frozen=True)
class Leader:
    """An instance's process as the supervisor knows it: its pid (its session's id)
    and its start time, which tells it from a later process given the same pid."""

    pid: int
    start_ticks: int


@dataclass(frozen=True)
class ProcStat:
    """What a sample reads of one process."""

    session: int
    start_ticks: int
    ticks: int
    """utime + stime + cutime + cstime: the children's time too once they are reaped,
    so a child that ends does not take its time out of the session's sum."""


def read_stat(text: str) -> ProcStat:
    """The fields of ``/proc/<pid>/stat`` a sample needs; ValueError when malformed."""
    # The command name (field 2) may hold spaces and ')': the fields follow the last ')'.
    fields = text[text.rindex(")") + 2 :].split()
    utime, stime, cutime, cstime = (int(f) for f in fields[11:15])
    return ProcStat(int(fields[3]), int(fields[19]), utime + stime + cutime + cstime)


def session_ticks(
    leaders: Mapping[int, int], proc: Path = PROC, limit: int = MAX_SCANNED
) -> dict[int, int] | None:
    """CPU clock ticks used by each session whose leader (pid -> start ticks) is alive
    as recorded; None when ``proc`` lists more than ``limit`` processes (the sums would
    be short). A leader gone, or whose pid now names another process, has no entry."""
    sums: dict[int, int] = {}
    alive: set[int] = set()
    with os.scandir(proc) as entries:
        for scanned, entry in enumerate(e for e in entries if e.name.isdigit()):
            if scanned >= limit:
                return None
            stat = _stat_of(proc / entry.name / "stat")
            if stat is None or stat.session not in leaders:
                continue
            sums[stat.session] = sums.get(stat.session, 0) + stat.ticks
            if int(entry.name) == stat.session and stat.start_ticks == leaders[stat.session]:
                alive.add(stat.session)
    return {session: ticks for session, ticks in sums.items() if session in alive}


def _stat_of(path: Path) -> ProcStat | None:
    try:
        return read_stat(path.read_bytes().decode(errors="replace"))
    except (OSError, ValueError, IndexError):  # gone meanwhile, or not ours to read
        return None


@dataclass(frozen=True)
class Reading:
    """A session's CPU ticks at one moment (monotonic seconds)."""

    leader: Leader
    ticks: int
    at: float


def cores_between(before: Reading | None, after: Reading) -> float | None:
    """Cores used between two readings of the same process; None without an earlier
    one of it (a first sight, or a new process under the same key)."""
    if before is None or before.leader != after.leader or after.at <= before.at:
        return None
    # Never negative: a child re-parented out of the session, and reaped there, takes
    # its time out of the sum.
    used = max(0, after.ticks - before.ticks) / CLOCK_TICKS
    return used / (after.at - before.at)


class CpuMeter:
    """Cores each instance used between two samples of the same process. An instance
    seen for the first time, or with a new process (restarted, replaced), has no value
    until its next sample: one sample alone says nothing of a rate."""

    def __init__(
        self,
        proc: Path = PROC,
        limit: int = MAX_SCANNED,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._proc, self._limit, self._clock = proc, limit, clock
        self._last: dict[str, Reading] = {}
        self._over_logged = False

    def sample(self, leaders: Mapping[str, Leader]) -> dict[str, float]:
        """Cores used by each instance (key -> its leader) since its previous sample.
        Instances not named are forgotten, so what is kept stays as small as the ask."""
        readings = self._read(leaders) if leaders else {}  # no scan of /proc for nothing
        last, self._last = self._last, readings
        cores = {key: cores_between(last.get(key), new) for key, new in readings.items()}
        return {key: used for key, used in cores.items() if used is not None}

    def _read(self, leaders: Mapping[str, Leader]) -> dict[str, Reading]:
        now = self._clock()
        sums = session_ticks(
            {lead.pid: lead.start_ticks for lead in leaders.values()}, self._proc, self._limit
        )
        if sums is None:
            self._say_over()
            return {}
        self._over_logged = False
        return {
            key: Reading(leader, sums[leader.pid], now)
            for key, leader in leaders.items()
            if leader.pid in sums
        }

    def _say_over(self) -> None:
        if not self._over_logged:
            log.warning(
                "more than %d processes on this host: workloads' cpu is not measured "
                "(no cpu metric) until there are fewer",
                self._limit,
            )
            self._over_logged = True
