"""The fixed preferences: ordered siteGroups, -20 per group passed over (the first group
fills first); not Online (say Pending), -10; a PreferNoSchedule taint, -5."""

from __future__ import annotations

import numpy as np

from edgeplane.placement.fleet import Floats, Ints
from edgeplane.placement.model import AppView
from edgeplane.placement.scorers.base import Scorer, Scoring

GROUP_STEP = 20.0
NOT_ONLINE = 10.0
PREFER_NOT = 5.0


class PreferencesScorer(Scorer):
    name = "preferences"
    order = 20

    def weight(self, app: AppView) -> float:
        return 1.0

    def scores(self, s: Scoring, cand: Ints) -> Floats:
        fleet = s.fleet
        found: Floats = np.where(fleet.online[cand], 0.0, NOT_ONLINE)
        found += PREFER_NOT * fleet.prefer_not[cand]
        if s.tiers is not None:
            found += GROUP_STEP * s.tiers[cand]
        return np.negative(found, out=found)
