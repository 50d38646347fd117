"""Selection and division (``division``), table by table: ``divide``, ``spread_quotas``,
``divide_by_domain``, ``pick`` and ``limit_groups`` on small arrays, and a few
properties over random ones."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgeplane.api.sites import SitePhase
from edgeplane.placement.division import (
    divide,
    divide_by_domain,
    limit_groups,
    pick,
    spread_quotas,
)
from edgeplane.placement.model import AppView, SiteView, Snapshot, Spread
from edgeplane.placement.planner import place


def floats(*values: float) -> np.ndarray:
    return np.array(values, dtype=float)


def ints(*values: int) -> np.ndarray:
    return np.array(values, dtype=np.int64)


# -- divide ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "weights", "caps", "tiebreak", "expected"),
    [
        (9, (1, 1, 1), (10, 10, 10), None, [3, 3, 3]),
        (10, (1, 1, 1), (10, 10, 10), None, [4, 3, 3]),
        (10, (1, 0, 1), (10, 10, 10), None, [5, 0, 5]),
        (10, (0, 0, 1), (10, 10, 10), None, [0, 0, 10]),
        (10, (1, 1, 1), (2, 10, 10), None, [2, 4, 4]),
        (10, (1, 1, 1), (0, 10, 10), None, [0, 5, 5]),
        (10, (1, 1, 1), (0.5, 10, 10), None, [0, 5, 5]),
        (5, (1, 1), (2.9, 10), None, [2, 3]),
        (7, (3, 3, 1), (10, 10, 10), None, [3, 3, 1]),
        (8, (2, 1, 1), (10, 10, 10), None, [4, 2, 2]),
        (5, (5, 3, 2), (10, 10, 10), None, [3, 1, 1]),
        (1, (1, 1, 1), (10, 10, 10), None, [1, 0, 0]),
        (2, (1, 1, 1), (10, 10, 10), None, [1, 1, 0]),
        (1, (1, 1, 1), (10, 10, 10), (0, 0, 1), [0, 0, 1]),
        (2, (1, 1, 1), (10, 10, 10), (0, 5, 1), [0, 1, 1]),
        (1, (1, 1, 1), (10, 10, 10), (1, 0, 1), [1, 0, 0]),
        (100, (1, 1, 1), (2, 3, 4), None, [2, 3, 4]),
        (100, (1, 0, 1), (2, 3, 4), None, [2, 0, 4]),
        (0, (1, 1, 1), (10, 10, 10), None, [0, 0, 0]),
        (5, (0, 0, 0), (10, 10, 10), None, [0, 0, 0]),
        (3, (), (), None, []),
    ],
    ids=[
        "even",
        "largest-remainder-first-position",
        "weight-0-gets-nothing",
        "only-one-weighted",
        "cap-overflows-to-others",
        "cap-0-gets-nothing",
        "fractional-cap-below-one",
        "fractional-cap-floored",
        "proportional-remainder-by-position",
        "proportional-exact",
        "largest-remainder-wins",
        "one-replica-first-position",
        "two-replicas-first-positions",
        "tiebreak-higher-first",
        "tiebreak-orders-two",
        "tiebreak-equal-by-position",
        "more-than-caps-gives-caps",
        "more-than-caps-without-weight-0",
        "nothing-to-divide",
        "no-weights",
        "no-parts",
    ],
)
def test_divide(
    n: int,
    weights: tuple[float, ...],
    caps: tuple[float, ...],
    tiebreak: tuple[float, ...] | None,
    expected: list[int],
) -> None:
    ties = None if tiebreak is None else floats(*tiebreak)
    got = divide(n, floats(*weights), floats(*caps), ties)
    assert got.tolist() == expected


@settings(max_examples=200, deadline=None)
@given(
    st.integers(0, 60),
    st.lists(
        st.tuples(st.integers(0, 5), st.integers(0, 12), st.integers(0, 3)),
        min_size=1,
        max_size=8,
    ),
)
def test_divide_adds_up_when_caps_allow(n: int, parts: list[tuple[int, int, int]]) -> None:
    weights = floats(*(w for w, _, _ in parts))
    caps = floats(*(c for _, c, _ in parts))
    ties = floats(*(t for _, _, t in parts))
    got = divide(n, weights, caps, ties)
    usable = int(caps[weights > 0].sum())
    assert int(got.sum()) == min(n, usable)
    assert (got <= caps).all()
    assert (got[weights == 0] == 0).all()
    assert (got >= 0).all()


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 60), st.lists(st.integers(1, 5), min_size=1, max_size=8))
def test_divide_without_caps_is_within_one_of_the_exact_share(n: int, weights: list[int]) -> None:
    w = floats(*weights)
    got = divide(n, w, np.full(len(w), float(n)))
    exact = n * w / w.sum()
    assert (np.abs(got - exact) < 1).all()


# -- spread_quotas --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "room", "held", "expected"),
    [
        (6, (10, 10, 10), (0, 0, 0), [2, 2, 2]),
        (7, (10, 10, 10), (0, 0, 0), [3, 2, 2]),
        (8, (10, 10, 10), (0, 0, 0), [3, 3, 2]),
        (7, (10, 10, 10), (0, 0, 5), [2, 2, 3]),
        (8, (10, 10, 10), (0, 4, 5), [2, 3, 3]),
        (7, (1, 10, 10), (0, 0, 0), [1, 3, 3]),
        (7, (0, 10, 10), (0, 0, 0), [0, 4, 3]),
        (7, (2.5, 10, 10), (0, 0, 0), [2, 3, 2]),
        (100, (1, 2, 3), (0, 0, 0), [1, 2, 3]),
        (0, (5, 5), (0, 0), [0, 0]),
        (3, (0, 0), (0, 0), [0, 0]),
    ],
    ids=[
        "even",
        "remainder-to-first",
        "two-remainders-to-first-two",
        "remainder-to-held",
        "remainders-to-most-held",
        "room-caps-one-domain",
        "no-room-no-quota",
        "fractional-room-floored",
        "more-than-room-gives-room",
        "nothing-to-spread",
        "no-room-anywhere",
    ],
)
def test_spread_quotas(
    n: int, room: tuple[float, ...], held: tuple[float, ...], expected: list[int]
) -> None:
    assert spread_quotas(n, floats(*room), floats(*held)).tolist() == expected


@settings(max_examples=200, deadline=None)
@given(
    st.integers(0, 40),
    st.lists(st.tuples(st.integers(0, 12), st.integers(0, 4)), min_size=1, max_size=6),
)
def test_spread_quotas_are_even_where_room_allows(n: int, domains: list[tuple[int, int]]) -> None:
    room = floats(*(r for r, _ in domains))
    held = floats(*(h for _, h in domains))
    quota = spread_quotas(n, room, held)
    assert int(quota.sum()) == min(n, int(room.sum()))
    assert (quota <= room).all()
    open_ = quota < room  # a domain with room left is at most one behind any other
    if open_.any():
        assert quota.max() - quota[open_].min() <= 1


# -- divide_by_domain -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("quotas", "dom", "weights", "caps", "expected"),
    [
        # Fast path (every share below one): the quota's best-weighted sites, one each.
        (
            (1, 2),
            (0, 0, 0, 0, 1, 1, 1, 1),
            (1, 3, 2, 1, 1, 2, 3, 1),
            (9, 9, 9, 9, 9, 9, 9, 9),
            [0, 1, 0, 0, 0, 1, 1, 0],
        ),
        # Fast path, equal weights: the preferred (tiebreak) site first.
        ((1,), (0, 0, 0), (1, 1, 1), (9, 9, 9), [1, 0, 0]),
        # Exact path: 6 over two sites (shares of 3), 3 over one.
        ((6, 3), (0, 0, 1), (1, 1, 1), (9, 9, 9), [3, 3, 3]),
        # Exact path, capped: the overflow stays within the domain.
        ((6, 3), (0, 0, 1), (1, 1, 1), (2, 9, 9), [2, 4, 3]),
        # A domain with quota 0 gets nothing.
        ((0, 2), (0, 0, 1, 1), (1, 1, 1, 1), (9, 9, 9, 9), [0, 0, 1, 1]),
        # Fast path skips a site without room (it holds all it can take).
        ((1,), (0, 0, 0, 0), (1, 1, 1, 1), (0, 1, 1, 1), [0, 1, 0, 0]),
    ],
    ids=[
        "fast-path",
        "fast-path-tiebreak",
        "exact-path",
        "exact-capped",
        "zero-quota",
        "fast-path-without-room",
    ],
)
def test_divide_by_domain(
    quotas: tuple[int, ...],
    dom: tuple[int, ...],
    weights: tuple[float, ...],
    caps: tuple[float, ...],
    expected: list[int],
) -> None:
    tiebreak = np.zeros(len(dom))
    tiebreak[0] = 100.0  # the first site is preferred among equals (say it is held)
    got = divide_by_domain(ints(*quotas), ints(*dom), floats(*weights), floats(*caps), tiebreak)
    assert got.tolist() == expected


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_divide_by_domain_adds_up_per_domain(data: st.DataObject) -> None:
    size = data.draw(st.integers(1, 4))
    dom = ints(*data.draw(st.lists(st.integers(0, size - 1), min_size=1, max_size=12)))
    weights = floats(*data.draw(st.lists(st.integers(0, 4), min_size=len(dom), max_size=len(dom))))
    caps = floats(*data.draw(st.lists(st.integers(0, 6), min_size=len(dom), max_size=len(dom))))
    tiebreak = floats(*data.draw(st.lists(st.integers(0, 3), min_size=len(dom), max_size=len(dom))))
    usable = np.bincount(dom, weights=np.where(weights > 0, caps, 0), minlength=size)
    quotas = ints(*(data.draw(st.integers(0, int(u))) for u in usable))
    got = divide_by_domain(quotas, dom, weights, caps, tiebreak)
    assert np.bincount(dom, weights=got, minlength=size).astype(int).tolist() == quotas.tolist()
    assert (got <= caps).all()
    assert (got[weights == 0] == 0).all()


# -- pick -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "score", "expected"),
    [
        (2, (1, 3, 2, 0), [1, 2]),
        (2, (1, 3, 2, 3), [1, 3]),
        (4, (1, 1, 1, 1), [0, 1, 2, 3]),
        (2, (1, 1, 1, 1), [0, 1]),
        (9, (2, 1, 3), [2, 0, 1]),
        (0, (2, 1, 3), []),
        (3, (), []),
    ],
    ids=[
        "top-n",
        "ties-by-position",
        "all-equal",
        "equal-first-positions",
        "more-than-all",
        "none",
        "empty",
    ],
)
def test_pick_without_groups(n: int, score: tuple[float, ...], expected: list[int]) -> None:
    assert pick(n, floats(*score)).tolist() == expected


def spread_of(chosen: np.ndarray, dom: np.ndarray) -> Counter[int]:
    return Counter(int(d) for d in dom[chosen])


@pytest.mark.parametrize(
    ("n", "score", "dom", "skew", "expected"),
    [
        # Best scores all in domain 0, but maxSkew 1 alternates.
        (4, (5, 4, 3, 2, 1), (0, 0, 0, 1, 1), 1, [0, 3, 1, 4]),
        # maxSkew 2 lets domain 0 go two ahead.
        (4, (5, 4, 3, 2, 1), (0, 0, 0, 1, 1), 2, [0, 1, 3, 2]),
        # Domain 1 has one site: when it runs out, domain 0 takes the rest.
        (4, (5, 4, 3, 1), (0, 0, 0, 1), 1, [0, 3, 1, 2]),
        # Candidates without the key (-1) come last, whatever their score.
        (2, (9, 4, 3, 2, 1), (-1, 0, 0, 1, 1), 1, [1, 3]),
        (4, (9, 4, 3, 2, 1), (-1, 0, 0, 1, 1), 1, [1, 3, 2, 4]),
        (5, (9, 4, 3, 2, 1), (-1, 0, 0, 1, 1), 1, [1, 3, 2, 4, 0]),
        # Three domains, equal scores: by position within each round.
        (3, (1, 1, 1, 1, 1, 1), (0, 0, 1, 1, 2, 2), 1, [0, 2, 4]),
    ],
    ids=[
        "skew-1-alternates",
        "skew-2-lets-ahead",
        "domain-runs-out",
        "keyless-last",
        "keyless-after-keyed",
        "keyless-when-keyed-run-out",
        "three-domains",
    ],
)
def test_pick_with_one_key(
    n: int, score: tuple[float, ...], dom: tuple[int, ...], skew: int, expected: list[int]
) -> None:
    assert pick(n, floats(*score), [(ints(*dom), skew)]).tolist() == expected


def test_pick_with_two_keys_balances_both() -> None:
    # region r0/r1 and zone z0/z1; the best scores are all in r0, z0.
    region = ints(0, 0, 0, 0, 1, 1, 1, 1)
    zone = ints(0, 0, 1, 1, 0, 0, 1, 1)
    score = floats(8, 7, 6, 5, 4, 3, 2, 1)
    chosen = pick(4, score, [(region, 1), (zone, 1)])
    assert sorted(spread_of(chosen, region).values()) == [2, 2]
    assert sorted(spread_of(chosen, zone).values()) == [2, 2]
    assert chosen[0] == 0  # the best first


def test_pick_with_two_keys_puts_keyless_last() -> None:
    region = ints(0, 1, -1, 0)
    zone = ints(0, 1, 0, -1)
    chosen = pick(4, floats(1, 1, 9, 9), [(region, 1), (zone, 1)])
    assert chosen[:2].tolist() == [0, 1]
    assert sorted(chosen[2:].tolist()) == [2, 3]


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_pick_keeps_max_skew_where_domains_allow(data: st.DataObject) -> None:
    size = data.draw(st.integers(1, 4))
    dom = ints(*data.draw(st.lists(st.integers(0, size - 1), min_size=1, max_size=14)))
    score = floats(*data.draw(st.lists(st.integers(0, 5), min_size=len(dom), max_size=len(dom))))
    skew = data.draw(st.integers(1, 2))
    n = data.draw(st.integers(1, len(dom)))
    chosen = pick(n, score, [(dom, skew)])
    assert len(chosen) == n
    assert len(set(chosen.tolist())) == n
    counts = np.bincount(dom[chosen], minlength=size)
    present = np.bincount(dom, minlength=size) > 0
    spare = present & (np.bincount(dom, minlength=size) > counts)
    # A domain with candidates left over is never more than maxSkew behind another.
    if spare.any():
        assert counts.max() - counts[spare].min() <= skew


# -- limit_groups ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("domains", "held", "score", "min_groups", "max_groups", "keep", "short"),
    [
        ((0, 0, 1, 2), (0, 0, 0, 0), (1, 1, 1, 1), None, None, [1, 1, 1, 1], None),
        ((0, 0, 1, 2), (0, 0, 0, 0), (1, 1, 1, 1), 3, None, [1, 1, 1, 1], None),
        ((0, 0, 1, 2), (0, 0, 0, 0), (1, 1, 1, 1), 4, None, [0, 0, 0, 0], "3 of 4"),
        ((0, -1, -1, 0), (0, 0, 0, 0), (1, 1, 1, 1), 2, None, [0, 0, 0, 0], "1 of 2"),
        ((0, 0, 1, 2), (0, 0, 1, 0), (1, 1, 1, 5), None, 1, [0, 0, 1, 0], None),
        ((0, 0, 1, 2), (0, 0, 1, 0), (1, 1, 1, 5), None, 2, [0, 0, 1, 1], None),
        ((0, 0, 1, 2), (1, 1, 1, 0), (1, 1, 1, 5), None, 1, [1, 1, 0, 0], None),
        ((0, 0, 1, 2), (0, 0, 0, 0), (1, 2, 3, 0), None, 2, [1, 1, 1, 0], None),
        ((0, 0, 1, 2), (0, 0, 0, 0), (1, 1, 1, 1), None, 1, [1, 1, 0, 0], None),
        ((0, 0, 1, 2), (0, 0, 0, 0), (1, 1, 1, 1), None, 3, [1, 1, 1, 1], None),
        ((0, -1, 1, 2), (0, 0, 0, 0), (1, 9, 1, 2), None, 2, [1, 0, 0, 1], None),
    ],
    ids=[
        "no-limits",
        "min-met",
        "min-unmet",
        "min-unmet-keyless-do-not-count",
        "max-1-holding-most",
        "max-2-holding-then-best",
        "max-1-holding-two",
        "max-2-best-scored",
        "max-1-equal-by-domain",
        "max-not-reached",
        "max-drops-keyless",
    ],
)
def test_limit_groups(
    domains: tuple[int, ...],
    held: tuple[float, ...],
    score: tuple[float, ...],
    min_groups: int | None,
    max_groups: int | None,
    keep: list[int],
    short: str | None,
) -> None:
    allowed, why = limit_groups(
        ints(*domains), floats(*held), floats(*score), min_groups, max_groups
    )
    assert allowed.astype(int).tolist() == keep
    assert why == short


def test_divided_spread_does_not_overfill_a_held_site() -> None:
    """Regression: the fast path of ``divide_by_domain`` gave a replica to the held site
    (preferred by stickiness) although it had no room left for another."""
    sites = tuple(
        SiteView(f"s{i}", {"region": "r"}, SitePhase.ONLINE, cpu_millis=100) for i in range(4)
    )
    app = AppView("a", False, 2, cpu_millis=100, divided=True, spread=(Spread("region"),))
    decision = place(Snapshot((app,), sites, {}, {"a": {"s0": 1}}))["a"]
    assert decision.placed == 2
    assert decision.replicas_at("s0") == 1


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_pick_over_several_keys_takes_distinct_candidates_keyless_last(
    data: st.DataObject,
) -> None:
    count = data.draw(st.integers(1, 12))
    groups = [
        (
            ints(*data.draw(st.lists(st.integers(-1, 3), min_size=count, max_size=count))),
            data.draw(st.integers(1, 2)),
        )
        for _ in range(data.draw(st.integers(1, 3)))
    ]
    score = floats(*data.draw(st.lists(st.integers(0, 4), min_size=count, max_size=count)))
    n = data.draw(st.integers(1, count + 2))
    chosen = pick(n, score, groups)
    assert len(chosen) == min(n, count)
    assert len(set(chosen.tolist())) == len(chosen)
    keyed = np.all([dom >= 0 for dom, _ in groups], axis=0)[chosen].tolist()
    assert keyed == sorted(keyed, reverse=True)  # every keyed candidate before a keyless one


# -- hostile sizes (issue 9: one object may hurt only itself) --------------------------


@pytest.mark.parametrize(
    ("n", "weights", "caps"),
    [
        (10**30, (1, 1, 1), (np.inf, np.inf, np.inf)),
        (2**31 - 1, (2**31 - 1, 1, 3), (2**31, 2**31, 2**31)),
        (2**31 - 1, (1e308, 1e308), (2**31, 2**31)),
        (2**31 - 1, (0.1, 0.2, 0.3, 1e-300), (1e30, 1e30, 1e30, 1e30)),
        (10**30, (1, np.inf, np.nan, 2), (np.inf, np.inf, np.inf, np.inf)),
    ],
    ids=["1e30", "int32-weights", "huge-weights", "tiny-weights", "non-finite-weights"],
)
def test_divide_is_bounded_and_adds_up_for_hostile_sizes(
    n: int, weights: tuple[float, ...], caps: tuple[float, ...]
) -> None:
    parts = divide(n, floats(*weights), floats(*caps))
    assert int(parts.sum()) == min(n, 2**31 - 1)
    assert (parts >= 0).all()


@pytest.mark.parametrize("divided", [True, False], ids=["Divided", "Duplicated"])
def test_a_huge_replica_count_is_placed_bounded_and_scaled_down_at_once(divided: bool) -> None:
    from edgeplane.placement.planner import Planner

    sites = tuple(
        SiteView(f"s{i}", {"region": f"r{i % 2}"}, phase=SitePhase.ONLINE) for i in range(3)
    )
    huge = AppView("a", False, replicas=10**30, divided=divided, spread=(Spread("region"),))
    planner = Planner(Snapshot((huge,), sites, {}, {}))
    decision = planner.decisions["a"]
    assert decision.wanted == 2**31 - 1
    assert decision.placed == (2**31 - 1 if divided else 3)
    # Every site holds a billion; one replica is wanted now: trimmed in one step.
    planner.update(Snapshot((replace(huge, replicas=1),), sites, {}, planner.running()))
    assert planner.decisions["a"].placed == 1


def test_a_fault_in_one_application_leaves_the_others_placed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from edgeplane.placement.context import Context
    from edgeplane.placement.planner import Planner

    sites = (SiteView("s", {}, phase=SitePhase.ONLINE),)
    original = Planner.filter

    def broken(self: Planner, ctx: Context) -> Any:
        if ctx.app.name == "bad":  # stands for any fault inside one application's placement
            raise ValueError("boom")
        return original(self, ctx)

    monkeypatch.setattr(Planner, "filter", broken)
    bad, good = AppView("bad", False, replicas=1), AppView("good", False, replicas=1)
    planner = Planner(Snapshot((bad, good), sites, {}, {}))
    assert planner.decisions["bad"].sites == ()
    assert "placement failed: ValueError: boom" in planner.decisions["bad"].message()
    assert planner.decisions["good"].sites == ("s",)
