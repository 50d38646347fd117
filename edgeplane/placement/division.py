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

import heapq

import numpy as np

from edgeplane.placement.fleet import Bools, Floats, Ints
from edgeplane.placement.model import MAX_REPLICAS


def divide(n: int, weights: Floats, caps: Floats, tiebreak: Floats | None = None) -> Ints:
    """``n`` split in proportion to ``weights``, no part above its cap. Parts with
    weight 0 get nothing; what capped parts cannot take goes to the others. Equal
    remainders go to the higher ``tiebreak`` first, then by position.

    Safe for any input: ``n`` is bounded by ``MAX_REPLICAS``, weights are scaled so
    their sum cannot overflow (non-finite ones count as 0) and each round either
    places everything or fills a part, so there are at most ``len(weights) + 1``."""
    n = bounded(n)
    result = np.zeros(len(weights), dtype=np.int64)
    w = _scaled(weights)
    limit = np.floor(np.clip(np.nan_to_num(caps, nan=0.0, posinf=n), 0, n))
    active = (w > 0) & (limit >= 1)
    left = n
    for _ in range(len(weights) + 1):
        if left <= 0 or not active.any():
            break
        mine = np.where(active, w, 0.0)
        share = left * (mine / mine.sum())
        base = _at_most(np.minimum(np.floor(share), limit - result).astype(np.int64), left)
        result += base
        left -= int(base.sum())
        if left > 0:
            frac = np.where(active & (result < limit), share - np.floor(share), -1.0)
            # Largest remainders first; ties by position.
            ties = np.zeros(len(frac)) if tiebreak is None else tiebreak
            order = np.lexsort((np.arange(len(frac)), -ties, -frac))
            order = order[frac[order] >= 0][:left]
            result[order] += 1
            left -= len(order)
        active &= result < limit
    return result


def bounded(n: int | float) -> int:
    """A replica count the engine can do arithmetic on: 0 to ``MAX_REPLICAS`` (an
    object written by an older hub may carry 1e30)."""
    if not isinstance(n, int):
        n = int(n) if np.isfinite(n) else 0
    return max(0, min(n, MAX_REPLICAS))


def _scaled(weights: Floats) -> Floats:
    """Weights over their maximum: the proportions kept, the sum at most len(weights)."""
    w = np.where(np.isfinite(weights) & (weights > 0), weights, 0.0)
    top = float(w.max(initial=0.0))
    return w / top if top > 0 else w


def _at_most(base: Ints, left: int) -> Ints:
    """Float rounding of huge shares may floor a few parts one too high: take the
    excess back from the largest parts, so no round places more than is left."""
    excess = int(base.sum()) - left
    if excess > 0:
        base = base.copy()
        base[np.argsort(-base, kind="stable")[: min(excess, len(base))]] -= 1
    return np.maximum(base, 0)


def divide_by_domain(
    quotas: Ints, dom: Ints, weights: Floats, caps: Floats, tiebreak: Floats
) -> Ints:
    """Each domain's quota divided among its candidates (``divide`` within each). Where
    every share is below one replica (many sites, few replicas), that is simply the
    quota's best-weighted sites, one each, found without sorting."""
    counts = np.zeros(len(dom), dtype=np.int64)
    order, _, starts = _grouped(weights, dom)
    for d in np.flatnonzero(quotas).tolist():
        members = order[starts[d] : starts[d + 1]]
        # A site without room for one more (it holds all it can take) gets no share.
        q, w = int(quotas[d]), np.where(caps[members] >= 1, weights[members], 0.0)
        if q * w.max(initial=0.0) < w.sum():
            key = w + 1e-6 * tiebreak[members]
            top = np.argpartition(-key, q - 1)[:q] if q < len(members) else np.arange(q)
            counts[members[top]] = 1
        else:
            counts[members] = divide(q, w, caps[members], tiebreak[members])
    return counts


def spread_quotas(n: int, room: Floats, held: Floats) -> Ints:
    """``n`` replicas over domains with ``room`` replicas each, as evenly as the room
    allows (so within any maxSkew): round by round each domain with room left gets
    one; in the last round, those that hold more now (then the first) go first."""
    quota = np.zeros(len(room), dtype=np.int64)
    cap = np.floor(room).astype(np.int64)
    left = n
    while left > 0:
        open_ = np.flatnonzero(quota < cap)
        if not len(open_):
            break
        if left >= len(open_):
            rounds = max(1, min(left // len(open_), int((cap[open_] - quota[open_]).min())))
            quota[open_] += rounds
            left -= rounds * len(open_)
            continue
        first = open_[np.lexsort((open_, -held[open_]))][:left]
        quota[first] += 1
        left = 0
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
        spread = (
            _one_key(n, key[keyed], doms[keyed, 0], int(skews[0]))
            if len(groups) == 1
            else _by_domains(n, key[keyed], doms[keyed], skews)
        )
        chosen = keyed[spread].tolist()
    if len(chosen) < n:  # candidates without the key come last
        rest = np.setdiff1d(np.arange(len(key)), keyed)
        best = rest[np.argsort(-key[rest], kind="stable")][: n - len(chosen)]
        chosen += best.tolist()
    return np.array(chosen, dtype=np.int64)


def _grouped(key: Floats, dom: Ints) -> tuple[Ints, Floats, list[int]]:
    """Candidates domain by domain (``order``), their keys in that order, and where each
    domain starts (domain d is ``order[starts[d]:starts[d + 1]]``)."""
    size = int(dom.max()) + 1
    narrow = dom.astype(np.int16) if size < 2**15 else dom
    order = np.argsort(narrow, kind="stable")
    starts = np.searchsorted(dom[order], np.arange(size + 1)).tolist()
    return order, key[order], starts


def _one_key(n: int, key: Floats, dom: Ints, skew: int) -> Ints:
    """Greedy spread over one key, with a heap of domains by their best candidate: the
    best domain within ``skew`` of the emptiest is taken; one that is not waits until
    the emptiest catch up."""
    order, ranked, starts = _grouped(key, dom)
    size = len(starts) - 1
    present = [d for d in range(size) if starts[d + 1] > starts[d]]
    counts = [0] * size
    heap = [(-float(ranked[starts[d] : starts[d + 1]].max()), d) for d in present]
    heapq.heapify(heap)
    low, at_low = 0, len(present)
    waiting: list[tuple[float, int]] = []
    chosen: list[int] = []
    while len(chosen) < n and (heap or waiting):
        if heap:
            best, d = heapq.heappop(heap)
            if counts[d] + 1 - low > skew:
                waiting.append((best, d))
                continue
        else:  # none can stay within maxSkew (emptier domains ran out): the emptiest
            waiting.sort(key=lambda w: (counts[w[1]], w[0], w[1]))
            best, d = waiting.pop(0)
        lo, hi = starts[d], starts[d + 1]
        at = lo + int(np.argmax(ranked[lo:hi]))
        chosen.append(int(order[at]))
        ranked[at] = -np.inf
        if counts[d] == low:
            at_low -= 1
        counts[d] += 1
        if at_low == 0:
            low = min(counts[p] for p in present)
            at_low = sum(1 for p in present if counts[p] == low)
            for item in waiting:
                heapq.heappush(heap, item)
            waiting = []
        left = float(ranked[lo:hi].max())
        if left > -np.inf:
            heapq.heappush(heap, (-left, d))
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
