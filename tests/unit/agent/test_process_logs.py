"""Workload logs: copy-truncate rotation that a writer holding the file open survives,
and tails read from the end."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from edgeplane.agent.runtimes.process.logs import LogFiles, tail_lines


def test_rotation_keeps_the_writers_file_and_n_generations(tmp_path: Path) -> None:
    logs = LogFiles(tmp_path, max_bytes=100, keep=3)
    # The workload's own descriptor, opened the way spawn opens it.
    fd = os.open(logs.path("w"), os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        for generation in range(5):
            os.write(fd, f"gen{generation}\n".encode() * 30)
            assert logs.rotate_if_large("w")
        assert not logs.rotate_if_large("w")  # empty now: nothing to do
        os.write(fd, b"after\n")
    finally:
        os.close(fd)
    # Appends land at the start of the truncated file, not after a hole.
    assert logs.path("w").read_bytes() == b"after\n"
    assert logs.path("w", 1).read_text().startswith("gen4")
    assert logs.path("w", 3).read_text().startswith("gen2")
    assert not logs.path("w", 4).exists()


def test_small_or_missing_logs_are_not_rotated(tmp_path: Path) -> None:
    logs = LogFiles(tmp_path, max_bytes=100)
    assert not logs.rotate_if_large("missing")
    logs.path("small").write_text("x\n")
    assert not logs.rotate_if_large("small")


def test_tail_reaches_into_the_rotated_file(tmp_path: Path) -> None:
    logs = LogFiles(tmp_path, max_bytes=4, keep=2)
    logs.path("w").write_text("a\nb\nc\n")
    assert logs.rotate_if_large("w")
    logs.path("w").write_text("d\n")
    assert logs.tail("w", 2) == "c\nd\n"
    # ".1" holds the last max_bytes of what the live log held.
    assert logs.tail("w", 100) == "b\nc\nd\n"
    assert logs.tail("w", 0) == ""
    logs.delete("w")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("content", "lines", "tail"),
    [
        (b"", 3, []),
        (b"one\ntwo\nthree\n", 2, [b"two\n", b"three\n"]),
        (b"one\ntwo\npartial", 2, [b"two\n", b"partial"]),
        (b"x" * 200_000 + b"\nlast\n", 1, [b"last\n"]),
        (b"".join(b"%d\n" % i for i in range(100_000)), 3, [b"99997\n", b"99998\n", b"99999\n"]),
    ],
    ids=["empty", "whole-lines", "unterminated-last", "long-line-across-blocks", "many-lines"],
)
def test_tail_lines(tmp_path: Path, content: bytes, lines: int, tail: list[bytes]) -> None:
    (tmp_path / "log").write_bytes(content)
    assert tail_lines(tmp_path / "log", lines) == tail


def test_a_flood_between_checks_rotates_to_at_most_max_bytes(tmp_path: Path) -> None:
    """A workload may write gigabytes between two checks: ``.1`` keeps only the end
    (it used to be a copy of everything, made on the agent's event loop)."""
    logs = LogFiles(tmp_path, max_bytes=1000, keep=2)
    logs.path("w").write_bytes(b"old\n" * 100_000 + b"the end\n")
    assert logs.rotate_if_large("w")
    kept = logs.path("w", 1).read_bytes()
    assert len(kept) == 1000 and kept.endswith(b"old\nthe end\n")
    assert logs.path("w").stat().st_size == 0


def test_a_tail_of_a_log_without_newlines_reads_a_bounded_amount(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A workload that never writes a newline must not make a tail read (and answer)
    its whole log: at most MAX_TAIL_BYTES across the generations, the newest bytes."""
    monkeypatch.setattr("edgeplane.agent.runtimes.process.logs.MAX_TAIL_BYTES", 100_000)
    logs = LogFiles(tmp_path, max_bytes=10**9, keep=2)
    logs.path("w", 1).write_bytes(b"r" * 300_000)
    logs.path("w").write_bytes(b"x" * 250_000 + b"y" * 60_000)
    text = logs.tail("w", 10)
    assert text == "x" * 40_000 + "y" * 60_000
    logs.path("w").write_bytes(b"z" * 30_000)
    assert logs.tail("w", 10) == "r" * 70_000 + "z" * 30_000
    assert tail_lines(logs.path("w", 1), 1, max_bytes=10) == [b"r" * 10]
