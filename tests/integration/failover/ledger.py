"""The ledger: a workload that writes down when and where it runs, and the reading of
what it wrote.

As a program (the workload; stdlib only, as it runs wherever an agent starts it):
``python ledger.py FILE`` appends a line ``<site> <epoch> <time.time()>`` to FILE
about every 0.1 s for as long as it runs, the site and the epoch from the agent's
``EDGEPLANE_SITE`` and ``EDGEPLANE_EPOCH`` (0 without one). Each line is one
``write`` to a file opened with ``O_APPEND``, so lines from several processes never
tear or interleave within a line, whatever runs at once.

In the test: ``read`` parses the file, ``runs`` groups its lines, in time order, into
the stretches one writer wrote alone. Two writers that ran at the same time show as
more runs than writers (a, b, a, ...); writers that took turns show as one run each.
Neighbours: the failover tests beside it.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

EVERY_SECONDS = 0.1


@dataclass(frozen=True)
class Line:
    site: str
    epoch: int
    at: float


@dataclass(frozen=True)
class Run:
    """Consecutive lines (in time order) of one writer: a site at an epoch."""

    site: str
    epoch: int
    first: float
    last: float
    lines: int


def read(path: Path) -> list[Line]:
    """The ledger's complete lines in time order (a line being written is left out)."""
    text = path.read_text() if path.exists() else ""
    lines = []
    for raw in text.splitlines(keepends=True):
        if raw.endswith("\n"):
            site, epoch, at = raw.split()
            lines.append(Line(site, int(epoch), float(at)))
    return sorted(lines, key=lambda line: line.at)


def runs(lines: list[Line]) -> list[Run]:
    """The maximal stretches of ``lines`` (in time order) written by one writer."""
    found: list[Run] = []
    for line in lines:
        last = found[-1] if found else None
        if last is not None and (last.site, last.epoch) == (line.site, line.epoch):
            found[-1] = Run(line.site, line.epoch, last.first, line.at, last.lines + 1)
        else:
            found.append(Run(line.site, line.epoch, line.at, line.at, 1))
    return found


def write(path: str) -> None:
    site = os.environ.get("EDGEPLANE_SITE", "?")
    epoch = os.environ.get("EDGEPLANE_EPOCH", "0")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    while True:
        os.write(fd, f"{site} {epoch} {time.time():.6f}\n".encode())
        time.sleep(EVERY_SECONDS)  # the workload's own pace, not a wait in a test


if __name__ == "__main__":
    write(sys.argv[1])
