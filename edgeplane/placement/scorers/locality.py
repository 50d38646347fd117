"""Locality: 1 at the target, falling linearly to 0 at ``max_km`` (or half the Earth's
circumference), 0 without a location."""

from __future__ import annotations

import numpy as np

from edgeplane.placement.fleet import Floats, Ints
from edgeplane.placement.model import AppView
from edgeplane.placement.scorers.base import Scorer, Scoring

HALF_EARTH_KM = 20_015.0


def locality(app: AppView, distance: Floats) -> Floats:
    assert app.locality is not None
    scale = app.locality.max_km or HALF_EARTH_KM
    near: Floats = 1.0 - np.clip(distance / scale, 0.0, 1.0)
    return np.nan_to_num(near, nan=0.0)


class LocalityScorer(Scorer):
    name = "locality"
    order = 40

    def weight(self, app: AppView) -> float:
        return app.weights.locality if app.locality is not None else 0.0

    def scores(self, s: Scoring, cand: Ints) -> Floats:
        assert s.distance is not None
        return locality(s.app, s.distance[cand])
