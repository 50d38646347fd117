"""The spool: a site's records kept on disk until the hub has stored them.

SQLite (stdlib ``sqlite3``, WAL, ``synchronous=FULL``): ``append`` returns only once
the records are on disk, so an acknowledged publish survives a kill -9 or a power cut.
Each record gets the spool's next sequence number (``AUTOINCREMENT``: never reused,
even after the newest rows are deleted), and the spool has an ``epoch``, a random id
made with its file: ``(epoch, seq)`` names a record for good, so a spool lost with its
disk starts a new epoch instead of having its new records taken for duplicates.

Room is bounded three ways, and a record that does not fit is refused (``SpoolFull``,
saying why), never dropped silently: its stream's ``retention.maxBytes``, the spool's
``max_bytes``, and the disk's free space (``reserve_bytes`` stay free). When the spool
or the disk is full, the oldest records of streams with a lower priority than the new
one are evicted to make room (counted as ``evicted``): bulk goes before normal before
critical, and nothing makes room for a record of its own priority or a lower one.
Records older than their stream's ``retention.maxAgeSeconds`` are dropped by
``expire`` (counted as ``expired``).

An aggregated stream's records are spooled ``held``: on disk like the rest (so a
publish is acknowledged only once it is), never sent; ``release`` swaps those a window
summed up for its summaries in one transaction, and ``held`` gives them back to be
summed again after a restart.

``next_batch`` hands out what to send next: strictly the highest priority first, and
among streams of the same priority in turn, record by record, so one busy stream does
not starve the others (``fifo=True`` ignores priorities: the benchmark's baseline).

Blocking calls (an fsync per ``append``): the agent runs them in a thread of their own
(``agent.data``). Neighbours: ``dataplane.uplink`` sends the batches.
"""

from __future__ import annotations

import contextlib
import secrets
import sqlite3
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from edgeplane.dataplane import room

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  stream TEXT NOT NULL,
  priority INTEGER NOT NULL,
  at REAL NOT NULL,
  size INTEGER NOT NULL,
  body BLOB NOT NULL,
  held INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS records_by_priority ON records (held, priority, stream, seq);
CREATE INDEX IF NOT EXISTS records_by_stream ON records (stream, seq);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
RECORD_OVERHEAD_BYTES = 64
"""What a record costs beside its body (row, indexes): counted against every limit."""
DEFAULT_RESERVE_BYTES = 64 * 1024 * 1024


class SpoolFull(Exception):
    """No room for the records: ``reason`` (``stream-full``, ``spool-full``,
    ``disk-full``) and a message saying what to change."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Entry:
    """A record to spool: its stream, the stream's priority and limits, its body."""

    stream: str
    priority: int
    at: float
    body: bytes
    stream_max_bytes: int | None = None
    held: bool = False
    """Kept, not sent: a record an aggregated stream sums up (``release``)."""


@dataclass(frozen=True, slots=True)
class Spooled:
    seq: int
    stream: str
    priority: int
    at: float
    body: bytes


@dataclass(frozen=True, slots=True)
class Backlog:
    """One stream's unsent records: how many, their bytes, the oldest one's time."""

    records: int
    bytes: int
    oldest_at: float | None


