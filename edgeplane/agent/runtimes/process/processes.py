"""Watching and stopping a process by pid, whether or not the agent is its parent.

A workload outlives the agent that started it, so a restarted agent holds only a pid
from its records. ``waitpid`` answers for our own children (and gives the exit code);
for adopted ones the runtime reads ``/proc`` instead, and the exit code is unknown.
The start time in ``/proc/<pid>/stat`` tells our process from a later one that reused
its pid: nothing is signalled unless it matches.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from dataclasses import dataclass

UNKNOWN_EXIT: int | None = None


def proc_stat(pid: int) -> tuple[str, int] | None:
    """(state letter, start time in clock ticks since boot), or None when no such pid."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            text = f.read().decode(errors="replace")
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    fields = text[text.rindex(")") + 2 :].split()
    return fields[0], int(fields[19])


def is_ours(pid: int, start_ticks: int) -> bool:
    """Alive, not a zombie, and the very process we started (same start time)."""
    stat = proc_stat(pid)
    return stat is not None and stat[0] != "Z" and stat[1] == start_ticks


@dataclass
class ProcessHandle:
    pid: int
    start_ticks: int

    @classmethod
    def of(cls, pid: int) -> ProcessHandle:
        stat = proc_stat(pid)
        return cls(pid, stat[1] if stat else -1)

    def reap(self) -> tuple[bool, int | None]:
        """(exited, exit code). The code is known only for our own children: for an
        adopted process ``waitpid`` fails and ``/proc`` tells only that it is gone."""
        try:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:
            return not is_ours(self.pid, self.start_ticks), UNKNOWN_EXIT
        if pid == 0:
            return False, None
        return True, os.waitstatus_to_exitcode(status)

    async def wait(self, poll_seconds: float) -> int | None:
        """Until the process exits; its exit code (negative for a signal) or None."""
        while True:
            exited, code = self.reap()
            if exited:
                return code
            await asyncio.sleep(poll_seconds)

    def signal_group(self, sig: signal.Signals) -> None:
        """Signal the whole session (the workload's own children too); its group id is
        the pid (``setsid``). A group whose leader is gone is still signalled: while it
        has members the kernel does not hand its number to a new process. But when the
        pid now names another process, our group was empty when it was reused, and
        that group is someone else's."""
        stat = proc_stat(self.pid)
        if stat is not None and stat[1] != self.start_ticks:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)

    async def stop(self, grace_seconds: float, poll_seconds: float) -> int | None:
        """SIGTERM the group, wait the grace period, then SIGKILL what is left."""
        exited, code = self.reap()
        if not exited:
            self.signal_group(signal.SIGTERM)
            deadline = time.monotonic() + grace_seconds
            while not exited and time.monotonic() < deadline:
                await asyncio.sleep(min(poll_seconds, max(0.0, deadline - time.monotonic())))
                exited, code = self.reap()
        self.signal_group(signal.SIGKILL)
        if not exited:
            code = await self.wait(poll_seconds)
        return code
