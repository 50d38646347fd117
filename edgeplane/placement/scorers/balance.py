"""Balance (least allocated): the share of the site's capacity left after placing, or
1/(1 + replicas there) where the capacity is unknown, in [0, 1]."""

from __future__ import annotations

import numpy as np

from edgeplane.placement.fleet import Fleet, Floats, Ints
from edgeplane.placement.model import AppView
from edgeplane.placement.scorers.base import Scorer, Scoring


def balance(
    app: AppView, fleet: Fleet, cand: Ints, room: tuple[Floats, Floats], load: Ints
) -> Floats:
    there = load[cand]
    result: Floats
    if fleet.capacity_known:  # every site reports both: no masking needed
        result = (room[0][cand] - app.cpu_millis) * fleet.inverse_cpu[cand]
        result += (room[1][cand] - app.memory_bytes) * fleet.inverse_memory[cand]
        result *= 0.5
    else:
        shares = []
        for capacity, left, need in (
            (fleet.cpu[cand], room[0][cand], app.cpu_millis),
            (fleet.memory[cand], room[1][cand], app.memory_bytes),
        ):
            known = np.isfinite(capacity) & (capacity > 0)
            after = np.where(known, left, 0.0) - need
            shares.append((np.where(known, after / np.where(known, capacity, 1.0), 0.0), known))
        known_count = shares[0][1].astype(float) + shares[1][1]
        mean = (shares[0][0] + shares[1][0]) / np.maximum(known_count, 1.0)
        result = np.where(known_count > 0, mean, 1.0 / (1.0 + there))
    # Among equals, the fewer replicas already there the better.
    return result - 1e-4 * there / (1.0 + there)


class BalanceScorer(Scorer):
    name = "balance"
    order = 30

    def weight(self, app: AppView) -> float:
        return app.weights.balance

    def scores(self, s: Scoring, cand: Ints) -> Floats:
        return balance(s.app, s.fleet, cand, s.room, s.load)
