"""CPU time and resident memory of processes, read from ``/proc`` (Linux).

``fleet.py`` reads the hub's (and PostgreSQL's) CPU as a share of one core over a hold,
and their RSS at its end; ``CpuWindow`` keeps the two readings apart from the math.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` (all its threads)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat.rsplit(")", 1)[1].split()  # the command name may hold spaces
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime: fields 14, 15


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` in MB (VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def pids_with(*needles: str) -> list[int]:
    """Processes whose command line holds every one of ``needles`` (e.g. a port)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if all(n in argv for n in needles):
            found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (an exited child not yet reaped, a zombie, does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (one level)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if parent_of(int(entry.name)) == pid:
                    found.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue  # gone since listed
    return found


def total_cpu(pids: list[int]) -> float:
    """CPU seconds of the processes of ``pids`` still alive."""
    total = 0.0
    for pid in pids:
        try:
            total += cpu_seconds(pid)
        except OSError:
            continue  # gone since listed
    return total


@dataclass
class CpuWindow:
    """CPU of some processes over a wall-clock window, as % of one core."""

    pids: list[int]
    started_cpu: float = 0.0
    started_wall: float = field(default_factory=time.monotonic)

    def start(self) -> None:
        self.started_cpu, self.started_wall = total_cpu(self.pids), time.monotonic()

    def percent(self) -> float:
        wall = time.monotonic() - self.started_wall
        return 100 * (total_cpu(self.pids) - self.started_cpu) / wall if wall > 0 else 0.0
