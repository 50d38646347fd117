"""The audit log: an append-only file of JSON lines, one per request worth keeping,
chained by SHA-256 so that a changed, inserted or deleted entry is found.

Each entry holds ``seq`` (1, 2, ...), ``prev`` (the previous entry's ``hash``; 64 zeros
for the first) and ``hash``: SHA-256 of the entry's canonical JSON without ``hash``
(keys sorted, no spaces, UTF-8). ``verify`` walks the file and names the first entry
whose hash, link or number is wrong; deleting the last entries leaves a shorter chain
that is whole, so compare the head (``seq`` and ``hash`` of the last entry) with one
kept elsewhere (the hub answers its own at ``GET /api/v1alpha1/audit/head``).

Writes are one ``os.write`` of a whole line to a file opened ``O_APPEND``: a process
killed between two requests leaves whole lines; a write cut short (a full disk) fails
its request and is cut off the file when the log is opened again. They are not fsynced per entry (a
power cut may lose the last ones; ``verify`` then finds a whole, shorter chain).
No package of the hub here: ``edgeplane audit verify`` runs where only the file is.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

GENESIS = "0" * 64
MAX_LINE_BYTES = 16 * 1024
"""An entry longer than this is not one the hub wrote (it bounds every field)."""
_TAIL_BYTES = 64 * 1024


def entry_hash(entry: Mapping[str, Any]) -> str:
    """SHA-256 of the entry's canonical JSON, its ``hash`` left out."""
    body = {k: v for k, v in entry.items() if k != "hash"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Head:
    seq: int
    hash: str


class AuditLog:
    """Appends chained entries to ``path`` (made 0600, its directory 0700)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.path = path
        self.head, whole = _last_head(path)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        if os.fstat(self._fd).st_size > whole:
            # A write cut short (a full disk) was never an entry: its request failed.
            os.truncate(self._fd, whole)

    def append(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        """Chain ``fields`` to the last entry and write it; the entry as written."""
        entry = {**fields, "seq": self.head.seq + 1, "prev": self.head.hash}
        entry["hash"] = entry_hash(entry)
        line = json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        data = (line + "\n").encode()
        if os.write(self._fd, data) != len(data):
            raise OSError(f"{self.path}: the audit entry was cut short (is the disk full?)")
        self.head = Head(entry["seq"], entry["hash"])
        return entry

    def close(self) -> None:
        os.close(self._fd)


def _last_head(path: Path) -> tuple[Head, int]:
    """The last whole entry's number and hash, read from the file's tail, and where the
    whole lines end."""
    try:
        with path.open("rb") as file:
            file.seek(0, os.SEEK_END)
            size = file.tell()
            start = max(0, size - _TAIL_BYTES)
            file.seek(start)
            tail = file.read()
    except FileNotFoundError:
        return Head(0, GENESIS), 0
    whole = start + tail.rfind(b"\n") + 1 if b"\n" in tail else start
    for line in reversed(tail[: whole - start].splitlines()):
        try:
            entry = json.loads(line)
            return Head(int(entry["seq"]), str(entry["hash"])), whole
        except (ValueError, KeyError, TypeError):
            break  # not the hub's: verify names it; chain on from what the file says
    return Head(0, GENESIS), whole


@dataclass(frozen=True)
class Verdict:
    entries: int
    head: Head
    problem: str | None = None
    """What is wrong at ``line``, or None when the chain is whole."""
    line: int = 0


def verify(path: Path) -> Verdict:
    """Walk the chain; the first problem found, with its line number."""
    head, count = Head(0, GENESIS), 0
    for number, raw in _lines(path):
        if len(raw) > MAX_LINE_BYTES:
            return Verdict(count, head, "the entry is longer than any the hub writes", number)
        try:
            entry = json.loads(raw)
        except ValueError:
            return Verdict(count, head, "the line is not JSON: changed or torn", number)
        if not isinstance(entry, dict):
            return Verdict(count, head, "the line is not an entry", number)
        if entry.get("hash") != entry_hash(entry):
            return Verdict(count, head, f"entry {entry.get('seq')} was changed", number)
        if entry.get("prev") != head.hash or entry.get("seq") != head.seq + 1:
            return Verdict(
                count,
                head,
                f"entry {entry.get('seq')} does not follow entry {head.seq}: an entry "
                "before it was deleted or one was inserted",
                number,
            )
        head, count = Head(entry["seq"], entry["hash"]), count + 1
    return Verdict(count, head)


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """Numbered lines, each read up to one byte past the limit (a longer one is refused
    at its first piece, never read whole)."""
    with path.open("rb") as file:
        pieces = iter(lambda: file.readline(MAX_LINE_BYTES + 1), b"")
        for number, raw in enumerate(pieces, start=1):
            yield number, raw.rstrip(b"\n")
