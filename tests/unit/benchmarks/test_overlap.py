"""benchmarks/support/overlap: a writer's spans and the seconds two writers overlapped."""

from __future__ import annotations

import pytest

from benchmarks.support.overlap import Span, overlap_seconds, spans, writers_after
from tests.integration.failover.ledger import Line


def beats(site: str, epoch: int, start: float, stop: float) -> list[Line]:
    """Lines every 0.1 s from ``start`` to ``stop`` (inclusive)."""
    count = round((stop - start) / 0.1)
    return [Line(site, epoch, round(start + k * 0.1, 6)) for k in range(count + 1)]


def test_a_writer_that_pauses_has_two_spans() -> None:
    lines = beats("a", 1, 0.0, 1.0) + beats("a", 1, 3.0, 4.0)
    assert spans(lines) == [Span("a", 1, 0.0, 1.1), Span("a", 1, 3.0, 4.1)]


def test_the_same_site_at_a_new_epoch_is_another_writer() -> None:
    lines = beats("a", 1, 0.0, 1.0) + beats("a", 2, 0.5, 1.0)
    assert [(s.site, s.epoch) for s in spans(lines)] == [("a", 1), ("a", 2)]


@pytest.mark.parametrize(
    ("b_start", "b_stop", "expected"),
    [(2.0, 3.0, 0.0), (1.1, 2.0, 0.0), (0.5, 2.0, 0.6), (0.2, 0.5, 0.4)],
    ids=["apart", "taking-turns", "half-overlapping", "inside"],
)
def test_overlap_is_the_time_both_ran(b_start: float, b_stop: float, expected: float) -> None:
    found = spans(beats("a", 1, 0.0, 1.0) + beats("b", 2, b_start, b_stop))
    assert overlap_seconds(found) == pytest.approx(expected)


def test_three_writers_at_once_count_once() -> None:
    found = [Span("a", 1, 0.0, 2.0), Span("b", 2, 0.0, 2.0), Span("c", 3, 1.0, 3.0)]
    assert overlap_seconds(found) == pytest.approx(2.0)


def test_writers_after_a_time() -> None:
    lines = beats("a", 1, 0.0, 1.0) + beats("b", 2, 0.5, 2.0)
    assert writers_after(lines, 1.5) == {("b", 2)}
