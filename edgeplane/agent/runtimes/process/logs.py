"""Workload logs: one file per instance that the process itself appends to, rotated
copy-and-truncate style, and read back from the end.

The workload holds the log open (O_APPEND) and never learns about rotation, so the
file cannot be renamed under it: it is copied to ``.1`` and truncated in place. Lines
written between the copy and the truncation are lost; that is the price of logs that
keep flowing while the agent is down.

A workload may write as fast as the disk takes it, and in lines of any length: a
rotated generation keeps only the last ``max_bytes`` of what the live log held (so the
generations are bounded, and the copy, on the agent's event loop, is too), and a tail
reads at most ``MAX_TAIL_BYTES`` however few newlines the log has.
"""

from __future__ import annotations

import os
from pathlib import Path

from edgeplane.agent.layout import open_private, private_dir

BLOCK = 64 * 1024
MAX_TAIL_BYTES = 4 * 1024 * 1024
"""The most a tail reads (and answers): a log without newlines must not be read whole
into the agent's memory. Below the hub's 16 MiB cap on a relayed answer."""


class LogFiles:
    def __init__(self, directory: Path, max_bytes: int = 10 * 1024 * 1024, keep: int = 3) -> None:
        self.directory, self.max_bytes, self.keep = directory, max_bytes, keep
        private_dir(directory)  # workloads print their secrets too

    def path(self, key: str, generation: int = 0) -> Path:
        return self.directory / (f"{key}.log" if generation == 0 else f"{key}.log.{generation}")

    def rotate_if_large(self, key: str) -> bool:
        """Shift ``.1``..``.keep`` up by one (dropping the oldest), copy the end of the
        live log (its last ``max_bytes``) to ``.1`` and truncate it; True when it
        rotated. However much a workload wrote since the last check, ``.1`` is no
        larger than ``max_bytes`` and the copy takes no longer than that."""
        live = self.path(key)
        try:
            if live.stat().st_size <= self.max_bytes:
                return False
        except FileNotFoundError:
            return False
        for n in range(self.keep - 1, 0, -1):
            older = self.path(key, n)
            if older.exists():
                os.replace(older, self.path(key, n + 1))
        _copy_private(live, self.path(key, 1), self.max_bytes)
        with open(live, "r+b") as f:
            f.truncate(0)
        return True

    def open_for_append(self, key: str) -> int:
        """The live log as a descriptor to hand to the workload (0600, the agent's):
        a workload of another user writes through it but cannot open the file."""
        return open_private(self.path(key), os.O_WRONLY | os.O_APPEND)

    def delete(self, key: str) -> None:
        for n in range(self.keep + 1):
            self.path(key, n).unlink(missing_ok=True)

    def tail(self, key: str, lines: int) -> str:
        """The last ``lines`` lines across the live log and, right after a rotation,
        the newest rotated one; at most ``MAX_TAIL_BYTES`` of them in all."""
        if lines <= 0:
            return ""
        chunks: list[bytes] = []
        wanted, budget = lines, MAX_TAIL_BYTES
        for n in range(self.keep + 1):
            found = tail_lines(self.path(key, n), wanted, budget)
            chunks.insert(0, b"".join(found))
            wanted -= len(found)
            budget -= sum(map(len, found))
            if wanted <= 0 or budget <= 0:
                break
        return b"".join(chunks).decode(errors="replace")


def _copy_private(source: Path, target: Path, last_bytes: int) -> None:
    """The last ``last_bytes`` of ``source`` to ``target`` (0600)."""
    fd = open_private(target, os.O_WRONLY | os.O_TRUNC)
    with open(source, "rb") as src, os.fdopen(fd, "wb") as dst:
        size = src.seek(0, os.SEEK_END)
        src.seek(max(0, size - last_bytes))
        remaining = last_bytes
        while remaining > 0 and (block := src.read(min(BLOCK, remaining))):
            dst.write(block)
            remaining -= len(block)


def tail_lines(path: Path, lines: int, max_bytes: int = MAX_TAIL_BYTES) -> list[bytes]:
    """The last ``lines`` lines of a file (each with its newline), reading blocks
    backwards from the end so a large log costs only what is asked for, and never
    more than ``max_bytes`` of it: a line cut by that bound comes back cut."""
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed below; a with block would nest deep
    except FileNotFoundError:
        return []
    with f:
        end = f.seek(0, os.SEEK_END)
        data, position = b"", end
        while position > 0 and data.count(b"\n") <= lines and end - position < max_bytes:
            step = min(BLOCK, position, max_bytes - (end - position))
            position -= step
            f.seek(position)
            data = f.read(step) + data
    found = data.splitlines(keepends=True)
    return found[-lines:]
