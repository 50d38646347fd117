"""What the process runtime remembers about each instance, on disk.

One JSON file per instance (``<dir>/instances/<key>.json``), replaced atomically, so
that an agent killed at any moment leaves either the old record or the new one. A
restarted agent reads them back to adopt the processes that still run
(``runtime``); nothing here signals or spawns.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edgeplane.agent.layout import open_private, private_dir

_KEY = re.compile(r"[A-Za-z0-9][-._A-Za-z0-9]*")


def check_key(key: str) -> str:
    """Keys become file names: refuse anything that could escape the directory."""
    if len(key) > 253 or not _KEY.fullmatch(key):
        raise ValueError(f"instance key {key!r} must be a DNS-like name (letters, digits, -._)")
    return key


@dataclass
class Record:
    key: str
    generation: int
    workload: dict[str, Any]
    artifact_dirs: dict[str, str] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    """Port key (its name, or ``#<index>`` when unnamed) -> the port number in use;
    kept so a restart listens where clients already look."""
    pid: int | None = None
    start_ticks: int | None = None
    """Field 22 of ``/proc/<pid>/stat``: tells our process from a later one that reused
    its pid."""
    started_at: float | None = None
    restarts: int = 0
    finished: dict[str, Any] | None = None
    """Phase, reason and message of an instance that will not be restarted, so a
    restarted agent does not run a finished ``Never`` workload again."""

    private_env: list[str] = field(default_factory=list)
    """Names in ``workload.env`` written empty here: a Secret's values stay in memory
    (and sealed in ``agent.secrets``); the reconciler gives them again after a restart."""

    def to_json(self) -> str:
        data = asdict(self)
        env = data["workload"].get("env")
        if self.private_env and isinstance(env, dict):
            data["workload"]["env"] = {
                k: "" if k in self.private_env else v for k, v in env.items()
            }
        return json.dumps(data, sort_keys=True, indent=1)

    @classmethod
    def from_json(cls, text: str) -> Record:
        data = json.loads(text)
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


class RecordStore:
    def __init__(self, directory: Path) -> None:
        self.directory = private_dir(directory)  # records hold the workloads' env secrets

    def path(self, key: str) -> Path:
        return self.directory / f"{check_key(key)}.json"

    def save(self, record: Record) -> None:
        write_atomically(self.path(record.key), record.to_json().encode())

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    def load_all(self) -> list[Record]:
        """Every readable record; a corrupt one is skipped (and left for inspection)
        rather than stopping the agent from adopting the rest."""
        records = []
        for path in sorted(self.directory.glob("*.json")):
            try:
                records.append(Record.from_json(path.read_text()))
            except (OSError, ValueError, TypeError):
                continue
        return records


def write_atomically(path: Path, data: bytes) -> None:
    """tmp + fsync + rename + fsync of the directory: the rename is the commit point,
    and the directory fsync makes it survive a power cut (edge boxes lose power)."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = open_private(tmp, os.O_WRONLY | os.O_TRUNC)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
