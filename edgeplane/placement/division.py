"""Selection and division: which of the feasible sites an application takes, and how
many replicas each.

* ``pick``: N sites (Duplicated), the best scored first, one domain at a time when
  spread asks for it;
* ``divide``: N replicas over sites in proportion to weights, capped by what each can
  take (largest remainder, so the parts always add up to N when capacity allows);
* ``spread_quotas``: N replicas over topology domains as evenly as their room allows.

All take and return arrays indexed like the candidates they are given, and break ties
by position (the fleet keeps sites in name order), so the same input always gives the
same result.
"""

from __future__ import annotations

import numpy as np

from edgeplane.placement.fleet import Bools, Floats, Ints


def divide(n: int, weights: Floats, caps: Floats) -> Ints:
    """``n`` split in proportion to ``weights``, no part above its cap. Parts with
    weight 0 get nothing; what capped parts cannot take goes to the others."""
    result = np.zeros(len(weights), dtype=np.int64)
    active = (weights > 0) & (caps >= 1)
    left = n
    while left > 0 and active.any():
        w = np.where(active, weights, 0.0)
        share = left * w / w.sum()
        room = np.floor(caps) - result
        base = np.minimum(np.floor(share), room).astype(np.int64)
        result += base
        left -= int(base.sum())
        if left > 0:
            frac = np.where(active & (result < np.floor(caps)), share - np.floor(share), -1.0)
            # Largest remainders first; ties by position.
            order = np.lexsort((np.arange(len(frac)), -frac))
            order = order[frac[order] >= 0][:left]
            result[order] += 1
            left -= len(order)
        active &= result < np.floor(caps)
    return result


def spread_quotas(n: int, room: Floats, held: Floats, max_skew: int) -> Ints:
    """``n`` replicas over domains with ``room`` replicas each, as evenly as the room
    allows (within ``max_skew`` of each other): domains that hold more now get the
    remainder first."""
    quota = np.zeros(len(room), dtype=np.int64)
    left = n
    while left > 0:
        open_ = quota < np.floor(room)
        if not open_.any():
            break
        lowest = quota[open_].min()
        allowed = open_ & (quota + 1 - lowest <= max_skew)
        order = np.lexsort((np.arange(len(room)), -held, quota))
        order = order[allowed[order]]
        take = order[:left]
        quota[take] += 1
        left -= len(take)
    return quota


def pick(n: int, score: Floats, groups: list[tuple[Ints, int]] | None = None) -> Ints:
    """``n`` candidates, best ``score`` first (ties by position).

    With ``groups`` (per spread key: each candidate's domain, -1 for none, and the
    key's maxSkew), each pick goes to the best candidate whose domain stays within
    maxSkew of the emptiest domain that still has candidates; if no domain can, to the
    emptiest. Candidates without the key come after all that have it."""
    count = len(score)
    if n <= 0 or count == 0:
        return np.zeros(0, dtype=np.int64)
    # Ties by position: a score a hair lower the later the candidate.
    key = score - np.arange(count) * 1e-9
    if not groups:
        if n >= count:
            return np.argsort(-key, kind="stable")
        top = np.argpartition(-key, n - 1)[:n]
        return top[np.argsort(-key[top], kind="stable")]
    return _spread_pick(n, key, groups)


def _spread_pick(n: int, key: Floats, groups: list[tuple[Ints, int]]) -> Ints:
    doms = np.stack([d for d, _ in groups], axis=1)
    skews = np.array([skew for _, skew in groups])
    keyed = np.flatnonzero((doms >= 0).all(axis=1))
    chosen: list[int] = []
    if len(keyed):
        chosen = [int(c) for c in keyed[_by_domains(n, key[keyed], doms[keyed], skews)]]
    if len(chosen) < n:  # candidates without the key come last
        rest = np.setdiff1d(np.arange(len(key)), keyed)
        best = rest[np.argsort(-key[rest], kind="stable")][: n - len(chosen)]
        chosen += best.tolist()
    return np.array(chosen, dtype=np.int64)


def _by_domains(n: int, key: Floats, doms: Ints, skews: Ints) -> Ints:
    """Greedy spread over candidates that all have every key (``doms``: candidate x key)."""
    if doms.shape[1] == 1:
        combo = doms[:, 0]
    else:
        radix = doms.max(axis=0) + 1
        mixed = doms @ np.concatenate(([1], np.cumprod(radix[:-1])))
        _, combo = np.unique(mixed, return_inverse=True)
        combo = combo.reshape(-1)
    size = int(combo.max()) + 1
    order = np.argsort(combo, kind="stable")
    ranked = key[order]
    starts = np.searchsorted(combo[order], np.arange(size + 1))
    alive = starts[1:] > starts[:-1]
    best = np.full(size, -np.inf)
    best[alive] = np.maximum.reduceat(ranked, starts[:-1][alive])
    values = np.zeros((size, doms.shape[1]), dtype=np.int64)  # each combined domain's values
    values[combo[order[starts[:-1][alive]]]] = doms[order[starts[:-1][alive]]]
    counts = [np.zeros(int(doms[:, k].max()) + 1, dtype=np.int64) for k in range(doms.shape[1])]
    present = [np.unique(doms[:, k]) for k in range(doms.shape[1])]
    chosen: list[int] = []
    while len(chosen) < n and alive.any():
        have = np.stack([counts[k][values[:, k]] for k in range(len(counts))])
        lows = np.array([counts[k][present[k]].min() for k in range(len(counts))])
        within = alive & (have + 1 - lows[:, None] <= skews[:, None]).all(axis=0)
        if within.any():
            c = int(np.argmax(np.where(within, best, -np.inf)))
        else:  # no domain can stay within maxSkew: the emptiest, then the best
            live = np.flatnonzero(alive)
            c = int(live[np.lexsort((-best[live], *have[::-1, live]))[0]])
        lo, hi = int(starts[c]), int(starts[c + 1])
        at = lo + int(np.argmax(ranked[lo:hi]))
        chosen.append(int(order[at]))
        ranked[at] = -np.inf
        best[c] = ranked[lo:hi].max()
        alive[c] = best[c] > -np.inf
        for k in range(len(counts)):
            counts[k][values[c, k]] += 1
    return np.array(chosen, dtype=np.int64)


def limit_groups(
    domains: Ints, held: Floats, score: Floats, min_groups: int | None, max_groups: int | None
) -> tuple[Bools, str | None]:
    """Which candidates stay when at most ``max_groups`` domains may be used (those
    holding the most now, then the best scored), and why placement must fail when
    fewer than ``min_groups`` domains have any."""
    present = np.unique(domains[domains >= 0])
    if min_groups and len(present) < min_groups:
        return np.zeros(len(domains), dtype=bool), f"{len(present)} of {min_groups}"
    keep = np.ones(len(domains), dtype=bool)
    if max_groups and len(present) > max_groups:
        size = int(domains.max()) + 1
        holds = np.bincount(domains[domains >= 0], weights=held[domains >= 0], minlength=size)
        best = np.full(size, -np.inf)
        np.maximum.at(best, domains[domains >= 0], score[domains >= 0])
        ranked = sorted(present, key=lambda d: (-holds[d], -best[d], d))
        keep = np.isin(domains, ranked[:max_groups])
    return keep, None
