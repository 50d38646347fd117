"""Selection and division for one application: which of its feasible sites it takes
and how many replicas each. EverySite takes every feasible site; Replicas/Duplicated
takes the N best, one spread domain at a time; Replicas/Divided splits N replicas by
static weights or by how many each site can take (never more than ``maxPerSite``);
ordered siteGroups fill the first group first and, when N shrinks, empty the last
first. Each returns its notes (why fewer than wanted) with the sites.

Neighbours: ``division`` (the array arithmetic), ``scorers`` (the scores), ``planner``
(which calls ``select`` after the filter).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from edgeplane.placement.checks.distance import distance_to
from edgeplane.placement.context import Context, Scope
from edgeplane.placement.division import (
    bounded,
    divide,
    divide_by_domain,
    limit_groups,
    pick,
    spread_quotas,
)
from edgeplane.placement.fleet import Bools, Floats, Ints
from edgeplane.placement.ledger import EMPTY
from edgeplane.placement.model import AppView, StaticWeight
from edgeplane.placement.scorers import Scoring, score

Notes = tuple[str, ...]


@dataclass(frozen=True)
class Turn:
    """One application's turn after the filter: the context, its feasible sites, what
    it holds at each site (replicas) and every site's load."""

    ctx: Context
    cand: Ints
    held_n: Ints
    load: Ints


def select(turn: Turn) -> tuple[Ints, Ints, Notes]:
    """The sites taken (ascending), the replicas at each, and notes."""
    app, cand = turn.ctx.app, turn.cand
    if app.every_site:
        return cand, np.ones(len(cand), dtype=np.int64), ()
    if app.divided:
        return _divided(turn)
    idx, notes = _duplicated(turn)
    return idx, np.ones(len(idx), dtype=np.int64), notes


def tier_ranks(scope: Scope, app: AppView) -> Ints | None:
    """Per label set: the first of the ordered siteGroups it is in (None: not ordered)."""
    if len(app.site_groups) < 2:
        return None
    groups = scope.groups

    def make() -> Ints:
        ranks = [
            next(
                (i for i, g in enumerate(app.site_groups) if g in groups and groups[g].matches(ls)),
                len(app.site_groups),
            )
            for ls in scope.fleet.label_sets
        ]
        return np.array(ranks, dtype=np.int64)

    return scope.caches.get("tiers", app.site_groups, make)


def _score(turn: Turn, held: Bools) -> Floats:
    ctx = turn.ctx
    app, scope = ctx.app, ctx.scope
    tiers = tier_ranks(scope, app)
    scoring = Scoring(
        app,
        scope.fleet,
        held,
        ctx.room,
        turn.load,
        None if tiers is None else scope.per_site(tiers),
        None if app.locality is None else distance_to(scope, app.locality),
    )
    return score(scoring, turn.cand)


def _limit_groups(turn: Turn, held: Floats, score: Floats) -> tuple[Bools, Notes]:
    """Which candidates the spreads' minGroups and maxGroups allow."""
    cand, fleet = turn.cand, turn.ctx.fleet
    keep = np.ones(len(cand), dtype=bool)
    for spread in turn.ctx.app.spread:
        if spread.min_groups is None and spread.max_groups is None:
            continue
        domains = fleet.domains(spread.key).of[cand]
        allowed, short = limit_groups(domains, held, score, spread.min_groups, spread.max_groups)
        if short:
            note = (
                f"needs {spread.min_groups} {spread.key} domains; "
                f"feasible sites are in {short.split()[0]}"
            )
            return np.zeros(len(cand), dtype=bool), (note,)
        keep &= allowed
    return keep, ()


def _duplicated(turn: Turn) -> tuple[Ints, Notes]:
    app = turn.ctx.app
    if app.replicas <= 0 or not len(turn.cand):
        return EMPTY[0], ()
    held = turn.ctx.held
    score = _score(turn, held)
    keep, notes = _limit_groups(turn, held[turn.cand].astype(float), score)
    cand, score = turn.cand[keep], score[keep]
    fleet = turn.ctx.fleet
    groups = [(fleet.domains(s.key).of[cand], s.max_skew) for s in app.spread]
    return np.sort(cand[pick(bounded(app.replicas), score, groups or None)]), notes


