"""The spool (``dataplane.spool``) on real SQLite files: durable sequence numbers, strict
priorities with turns among streams, bounded room that evicts only lower priorities,
refusals that change nothing, expiry, and records that survive a kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from edgeplane.dataplane.spool import RECORD_OVERHEAD_BYTES, Entry, Spool, SpoolFull

BIG = 1 << 30


def entry(stream: str, priority: int = 500, body: bytes = b"x" * 36, **kw: object) -> Entry:
    return Entry(stream, priority, 1000.0, body, **kw)  # type: ignore[arg-type]


def spool_at(tmp_path: Path, max_bytes: int = BIG, reserve: int = 0) -> Spool:
    return Spool(tmp_path / "spool.db", max_bytes, reserve)


def test_sequence_numbers_grow_survive_a_reopen_and_are_never_reused(tmp_path: Path) -> None:
    spool = spool_at(tmp_path)
    first = spool.append([entry("a"), entry("b")])
    assert first == [1, 2]
    spool.acknowledge([2])
    epoch = spool.epoch
    spool.close()
    again = spool_at(tmp_path)
    assert again.epoch == epoch
    assert again.append([entry("a")]) == [3]  # 2 was deleted, and is not given again
    assert [r.seq for r in again.next_batch(BIG)] == [1, 3]
    assert again.used_bytes == 2 * (36 + RECORD_OVERHEAD_BYTES)


def test_a_new_spool_file_has_a_new_epoch(tmp_path: Path) -> None:
    one = Spool(tmp_path / "one.db", BIG, 0)
    two = Spool(tmp_path / "two.db", BIG, 0)
    assert one.epoch != two.epoch and len(one.epoch) == 16


def test_the_highest_priority_goes_first_and_streams_of_one_priority_take_turns(
    tmp_path: Path,
) -> None:
    spool = spool_at(tmp_path)
    spool.append([entry("bulk", 250) for _ in range(3)])
    spool.append([entry("busy", 500) for _ in range(4)])
    spool.append([entry("quiet", 500) for _ in range(2)])
    spool.append([entry("alarm", 1000)])
    order = [r.stream for r in spool.next_batch(BIG)]
    assert order == ["alarm"]  # strictly by priority: a batch holds one priority
    spool.acknowledge(r.seq for r in spool.next_batch(BIG))
    assert [r.stream for r in spool.next_batch(BIG)] == [
        "busy", "quiet", "busy", "quiet", "busy", "busy"
    ]  # fmt: skip
    fifo = [r.stream for r in spool.next_batch(BIG, fifo=True)]
    assert fifo == ["bulk"] * 3 + ["busy"] * 4 + ["quiet"] * 2


def test_a_batch_is_bounded_in_bytes_and_records_and_skips_what_is_in_flight(
    tmp_path: Path,
) -> None:
    spool = spool_at(tmp_path)
    seqs = spool.append([entry("a", body=b"y" * 100) for _ in range(10)])
    assert len(spool.next_batch(250)) == 2
    assert len(spool.next_batch(10)) == 1  # at least one, however big
    assert len(spool.next_batch(BIG, max_records=3)) == 3
    assert [r.seq for r in spool.next_batch(BIG, skip=seqs[:8])] == seqs[8:]


def test_a_stream_past_its_max_bytes_is_refused_and_nothing_changes(tmp_path: Path) -> None:
    spool = spool_at(tmp_path)
    limit = 3 * (36 + RECORD_OVERHEAD_BYTES)
    spool.append([entry("a", stream_max_bytes=limit) for _ in range(3)])
    with pytest.raises(SpoolFull, match=r"retention\.maxBytes") as full:
        spool.append([entry("b"), entry("a", stream_max_bytes=limit)])
    assert full.value.reason == "stream-full"
    assert set(spool.backlog()) == {"a"} and spool.backlog()["a"].records == 3


def test_a_full_spool_evicts_the_oldest_of_the_lowest_priority_only(tmp_path: Path) -> None:
    cost = 36 + RECORD_OVERHEAD_BYTES
    spool = spool_at(tmp_path, max_bytes=4 * cost)
    bulk = spool.append([entry("bulk", 250), entry("bulk", 250)])
    normal = spool.append([entry("normal", 500)])
    spool.append([entry("alarm", 1000)])
    assert spool.append([entry("alarm", 1000)])  # the oldest bulk record makes room
    assert spool.dropped[("bulk", "evicted")] == 1
    assert [r.seq for r in spool.next_batch(BIG, fifo=True)][:2] == [bulk[1], normal[0]]
    spool.append([entry("alarm", 1000), entry("alarm", 1000)])  # bulk, then normal go
    assert spool.dropped == {("bulk", "evicted"): 2, ("normal", "evicted"): 1}
    with pytest.raises(SpoolFull, match="--spool-max-bytes") as full:
        spool.append([entry("alarm", 1000)])  # nothing of a lower priority is left
    assert full.value.reason == "spool-full"
    assert spool.backlog()["alarm"].records == 4


def test_a_bulk_record_never_pushes_out_critical_ones(tmp_path: Path) -> None:
    cost = 36 + RECORD_OVERHEAD_BYTES
    spool = spool_at(tmp_path, max_bytes=2 * cost)
    spool.append([entry("alarm", 1000), entry("alarm", 1000)])
    for priority in (250, 1000):
        with pytest.raises(SpoolFull):
            spool.append([entry("bulk", priority)])
    assert spool.backlog()["alarm"].records == 2 and not spool.dropped


def test_a_nearly_full_disk_refuses_what_would_cut_into_the_reserve(tmp_path: Path) -> None:
    free = os.statvfs(tmp_path).f_bavail * os.statvfs(tmp_path).f_frsize
    spool = spool_at(tmp_path, reserve=free + (1 << 20))
    with pytest.raises(SpoolFull, match="disk is nearly full") as full:
        spool.append([entry("a")])
    assert full.value.reason == "disk-full" and spool.backlog() == {}


def test_expire_drops_records_past_their_age_and_counts_them(tmp_path: Path) -> None:
    spool = spool_at(tmp_path)
    spool.append([Entry("a", 500, 100.0, b"old"), Entry("a", 500, 900.0, b"new")])
    spool.append([Entry("b", 500, 100.0, b"old")])
    assert spool.expire(1000.0, {"a": 500.0}, default_age=10_000.0) == 1
    assert spool.dropped == {("a", "expired"): 1}
    assert {s: b.records for s, b in spool.backlog().items()} == {"a": 1, "b": 1}


WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from edgeplane.dataplane.spool import Entry, Spool
    spool = Spool(Path(sys.argv[1]), 1 << 30, 0)
    n = 0
    while True:
        (seq,) = spool.append([Entry("s", 500, 1.0, b"%d" % n)])
        print(seq, flush=True)  # acknowledged: only after append returned
        n += 1
    """
)


