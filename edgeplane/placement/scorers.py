"""Scorers: how good each feasible site is for an application, as one array over the
candidates. The planner adds them up with the application's weights, and a few fixed
preferences on top:

* stickiness: 1 where the application runs now (``Weights.stickiness``, 100 by default,
  outweighs all the rest, so what runs stays unless a constraint or the spread moves it);
* ordered siteGroups: -20 per group passed over, so the first group fills first;
* not Online (say Pending): -10; a PreferNoSchedule taint: -5;
* balance (least allocated): the share of the site's capacity left after placing, or
  1/(1 + replicas there) where the capacity is unknown, in [0, 1];
* locality: 1 at the target, falling linearly to 0 at ``max_km`` (or half the
  Earth's circumference), 0 without a location.
"""

from __future__ import annotations

import numpy as np

from edgeplane.placement.fleet import Bools, Fleet, Floats, Ints
from edgeplane.placement.model import AppView

STICKY = 1.0
GROUP_STEP = 20.0
NOT_ONLINE = 10.0
PREFER_NOT = 5.0
HALF_EARTH_KM = 20_015.0


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


def locality(app: AppView, distance: Floats) -> Floats:
    assert app.locality is not None
    scale = app.locality.max_km or HALF_EARTH_KM
    near: Floats = 1.0 - np.clip(distance / scale, 0.0, 1.0)
    return np.nan_to_num(near, nan=0.0)


def score(
    app: AppView,
    fleet: Fleet,
    cand: Ints,
    held: Bools,
    room: tuple[Floats, Floats],
    load: Ints,
    tiers: Ints | None,
    distance: Floats | None,
) -> Floats:
    weights = app.weights
    total = weights.stickiness * STICKY * held[cand]
    total -= NOT_ONLINE * ~fleet.online[cand] + PREFER_NOT * fleet.prefer_not[cand]
    if tiers is not None:
        total -= GROUP_STEP * tiers
    if weights.balance:
        total += weights.balance * balance(app, fleet, cand, room, load)
    if distance is not None and weights.locality:
        total += weights.locality * locality(app, distance[cand])
    result: Floats = total.astype(float)
    return result
