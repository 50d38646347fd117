"""What a scorer is: a name, a weight taken from the application (0: skipped) and one
array of scores over the candidates, from what ``Scoring`` gives it."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

from edgeplane.placement.fleet import Bools, Fleet, Floats, Ints
from edgeplane.placement.model import AppView


@dataclass(frozen=True)
class Scoring:
    """What the scorers read, per site of the fleet."""

    app: AppView
    fleet: Fleet
    held: Bools
    room: tuple[Floats, Floats]
    load: Ints
    """Replicas at each site, of every application."""
    tiers: Ints | None = None
    """Ordered siteGroups: the index of the first group each site is in."""
    distance: Floats | None = None
    """From the application's locality target (NaN without a location)."""


class Scorer(ABC):
    name: ClassVar[str]
    order: ClassVar[int]
    """Scores are added in this order (floating point: keep it fixed)."""

    @abstractmethod
    def weight(self, app: AppView) -> float:
        """How much this scorer counts for ``app`` (0: not at all)."""

    @abstractmethod
    def scores(self, s: Scoring, cand: Ints) -> Floats:
        """How good each of ``cand`` is, before the weight."""
