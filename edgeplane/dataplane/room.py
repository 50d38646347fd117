"""Room on the disk for the spool (``dataplane.spool``): what the disk check counts.

A spool must never fill the disk it has to delete on (SQLite needs room in the WAL to
delete a row), so it leaves ``reserve`` bytes free and counts a record at
``DISK_FACTOR`` times its bytes, with twice the WAL's bound on top (its file, and what
it holds, which goes into the database file at the next checkpoint): a spool takes
nothing on a disk with less than ``reserve + 2 * WAL_LIMIT_BYTES`` free. Free room is the disk's,
the pages free inside the database file (a deleted row does not shrink it; its page is
written first); the WAL may grow to its bound, and what it holds goes into the file at
each checkpoint.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

WAL_LIMIT_BYTES = 1024 * 1024
DISK_FACTOR = 2
"""On disk a record may take twice its bytes (B-tree pages are at least half full, and
each page is written to the WAL before the file)."""


def on_disk(db: sqlite3.Connection, path: Path, page_size: int) -> int:
    """Bytes the spool at ``path`` may still write into: the disk's, and the pages free
    inside its file. Not the WAL's file: what it holds goes into the database file at
    the next checkpoint, which the WAL's bound in ``shortfall`` stands for."""
    pages = int(db.execute("PRAGMA freelist_count").fetchone()[0])
    return _free_bytes(path.parent) + pages * page_size


def shortfall(need: int, free: int, reserve: int) -> str | None:
    """``disk-full`` when ``need`` more bytes would cut into ``reserve``, else None."""
    return "disk-full" if need * DISK_FACTOR + reserve + WAL_LIMIT_BYTES > free else None


def _free_bytes(path: Path) -> int:
    stats = os.statvfs(path)
    return stats.f_bavail * stats.f_frsize


def full_message(reason: str, need: int) -> tuple[str, str]:
    if reason == "disk-full":
        return reason, (
            f"the disk is nearly full ({need} bytes would cut into the reserve kept "
            "free): free disk space at the site, or lower retention"
        )
    return reason, (
        "the spool is full of records of this priority or higher: raise the agent's "
        "--spool-max-bytes, give the stream a higher priority, or wait for the uplink"
    )