def _divided(turn: Turn) -> tuple[Ints, Ints, Notes]:
    """N replicas divided over the feasible sites. With stickiness, the replicas that
    run where they still fit stay; only the missing ones are divided (or, when there
    are too many, some give up: the last ordered siteGroup first, the largest parts
    first within one)."""
    app, cand = turn.ctx.app, turn.cand
    n = bounded(app.replicas)
    if n <= 0 or not len(cand):
        return (*EMPTY, ())
    avail = _room(turn, n)
    weights = _static_weights(turn) if app.static_weights else avail.copy()
    score = _score(turn, turn.held_n > 0)
    held = turn.held_n[cand]
    keep, notes = _limit_groups(turn, held.astype(float), score)
    weights = np.where(keep, weights, 0.0)
    kept = _kept(turn, keep & (weights > 0), np.minimum(held, avail))
    if kept.sum() >= n:
        counts = _trimmed(turn, kept, n, score)
    else:
        counts = kept + _division(turn, n, weights, avail - kept, kept, score)
    if int(counts.sum()) < n:
        notes += (_short(app, n, counts, keep & (weights > 0)),)
    sel = counts > 0
    return cand[sel], counts[sel], notes


def _room(turn: Turn, n: int) -> Floats:
    """How many replicas each candidate can take: at most ``n``, what its cpu and
    memory left hold, and ``maxPerSite``. The cap is room like any other, so what
    comes after (replicas kept, weights, ordered siteGroups, spread) respects it."""
    app, cand, room = turn.ctx.app, turn.cand, turn.ctx.room
    avail = np.full(len(cand), float(n))
    if app.cpu_millis:
        avail = np.minimum(avail, np.floor(room[0][cand] / app.cpu_millis))
    if app.memory_bytes:
        avail = np.minimum(avail, np.floor(room[1][cand] / app.memory_bytes))
    if app.max_per_site is not None:
        avail = np.minimum(avail, float(bounded(app.max_per_site)))
    return avail


def _short(app: AppView, n: int, counts: Ints, usable: Bools) -> str:
    """Why fewer than ``n`` replicas were placed: every site the division may use is
    at ``maxPerSite``, or there is no more room (naming the sites at the cap)."""
    placed, cap = int(counts.sum()), app.max_per_site
    at_cap = int((usable & (counts >= cap)).sum()) if cap is not None else 0
    if at_cap and at_cap == int(usable.sum()):
        where = "site with a weight" if app.static_weights else "feasible site"
        return f"{n - placed} replica(s) unplaced: every {where} is at placement.maxPerSite ({cap})"
    basis = "static weights" if app.static_weights else "capacity"
    capped = f"; {at_cap} site(s) at placement.maxPerSite ({cap})" if at_cap else ""
    return f"room for {placed} of {n} replicas at the feasible sites (by {basis}{capped})"


def _kept(turn: Turn, stays: Bools, fits: Floats) -> Ints:
    """The replicas that stay where they run (Divided by room, with stickiness).

    Room changes all the time, and a fresh division would move replicas with it.
    Static weights say what each site should have, so those are divided afresh;
    equal shares go to the sites held (the stickiness score breaks ties), and a site
    that joins later gets its share."""
    app = turn.ctx.app
    if not app.weights.stickiness or app.static_weights:
        return np.zeros(len(turn.cand), dtype=np.int64)
    if app.spread:  # what runs where the spread key is missing moves into a domain
        keyed = turn.ctx.fleet.domains(app.spread[0].key).of[turn.cand] >= 0
        stays &= keyed if (keyed & stays).any() else stays
    found: Ints = np.where(stays, fits, 0).astype(np.int64)
    return found


def _static_weights(turn: Turn) -> Floats:
    scope, app = turn.ctx.scope, turn.ctx.app
    groups = scope.groups

    def matches(w: StaticWeight, labels: Mapping[str, str]) -> bool:
        if w.site_group is None:
            return w.selector.matches(labels)
        return w.site_group in groups and groups[w.site_group].matches(labels)

    per_set = np.array(
        [
            next((w.weight for w in app.static_weights if matches(w, ls)), 0)
            for ls in scope.fleet.label_sets
        ],
        dtype=float,
    )
    found: Floats = per_set[scope.fleet.label_set[turn.cand]]
    return found