class Spool:
    def __init__(
        self, path: Path, max_bytes: int, reserve_bytes: int = DEFAULT_RESERVE_BYTES
    ) -> None:
        if max_bytes < 1:
            raise ValueError(f"a spool holds at least one byte, not {max_bytes}")
        self.path, self.max_bytes, self.reserve_bytes = path, max_bytes, reserve_bytes
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        # The WAL is emptied at each checkpoint, but its file keeps its largest size
        # unless told otherwise: on a nearly full disk that size is room lost.
        self._db.execute(f"PRAGMA journal_size_limit={room.WAL_LIMIT_BYTES}")
        self._db.execute(f"PRAGMA wal_autocheckpoint={room.WAL_LIMIT_BYTES // 4096}")
        self._db.executescript(_SCHEMA)
        self._page_size = int(self._db.execute("PRAGMA page_size").fetchone()[0])
        self.epoch = self._epoch()
        self.dropped: Counter[tuple[str, str]] = Counter()
        """(stream, reason) -> records dropped: ``evicted``, ``expired``."""
        self._used = self._size_of()
        self._by_stream: Counter[str] = Counter(dict(self._stream_sizes()))

    def close(self) -> None:
        self._db.close()

    @property
    def used_bytes(self) -> int:
        return self._used

    def append(self, entries: Sequence[Entry]) -> list[int]:
        """Spool ``entries`` in one transaction (all or none); their sequence numbers.
        Raises ``SpoolFull`` when they do not fit, having changed nothing."""
        return self._write(entries, None)

    def release(self, stream: str, before: float, entries: Sequence[Entry]) -> list[int]:
        """In one transaction: spool ``entries`` (a window's summaries) and forget the
        held records of ``stream`` older than ``before`` (what they sum up)."""
        return self._write(entries, (stream, before))

    def held(self, stream: str) -> list[Spooled]:
        """The held records of ``stream``, oldest first (to sum up again after a restart)."""
        rows = self._db.execute(
            "SELECT seq, stream, priority, at, body FROM records WHERE held = 1 AND stream = ? "
            "ORDER BY seq",
            (stream,),
        )
        return [Spooled(*row) for row in rows]

    def _write(self, entries: Sequence[Entry], releasing: tuple[str, float] | None) -> list[int]:
        if not entries and releasing is None:
            return []
        if releasing is None:
            self._check_streams(entries)
        need = sum(_cost(e.body) for e in entries)
        lowest = min((e.priority for e in entries), default=0)
        with self._transaction(need):
            gone = self._released(*releasing) if releasing is not None else []
            # What the release frees counts: its summaries take the held records' room.
            freed = sum(size for _, _, size in gone)
            evicted = self._make_room(need - freed, lowest) if entries else []
            seqs = [self._insert(e) for e in entries]
        self._forget(evicted + gone)
        self._counted(evicted, "evicted")
        for e in entries:
            self._used += _cost(e.body)
            self._by_stream[e.stream] += _cost(e.body)
        return seqs

    @contextlib.contextmanager
    def _transaction(self, need: int = 0) -> Iterator[None]:
        """One write transaction; a disk that filled up is ``SpoolFull`` (disk-full)."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
            self._db.execute("COMMIT")
        except sqlite3.OperationalError as err:
            self._rollback()
            if "full" in str(err):
                raise SpoolFull(*room.full_message("disk-full", need)) from err
            raise
        except BaseException:
            self._rollback()
            raise

    def _rollback(self) -> None:
        # SQLite may have rolled back by itself (SQLITE_FULL): a second one would raise.
        if self._db.in_transaction:
            self._db.execute("ROLLBACK")

    def next_batch(
        self, max_bytes: int, max_records: int = 1000, skip: Iterable[int] = (), fifo: bool = False
    ) -> list[Spooled]:
        """What to send next, at most ``max_bytes`` of bodies (at least one record) and
        ``max_records``, leaving out ``skip`` (sent, not yet acknowledged). Rows are read
        as they are taken, so a batch costs what it holds, not what waits."""
        skipped = set(skip)
        if fifo:
            return _fill(self._rows(None, None, skipped), max_bytes, max_records)
        for priority in self._priorities():
            turns = [self._rows(priority, s, skipped) for s in self._streams_at(priority)]
            batch = _fill(_in_turn(turns), max_bytes, max_records)
            if batch:
                return batch
        return []

    def acknowledge(self, seqs: Iterable[int]) -> int:
        """Forget records the hub has stored; how many were still here."""
        wanted = sorted(set(seqs))
        if not wanted:
            return 0
        with self._transaction():
            gone = self._delete_seqs(wanted)
        self._forget(gone)
        return len(gone)

    def expire(self, now: float, max_age: dict[str, float], default_age: float) -> int:
        """Drop records older than their stream's maximum age (``default_age`` for
        streams not in ``max_age``); how many."""
        dropped = 0
        for stream in list(self._by_stream):
            cutoff = now - max_age.get(stream, default_age)
            rows = self._db.execute(
                "SELECT seq FROM records WHERE stream = ? AND at < ?", (stream, cutoff)
            ).fetchall()
            if rows:
                with self._transaction():
                    gone = self._delete_seqs([r[0] for r in rows])
                self._forget(gone)
                self._counted(gone, "expired")
                dropped += len(gone)
        return dropped

    def drops(self) -> dict[tuple[str, str], int]:
        """A copy of ``dropped`` (taken on the spool's thread, where it changes)."""
        return dict(self.dropped)

    def count_drop(self, stream: str, reason: str, n: int = 1) -> None:
        """Count records dropped before they reached the spool (a record that can never
        be taken, one an aggregation skipped), beside the spool's own drops."""
        self.dropped[(stream, reason)] += n

    def backlog(self) -> dict[str, Backlog]:
        rows = self._db.execute(
            "SELECT stream, COUNT(*), SUM(size), MIN(at) FROM records WHERE held = 0 "
            "GROUP BY stream"
        )
        return {s: Backlog(n, int(b or 0), at) for s, n, b, at in rows}

    def _check_streams(self, entries: Sequence[Entry]) -> None:
        adding: Counter[str] = Counter()
        for e in entries:
            adding[e.stream] += _cost(e.body)
            limit = e.stream_max_bytes
            if limit is not None and self._by_stream[e.stream] + adding[e.stream] > limit:
                raise SpoolFull(
                    "stream-full",
                    f"stream {e.stream} holds its retention.maxBytes ({limit} bytes) unsent: "
                    "publish less, raise the DataStream's retention.maxBytes, or wait for "
                    "the uplink",
                )

    def _make_room(self, need: int, priority: int) -> list[tuple[int, str, int]]:
        """Evict lower-priority records, oldest of the lowest first, until ``need``
        bytes fit (inside the caller's transaction: counted once it commits); the
        evicted rows. Their pages are what SQLite writes the new records into, so they
        count for the disk too."""
        free, freed = room.on_disk(self._db, self.path, self._page_size), 0
        evicted: list[tuple[int, str, int]] = []
        if (short := self._shortfall(need, free)) is None:
            return []
        rows = self._db.execute(
            "SELECT seq, stream, size FROM records WHERE priority < ? ORDER BY priority, seq",
            (priority,),
        )
        for seq, stream, size in rows:
            evicted.append((seq, stream, size))
            freed += size
            if (short := self._shortfall(need - freed, free)) is None:
                break
        if short is not None:
            raise SpoolFull(*room.full_message(short, need))
        self._db.executemany("DELETE FROM records WHERE seq = ?", [(e[0],) for e in evicted])
        return evicted

    def _forget(self, rows: list[tuple[int, str, int]]) -> None:
        for _, stream, size in rows:
            self._used -= size
            self._by_stream[stream] -= size

    def _shortfall(self, need: int, free: int) -> str | None:
        """Why ``need`` more bytes do not fit (``spool-full``, ``disk-full``, with
        ``free`` bytes on the disk), or None when they do."""
        if self._used + need > self.max_bytes:
            return "spool-full"
        return room.shortfall(need, free, self.reserve_bytes)

    def _released(self, stream: str, before: float) -> list[tuple[int, str, int]]:
        return self._db.execute(
            "DELETE FROM records WHERE held = 1 AND stream = ? AND at < ? "
            "RETURNING seq, stream, size",
            (stream, before),
        ).fetchall()

    def _insert(self, e: Entry) -> int:
        cursor = self._db.execute(
            "INSERT INTO records (stream, priority, at, size, body, held) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (e.stream, e.priority, e.at, _cost(e.body), e.body, int(e.held)),
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def _delete_seqs(self, seqs: list[int]) -> list[tuple[int, str, int]]:
        gone: list[tuple[int, str, int]] = []
        for i in range(0, len(seqs), 500):
            chunk = seqs[i : i + 500]
            marks = ",".join("?" * len(chunk))
            gone += self._db.execute(
                f"DELETE FROM records WHERE seq IN ({marks}) RETURNING seq, stream, size", chunk
            ).fetchall()
        return gone

    def _counted(self, rows: list[tuple[int, str, int]], reason: str) -> None:
        for _, stream, _ in rows:
            self.dropped[(stream, reason)] += 1

    def _priorities(self) -> list[int]:
        rows = self._db.execute(
            "SELECT DISTINCT priority FROM records WHERE held = 0 ORDER BY priority DESC"
        )
        return [r[0] for r in rows]

    def _streams_at(self, priority: int) -> list[str]:
        rows = self._db.execute(
            "SELECT DISTINCT stream FROM records WHERE held = 0 AND priority = ? ORDER BY stream",
            (priority,),
        )
        return [r[0] for r in rows]

    def _rows(self, priority: int | None, stream: str | None, skip: set[int]) -> Iterator[Spooled]:
        """Unheld records oldest first (of one priority and stream, or all), but ``skip``;
        read from the cursor one by one, closed when the caller lets go."""
        query, args = "SELECT seq, stream, priority, at, body FROM records WHERE held = 0", []
        if priority is not None and stream is not None:
            query += " AND priority = ? AND stream = ?"
            args = [priority, stream]
        cursor = self._db.execute(f"{query} ORDER BY seq", args)
        try:
            for row in cursor:
                if row[0] not in skip:
                    yield Spooled(*row)
        finally:
            cursor.close()

    def _epoch(self) -> str:
        row = self._db.execute("SELECT value FROM meta WHERE key = 'epoch'").fetchone()
        if row is not None:
            return str(row[0])
        epoch = secrets.token_hex(8)
        self._db.execute("INSERT INTO meta VALUES ('epoch', ?)", (epoch,))
        return epoch

    def _size_of(self) -> int:
        return int(self._db.execute("SELECT COALESCE(SUM(size), 0) FROM records").fetchone()[0])

    def _stream_sizes(self) -> list[tuple[str, int]]:
        rows = self._db.execute("SELECT stream, SUM(size) FROM records GROUP BY stream")
        return [(s, int(n)) for s, n in rows]


def _cost(body: bytes) -> int:
    return len(body) + RECORD_OVERHEAD_BYTES


def _in_turn(turns: list[Iterator[Spooled]]) -> Iterator[Spooled]:
    """Records from each stream in turn: the first of each, then the second of each..."""
    while turns:
        alive = []
        for rows in turns:
            row = next(rows, None)
            if row is not None:
                yield row
                alive.append(rows)
        turns = alive


def _fill(rows: Iterator[Spooled], max_bytes: int, max_records: int) -> list[Spooled]:
    batch: list[Spooled] = []
    size = 0
    for row in rows:
        if len(batch) >= max_records or (batch and size + len(row.body) > max_bytes):
            break
        batch.append(row)
        size += len(row.body)
    return batch
