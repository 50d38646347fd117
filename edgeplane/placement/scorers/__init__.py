"""Scorers: how good each feasible site is for an application, one module each (Nomad's
rankers), as one array over the candidates; ``score`` adds them up with the
application's weights (``Weights``), in the registry's order.

``SCORERS`` is the registry: every ``Scorer`` subclass defined in a module of this
package, found without a hand-kept list, in ``order``.
"""

from __future__ import annotations

import numpy as np

from edgeplane.placement.fleet import Floats, Ints
from edgeplane.placement.registry import discover
from edgeplane.placement.scorers.balance import balance
from edgeplane.placement.scorers.base import Scorer, Scoring
from edgeplane.placement.scorers.locality import HALF_EARTH_KM, locality
from edgeplane.placement.scorers.preferences import GROUP_STEP, NOT_ONLINE, PREFER_NOT
from edgeplane.placement.scorers.stickiness import STICKY

SCORERS: tuple[Scorer, ...] = discover(__name__, __path__, Scorer)


def score(s: Scoring, cand: Ints) -> Floats:
    """Every scorer's weighted score, added up, for each of ``cand``."""
    total = np.zeros(len(cand), dtype=float)
    for scorer in SCORERS:
        if weight := scorer.weight(s.app):
            part = scorer.scores(s, cand)
            if weight != 1.0:
                part = weight * part
            total += part
    return total


__all__ = [
    "GROUP_STEP",
    "HALF_EARTH_KM",
    "NOT_ONLINE",
    "PREFER_NOT",
    "SCORERS",
    "STICKY",
    "Scorer",
    "Scoring",
    "balance",
    "locality",
    "score",
]