def test_every_acknowledged_record_survives_a_kill_9(tmp_path: Path) -> None:
    path = tmp_path / "spool.db"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])}
    command = [sys.executable, "-c", WRITER, str(path)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, env=env, text=True) as writer:
        assert writer.stdout is not None
        acknowledged = [int(writer.stdout.readline()) for _ in range(200)]
        writer.send_signal(signal.SIGKILL)
        writer.wait()
    spool = Spool(path, BIG, 0)
    kept = {r.seq for r in spool.next_batch(BIG, max_records=100_000)}
    assert set(acknowledged) <= kept
    assert [r.body for r in spool.next_batch(BIG, max_records=5)] == [b"0", b"1", b"2", b"3", b"4"]


def test_held_records_are_kept_not_sent_and_swapped_for_their_summary(tmp_path: Path) -> None:
    spool = spool_at(tmp_path)
    held = spool.append([Entry("t", 500, at, b"raw", held=True) for at in (10.0, 20.0, 70.0)])
    assert spool.next_batch(BIG) == [] and spool.backlog() == {}
    assert [r.seq for r in spool.held("t")] == held
    (summary,) = spool.release("t", 60.0, [Entry("t", 500, 60.0, b'{"count":2}')])
    assert [(r.seq, r.body) for r in spool.next_batch(BIG)] == [(summary, b'{"count":2}')]
    assert [r.at for r in spool.held("t")] == [70.0]  # the open window's record stays
    spool.close()
    assert [r.at for r in spool_at(tmp_path).held("t")] == [70.0]  # and survives a reopen