def _division(turn: Turn, n: int, weights: Floats, caps: Floats, kept: Ints, score: Floats) -> Ints:
    """The ``n - kept`` replicas still missing, over sites with room ``caps``: by
    spread domain (each domain made up to its even share of ``n``), by ordered
    siteGroup (the first group first), or over all in proportion to ``weights``."""
    app = turn.ctx.app
    missing = n - int(kept.sum())
    if app.spread:
        return _by_spread(turn, n, missing, weights, caps, kept, score)
    ranks = _ranks(turn)
    if ranks is None:
        return divide(missing, weights, caps, score)
    counts = np.zeros(len(turn.cand), dtype=np.int64)
    for tier in np.unique(ranks).tolist():
        inside = ranks == tier
        part = divide(missing, np.where(inside, weights, 0.0), np.where(inside, caps, 0.0), score)
        counts += part
        missing -= int(part.sum())
    return counts


def _by_spread(
    turn: Turn, n: int, missing: int, weights: Floats, caps: Floats, kept: Ints, score: Floats
) -> Ints:
    """Each domain of the first spread made up to its even share of ``n``."""
    counts = np.zeros(len(turn.cand), dtype=np.int64)
    found = turn.ctx.fleet.domains(turn.ctx.app.spread[0].key)
    domains = found.of[turn.cand]
    usable = (domains >= 0) & (weights > 0)
    if not usable.any():
        return counts
    size = len(found.values)
    d = np.where(usable, domains, 0)
    mine = np.bincount(d, weights=np.where(usable, kept, 0), minlength=size)
    room = np.bincount(d, weights=np.where(usable, caps, 0), minlength=size)
    target = spread_quotas(n, np.minimum(room + mine, n), mine.astype(float))
    quotas = np.minimum(np.maximum(target - mine, 0), np.floor(room)).astype(np.int64)
    short = missing - int(quotas.sum())
    if short > 0:  # kept replicas crowd some domains: the rest where room is left
        quotas += spread_quotas(short, room - quotas, mine.astype(float))
    inside = np.flatnonzero(usable)
    counts[inside] = divide_by_domain(
        quotas, domains[inside], weights[inside], caps[inside], score[inside]
    )
    return counts


def _ranks(turn: Turn) -> Ints | None:
    """Each candidate's place in the ordered siteGroups (None: not ordered)."""
    tiers = tier_ranks(turn.ctx.scope, turn.ctx.app)
    return None if tiers is None else tiers[turn.ctx.fleet.label_set[turn.cand]]


def _trimmed(turn: Turn, kept: Ints, n: int, score: Floats) -> Ints:
    """The replicas kept, down to ``n``. Ordered siteGroups fill the first group first,
    so they empty in the reverse order: each group keeps what the groups before it
    leave of ``n``, and a shrink leaves what a fresh placement of fewer would fill (an
    autoscaled "edge first, cloud when full" leaves the cloud first). Within a group,
    and without an order, the largest parts give up first (``trim``); so too with
    spread, which divides by domain, not by group (``_division``)."""
    ranks = None if turn.ctx.app.spread else _ranks(turn)
    if ranks is None:
        return trim(kept, n, score)
    counts = np.zeros(len(kept), dtype=np.int64)
    left = n
    for tier in np.unique(ranks).tolist():
        part = np.where(ranks == tier, kept, 0)
        take = min(int(part.sum()), left)
        counts += trim(part, take, score)
        left -= take
    return counts


def trim(counts: Ints, n: int, score: Floats) -> Ints:
    """Down to ``n`` replicas, as if one at a time from the largest part, the worst
    scored first among equals: every part cut to the level where ``n`` still fit, and
    the excess at that level taken from the worst scored (found by bisection, so a
    count of two billion costs 31 steps, not two billion)."""
    low, high = 0, int(counts.max(initial=0))
    while low < high:  # the least level whose parts hold n or more
        mid = (low + high) // 2
        if int(np.minimum(counts, mid).sum()) >= n:
            high = mid
        else:
            low = mid + 1
    result = np.minimum(counts, low)
    excess = int(result.sum()) - n
    if excess > 0:
        at = np.flatnonzero(result == low)
        worst = at[np.lexsort((at, score[at]))][:excess]
        result[worst] -= 1
    return result
