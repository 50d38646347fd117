"""The harness's processes seen from outside: which binary a pid runs, whether a group
is still alive, stopping groups (``Fleet.down`` of clusters an earlier run left)."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path


def binary_of(process: str) -> str:
    """The binary a cluster's process runs: a pool's ``kwok-<pool>`` runs ``kwok``."""
    return "kwok" if process.startswith("kwok") else process


def runs(pid: int, binary: str) -> bool:
    """Whether process ``pid`` still runs ``binary`` (its pid was not reused by another)."""
    try:
        argv0 = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0", 1)[0]
    except OSError:
        return False
    return Path(argv0.decode(errors="replace")).name == binary


def _leader_alive(pgid: int) -> bool:
    """Whether the group's leader still runs; an exited one that its (adopting) parent
    has not reaped yet is a zombie, and counts as stopped."""
    try:
        stat = Path(f"/proc/{pgid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def stop_groups(pgids: list[int], grace: float = 10) -> None:
    """SIGTERM each process group, then SIGKILL what is still there after ``grace``."""
    alive = set(pgids)
    for pgid in pgids:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while alive and time.monotonic() < deadline:
        alive = {pgid for pgid in alive if _leader_alive(pgid)}
        time.sleep(0.05)
    for pgid in alive:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
