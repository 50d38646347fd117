"""What the Kubernetes runtime remembers across agent restarts: one small JSON record
per assignment (generation, namespace, workload, whether it was applied), in
``<data-dir>/runtime/kubernetes/instances/``, written atomically, 0600.

The cluster holds the rest: each assignment's inventory ConfigMap says what was
applied (``apply.applied_refs``), so a restarted agent adopts without applying again.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeplane.agent.layout import open_private, private_dir

log = logging.getLogger("edgeplane.agent.runtimes.kubernetes")
# At most 250 characters: with ".json" the file name stays within 255.
_KEY = re.compile(r"[a-z0-9]([-a-z0-9.]{0,248}[a-z0-9])?")
RECORD_MAX_BYTES = 4 * 1024 * 1024
"""A workload is at most 1 MiB of manifests as JSON; a record past this is not ours."""


def check_key(key: str) -> str:
    """An assignment name (DNS-1123 subdomain), so that it is a safe file name."""
    if not _KEY.fullmatch(key) or ".." in key:
        raise ValueError(f"instance key {key!r} is not an assignment name")
    return key


@dataclass(frozen=True)
class Record:
    key: str
    generation: int
    namespace: str
    workload: dict[str, Any]
    applied: bool


class RecordStore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, key: str) -> Path:
        return self.directory / f"{check_key(key)}.json"

    def save(self, record: Record) -> None:
        private_dir(self.directory)
        path = self._path(record.key)
        temporary = path.with_suffix(".tmp")
        fd = open_private(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        with os.fdopen(fd, "w") as f:
            json.dump(record.__dict__, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path(key).unlink()

    def load_all(self) -> list[Record]:
        if not self.directory.is_dir():
            return []
        records = []
        for path in sorted(self.directory.glob("*.json")):
            try:
                records.append(self._load(path))
            except (OSError, ValueError, TypeError, KeyError) as e:
                log.warning("%s: unreadable record, ignored: %r", path, e)
        return records

    def _load(self, path: Path) -> Record:
        if path.stat().st_size > RECORD_MAX_BYTES:
            raise ValueError("too large")
        data = json.loads(path.read_text())
        return Record(
            check_key(str(data["key"])),
            int(data["generation"]),
            str(data["namespace"]),
            dict(data["workload"]),
            bool(data["applied"]),
        )
