"""What the agent was told, kept on disk: its assignments (with the status the hub
holds for each, so that only changes are sent), the resourceVersion its watch resumes
from, and a few facts about itself.

SQLite in the data dir (stdlib ``sqlite3``, WAL, ``synchronous=FULL``), so the agent
keeps doing its job while the hub is down and after its own restart. Writes are a
few small rows at a time, so they run on the event loop's thread.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from edgeplane.agent.layout import open_private, private_dir
from edgeplane.api.wire import Json
from edgeplane.api.wire import Object as Object  # re-exported: agent.agent imports it here

_SCHEMA = """
CREATE TABLE IF NOT EXISTS assignments (name TEXT PRIMARY KEY, object TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def make_private(path: Path) -> None:
    """The database holds every env secret: 0600 before SQLite opens it, since SQLite
    creates it with the umask's mode, and gives its -wal and -shm files the database
    file's mode (existing ones, from an older agent, are tightened here too)."""
    for file in (path, path.with_name(f"{path.name}-wal"), path.with_name(f"{path.name}-shm")):
        if file is path or file.exists():
            os.close(open_private(file, os.O_RDONLY))


def _dump(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


class LocalState:
    def __init__(self, path: Path) -> None:
        private_dir(path.parent)
        make_private(path)
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        self._assignments = {
            name: json.loads(obj)
            for name, obj in self._db.execute("SELECT name, object FROM assignments")
        }

    def close(self) -> None:
        self._db.close()

    def assignments(self) -> dict[str, Object]:
        """The desired assignments by name (a copy of the cached map)."""
        return dict(self._assignments)

    def replace_assignments(self, items: Iterable[Object], resource_version: str) -> None:
        """After a list: exactly these assignments, and watch from this version."""
        fresh = {obj["metadata"]["name"]: obj for obj in items}
        with self._transaction():
            self._db.execute("DELETE FROM assignments")
            self._db.executemany(
                "INSERT INTO assignments VALUES (?, ?)",
                [(name, _dump(obj)) for name, obj in fresh.items()],
            )
            self._set_meta("resourceVersion", resource_version)
        self._assignments = fresh

    def apply_event(self, event_type: str, obj: Object) -> None:
        """One watch event (ADDED, MODIFIED, DELETED or BOOKMARK), with its version."""
        name = obj["metadata"].get("name")
        rv = obj["metadata"]["resourceVersion"]
        with self._transaction():
            if event_type == "DELETED":
                self._db.execute("DELETE FROM assignments WHERE name = ?", (name,))
            elif event_type in ("ADDED", "MODIFIED"):
                self._db.execute(
                    "INSERT OR REPLACE INTO assignments VALUES (?, ?)", (name, _dump(obj))
                )
            self._set_meta("resourceVersion", rv)
        if event_type == "DELETED":
            self._assignments.pop(name, None)
        elif event_type in ("ADDED", "MODIFIED"):
            self._assignments[name] = obj

    def resource_version(self) -> str | None:
        return self.meta("resourceVersion")

    def forget_resource_version(self) -> None:
        self._db.execute("DELETE FROM meta WHERE key = 'resourceVersion'")

    def set_status(self, name: str, status: dict[str, Json]) -> None:
        """Record the status the hub now holds for an assignment (from a write's answer),
        without moving the watch's resourceVersion: events in between still arrive."""
        obj = self._assignments.get(name)
        if obj is None:
            return
        updated = obj.copy()
        updated["status"] = status
        self._db.execute("UPDATE assignments SET object = ? WHERE name = ?", (_dump(updated), name))
        self._assignments[name] = updated

    def meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return str(row[0]) if row else None

    def set_meta(self, key: str, value: str) -> None:
        self._set_meta(key, value)

    def _set_meta(self, key: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
