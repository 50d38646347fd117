"""How long two copies of a fenced singleton ran at once, from the failover tests'
ledger (``tests/integration/failover/ledger.py``: a workload that appends
``<site> <epoch> <time>`` every 0.1 s; ``read`` parses the file). Pure: ``spans`` turns
each writer's lines into the intervals it ran, ``overlap_seconds`` measures the time
covered by two writers or more (a sweep over their edges), ``writers_after`` says who
still wrote after a moment. Used by ``benchmarks/failover.py``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.integration.failover import ledger
from tests.integration.failover.ledger import EVERY_SECONDS, Line

GAP_SECONDS = 0.5
"""A writer silent longer than this between two lines had stopped (5 lines missed)."""
WORKLOAD = Path(ledger.__file__)
"""The ledger workload of the failover tests: ``python ledger.py FILE``."""


@dataclass(frozen=True)
class Span:
    """One writer (a site at an epoch) running without a pause, from ``first`` to ``end``."""

    site: str
    epoch: int
    first: float
    end: float


def spans(lines: Iterable[Line]) -> list[Span]:
    """Each writer's runs: its lines no more than ``GAP_SECONDS`` apart, each lasting
    until its last line plus one pace (the writer ran until its next line was due)."""
    last: dict[tuple[str, int], Span] = {}
    done: list[Span] = []
    for line in sorted(lines, key=lambda line: line.at):
        key, span = (line.site, line.epoch), last.get((line.site, line.epoch))
        if span is not None and line.at - (span.end - EVERY_SECONDS) <= GAP_SECONDS:
            last[key] = Span(span.site, span.epoch, span.first, line.at + EVERY_SECONDS)
            continue
        if span is not None:
            done.append(span)
        last[key] = Span(line.site, line.epoch, line.at, line.at + EVERY_SECONDS)
    return sorted([*done, *last.values()], key=lambda span: span.first)


def overlap_seconds(found: Sequence[Span]) -> float:
    """Seconds during which two spans or more ran at once (a sweep over their edges)."""
    edges = sorted([(s.first, 1) for s in found] + [(s.end, -1) for s in found])
    total, running, since = 0.0, 0, 0.0
    for at, step in edges:
        if running >= 2:
            total += at - since
        running, since = running + step, at
    return total


def writers_after(lines: Iterable[Line], at: float) -> set[tuple[str, int]]:
    """The writers (site, epoch) with a line after ``at``."""
    return {(line.site, line.epoch) for line in lines if line.at > at}
