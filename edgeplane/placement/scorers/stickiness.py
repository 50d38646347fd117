"""Stickiness: 1 where the application runs now (``Weights.stickiness``, 100 by default,
outweighs all the rest, so what runs stays unless a constraint or the spread moves it)."""

from __future__ import annotations

from edgeplane.placement.fleet import Floats, Ints
from edgeplane.placement.model import AppView
from edgeplane.placement.scorers.base import Scorer, Scoring

STICKY = 1.0


class StickinessScorer(Scorer):
    name = "stickiness"
    order = 10

    def weight(self, app: AppView) -> float:
        return app.weights.stickiness

    def scores(self, s: Scoring, cand: Ints) -> Floats:
        found: Floats = STICKY * s.held[cand].astype(float)
        return found
