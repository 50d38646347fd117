"""Which targets to answer a client with, best first: pure, no I/O.

Tiers, nearest first: 0 the client's own site, 1 its region, 2 anywhere else, ordered
by great-circle distance from the client's point. The point is the place's own, else
its site's location, else the centroid of the healthy targets in its region; without
one, every remote target is as good as another. Unhealthy targets are never answered.
Within what is equally near, heavier targets (more ready replicas) come first more
often: a weighted shuffle, deterministic for a seeded ``random.Random``.

Neighbours: ``table`` makes the targets, ``locality`` the place; ``responder`` turns
the choice into A, AAAA and SRV records.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from edgeplane.traffic.locality import Place
from edgeplane.traffic.table import Target

SITE, REGION, REMOTE = 0, 1, 2
PRIORITY_STEP = 10
"""SRV priority per tier (the tier's first priority is ``tier * PRIORITY_STEP``)."""
U16_MAX = 65535
EARTH_RADIUS_KM = 6371.0088

Point = tuple[float, float]


@dataclass(frozen=True)
class Ranked:
    target: Target
    tier: int
    distance_km: float | None
    """From the client's point, when both are known."""


def rank(targets: Iterable[Target], place: Place) -> list[Ranked]:
    """The healthy targets by tier, then distance (unknown last), then site and
    address, so equal targets keep one order."""
    every = tuple(targets)
    point = _client_point(every, place)
    ranked = [Ranked(t, _tier(t, place), _distance_km(point, t)) for t in every if t.healthy]
    return sorted(ranked, key=_order)


def pick(
    targets: Iterable[Target], place: Place, *, limit: int = 8, rng: random.Random
) -> list[Target]:
    """At most ``limit`` targets for an A or AAAA answer, one per address."""
    return choose(rank(targets, place), limit=limit, rng=rng)


def choose(ranked: Sequence[Ranked], *, limit: int, rng: random.Random) -> list[Target]:
    """``pick`` over targets already ranked: only the best tier there is; remote
    targets nearest first, a group of equally near ones at a time; each group in a
    weighted shuffle."""
    best = _by_address(ranked)
    if not best or limit < 1:
        return []
    tier = [r for r in best if r.tier == best[0].tier]
    chosen: list[Target] = []
    for _, group in itertools.groupby(tier, key=_nearness):
        if len(chosen) >= limit:
            break
        chosen.extend(weighted_shuffle([r.target for r in group], rng))
    return chosen[:limit]


def srv_records(
    targets: Iterable[Target], place: Place, *, limit: int = 32
) -> list[tuple[int, int, Target]]:
    """``(priority, weight, target)`` for SRV answers, every tier, best first: the
    priority is ``10 * tier``, plus, for remote targets, how many distances nearer
    ones there are (equally near ones share a priority)."""
    records = []
    remote_distances: list[float | None] = []
    for r in rank(targets, place)[: max(0, limit)]:
        priority = PRIORITY_STEP * r.tier
        if r.tier == REMOTE:
            if not remote_distances or remote_distances[-1] != r.distance_km:
                remote_distances.append(r.distance_km)
            priority += len(remote_distances) - 1
        records.append((min(priority, U16_MAX), min(max(r.target.weight, 0), U16_MAX), r.target))
    return records


def weighted_shuffle(targets: Sequence[Target], rng: random.Random) -> list[Target]:
    """``targets`` in a random order where each comes first with a chance in
    proportion to its weight (Efraimidis-Spirakis: sort by exponential keys)."""
    keys = [rng.expovariate(max(t.weight, 1)) for t in targets]
    order = sorted(range(len(targets)), key=keys.__getitem__)
    return [targets[i] for i in order]


def distance_km(a: Point, b: Point) -> float:
    """Great-circle distance (haversine) between two (lat, lon) points."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def _tier(target: Target, place: Place) -> int:
    if place.site is not None and target.site == place.site:
        return SITE
    if place.region is not None and target.region == place.region:
        return REGION
    return REMOTE


def _order(r: Ranked) -> tuple[int, bool, float, str, str, int]:
    t = r.target
    return (r.tier, r.distance_km is None, r.distance_km or 0.0, t.site, t.address, t.port)


def _nearness(r: Ranked) -> float | None:
    """What sets a target apart within its tier: only remote ones by distance."""
    return r.distance_km if r.tier == REMOTE else None


def _by_address(ranked: Sequence[Ranked]) -> list[Ranked]:
    """The best-ranked of each address (one address may serve several ports)."""
    seen: set[str] = set()
    kept = []
    for r in ranked:
        if r.target.address not in seen:
            seen.add(r.target.address)
            kept.append(r)
    return kept


def _distance_km(point: Point | None, target: Target) -> float | None:
    if point is None or target.lat is None or target.lon is None:
        return None
    return distance_km(point, (target.lat, target.lon))


def _client_point(targets: Sequence[Target], place: Place) -> Point | None:
    if place.lat is not None and place.lon is not None:
        return place.lat, place.lon
    if place.site is not None:
        for t in targets:
            if t.site == place.site and t.lat is not None and t.lon is not None:
                return t.lat, t.lon
    if place.region is None:
        return None
    return _centroid(
        (t.lat, t.lon)
        for t in targets
        if t.healthy and t.region == place.region and t.lat is not None and t.lon is not None
    )


def _centroid(points: Iterable[Point]) -> Point | None:
    """The mean of points on the sphere (so sites either side of the antimeridian
    average near it, not near Greenwich); None for none, or ones that cancel out."""
    x = y = z = 0.0
    for lat, lon in points:
        phi, lam = math.radians(lat), math.radians(lon)
        x, y, z = (
            x + math.cos(phi) * math.cos(lam),
            y + math.cos(phi) * math.sin(lam),
            z + math.sin(phi),
        )
    norm = math.sqrt(x * x + y * y + z * z)
    if norm < 1e-9:
        return None
    return math.degrees(math.asin(z / norm)), math.degrees(math.atan2(y, x))
