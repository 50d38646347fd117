"""The placement engine's public face: ``Planner`` (a full pass, then ``update`` for
each new snapshot), ``place`` and ``explain``.

The engine is in rooms: ``engine`` (state and the pass), ``filtering`` (the checks as
one loop, with ``checks``), ``selection`` (scores from ``scorers``, then pick and
divide), ``incremental`` (what each kind of change invalidates) and ``explanation``.
"""

from __future__ import annotations

from edgeplane.placement import engine, incremental
from edgeplane.placement.engine import PLACEMENT_FAILED, PlacementOverdue, Preemption
from edgeplane.placement.explanation import Explanation, explain
from edgeplane.placement.model import Decision, Snapshot


class Planner(engine.Planner):
    def update(self, snapshot: Snapshot, deadline: float | None = None) -> set[str]:
        """Move to ``snapshot``, placing again only what its changes can affect; returns
        the applications whose decision changed."""
        self.deadline = deadline
        return incremental.update(self, snapshot)


def place(snapshot: Snapshot) -> dict[str, Decision]:
    return Planner(snapshot).decisions


__all__ = [
    "PLACEMENT_FAILED",
    "Explanation",
    "PlacementOverdue",
    "Planner",
    "Preemption",
    "explain",
    "place",
]
