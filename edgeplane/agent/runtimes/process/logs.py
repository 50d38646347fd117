"""Workload logs: one file per instance that the process itself appends to, rotated
copy-and-truncate style, and read back from the end.

The workload holds the log open (O_APPEND) and never learns about rotation, so the
file cannot be renamed under it: it is copied to ``.1`` and truncated in place. Lines
written between the copy and the truncation are lost; that is the price of logs that
keep flowing while the agent is down.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from edgeplane.agent.layout import open_private, private_dir

BLOCK = 64 * 1024


class LogFiles:
    def __init__(self, directory: Path, max_bytes: int = 10 * 1024 * 1024, keep: int = 3) -> None:
        self.directory, self.max_bytes, self.keep = directory, max_bytes, keep
        private_dir(directory)  # workloads print their secrets too

    def path(self, key: str, generation: int = 0) -> Path:
        return self.directory / (f"{key}.log" if generation == 0 else f"{key}.log.{generation}")

    def rotate_if_large(self, key: str) -> bool:
        """Shift ``.1``..``.keep`` up by one (dropping the oldest), copy the live log to
        ``.1`` and truncate it; True when it rotated."""
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
        _copy_private(live, self.path(key, 1))
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
        the newest rotated one."""
        if lines <= 0:
            return ""
        chunks: list[bytes] = []
        wanted = lines
        for n in range(self.keep + 1):
            found = tail_lines(self.path(key, n), wanted)
            chunks.insert(0, b"".join(found))
            wanted -= len(found)
            if wanted <= 0:
                break
        return b"".join(chunks).decode(errors="replace")


def _copy_private(source: Path, target: Path) -> None:
    fd = open_private(target, os.O_WRONLY | os.O_TRUNC)
    with open(source, "rb") as src, os.fdopen(fd, "wb") as dst:
        shutil.copyfileobj(src, dst, BLOCK)


def tail_lines(path: Path, lines: int) -> list[bytes]:
    """The last ``lines`` lines of a file (each with its newline), reading blocks
    backwards from the end so a large log costs only what is asked for."""
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed below; a with block would nest deep
    except FileNotFoundError:
        return []
    with f:
        end = f.seek(0, os.SEEK_END)
        data, position = b"", end
        while position > 0 and data.count(b"\n") <= lines:
            step = min(BLOCK, position)
            position -= step
            f.seek(position)
            data = f.read(step) + data
    found = data.splitlines(keepends=True)
    return found[-lines:]
