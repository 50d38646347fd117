"""Scorers (``scorers``), table by table: balance (least allocated, or fewer replicas
where capacity is unknown), locality (nearer is better), and ``score`` with its fixed
preferences (stickiness, not Online, PreferNoSchedule, ordered siteGroups)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edgeplane.api.sites import SitePhase
from edgeplane.placement import scorers
from edgeplane.placement.fleet import Fleet
from edgeplane.placement.model import AppView, Locality, SiteView, TaintView, Weights

APP = AppView("a", False, 1, cpu_millis=100, memory_bytes=100)


def fleet(*sites: SiteView) -> Fleet:
    return Fleet(sites)


def all_of(f: Fleet) -> np.ndarray:
    return np.arange(f.size)


def no_load(f: Fleet) -> np.ndarray:
    return np.zeros(f.size, dtype=np.int64)


def known(
    name: str, cpu: int = 1000, memory: int = 1000, phase: SitePhase | None = SitePhase.ONLINE
) -> SiteView:
    return SiteView(name, {}, phase, cpu_millis=cpu, memory_bytes=memory)


# -- balance --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sites", "free_cpu", "free_memory", "load", "best"),
    [
        ((known("a"), known("b")), (1000, 500), (1000, 1000), (0, 0), "a"),
        ((known("a"), known("b")), (500, 1000), (1000, 1000), (0, 0), "b"),
        ((known("a"), known("b")), (1000, 1000), (200, 900), (0, 0), "b"),
        ((known("a"), known("b", cpu=4000)), (1000, 1000), (1000, 1000), (0, 0), "a"),
        ((known("a"), known("b")), (800, 800), (800, 800), (2, 1), "b"),
        (
            (SiteView("a", {}, cpu_millis=1000), SiteView("b", {}, cpu_millis=1000)),
            (300, 900),
            (math.inf, math.inf),
            (0, 0),
            "b",
        ),
        ((SiteView("a", {}), SiteView("b", {})), (math.inf,) * 2, (math.inf,) * 2, (3, 0), "b"),
        ((SiteView("a", {}), SiteView("b", {})), (math.inf,) * 2, (math.inf,) * 2, (1, 2), "a"),
        (
            (SiteView("a", {}, cpu_millis=0), SiteView("b", {}, cpu_millis=0)),
            (0, 0),
            (math.inf, math.inf),
            (2, 1),
            "b",
        ),
    ],
    ids=[
        "more-cpu-left",
        "more-cpu-left-second",
        "more-memory-left",
        "share-of-capacity-not-amount",
        "equal-share-fewer-replicas",
        "cpu-only-known",
        "unknown-capacity-fewer-replicas",
        "unknown-capacity-fewer-replicas-first",
        "zero-capacity-counts-as-unknown",
    ],
)
def test_balance_prefers_the_least_allocated(
    sites: tuple[SiteView, ...],
    free_cpu: tuple[float, ...],
    free_memory: tuple[float, ...],
    load: tuple[int, ...],
    best: str,
) -> None:
    f = fleet(*sites)
    room = (np.array(free_cpu, dtype=float), np.array(free_memory, dtype=float))
    got = scorers.balance(APP, f, all_of(f), room, np.array(load, dtype=np.int64))
    assert f.names[int(np.argmax(got))] == best
    assert len(set(got.tolist())) == len(got)  # a strict preference, not a tie


def test_balance_is_the_share_left_after_placing() -> None:
    f = fleet(known("a"), known("b"))
    room = (np.array([1000.0, 500.0]), np.array([1000.0, 1000.0]))
    got = scorers.balance(APP, f, all_of(f), room, no_load(f))
    # a: cpu (1000-100)/1000, memory (1000-100)/1000; b: cpu 400/1000, memory 900/1000.
    assert got.tolist() == pytest.approx([0.9, 0.65])


def test_balance_unknown_capacity_is_one_over_one_plus_replicas() -> None:
    f = fleet(SiteView("a", {}), SiteView("b", {}), SiteView("c", {}))
    load = np.array([0, 1, 3], dtype=np.int64)
    got = scorers.balance(APP, f, all_of(f), (f.cpu, f.memory), load)
    assert got.tolist() == pytest.approx([1.0, 0.5, 0.25], abs=1e-3)


# -- locality -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("locality", "distances", "expected"),
    [
        (Locality(point=(0, 0), max_km=100), (0, 50, 100, 150), (1.0, 0.5, 0.0, 0.0)),
        (Locality(point=(0, 0), max_km=100), (math.nan, 10), (0.0, 0.9)),
        (
            Locality(point=(0, 0)),
            (0, scorers.HALF_EARTH_KM / 2, scorers.HALF_EARTH_KM),
            (1.0, 0.5, 0.0),
        ),
        (Locality(point=(0, 0)), (math.nan,), (0.0,)),
    ],
    ids=["linear-to-max", "no-location-scores-0", "half-earth-without-max", "no-location"],
)
def test_locality_is_higher_the_nearer(
    locality: Locality, distances: tuple[float, ...], expected: tuple[float, ...]
) -> None:
    app = AppView("a", False, 1, locality=locality)
    got = scorers.locality(app, np.array(distances, dtype=float))
    assert got.tolist() == pytest.approx(list(expected))


def test_locality_through_the_fleet_ranks_by_distance() -> None:
    f = fleet(
        SiteView("paris", {}, location=(48.86, 2.35)),
        SiteView("lyon", {}, location=(45.76, 4.84)),
        SiteView("nowhere", {}),
    )
    app = AppView("a", False, 1, locality=Locality(point=(48.85, 2.35)))
    got = dict(zip(f.names, scorers.locality(app, f.distance_km(48.85, 2.35)), strict=True))
    assert got["paris"] > got["lyon"] > got["nowhere"] == 0.0


# -- score ----------------------------------------------------------------------------


def scored(
    f: Fleet,
    app: AppView = APP,
    held: tuple[str, ...] = (),
    free_cpu: dict[str, float] | None = None,
    tiers: tuple[int, ...] | None = None,
    distance: dict[str, float] | None = None,
) -> dict[str, float]:
    """Every site of ``f`` scored; ``free_cpu`` and ``distance`` by site name, ``tiers``
    in the fleet's (name) order."""
    mask = np.array([n in held for n in f.names], dtype=bool)
    cpu = f.cpu.copy()
    for name, free in (free_cpu or {}).items():
        cpu[f.index[name]] = free
    near = None
    if distance is not None:
        near = np.array([distance[n] for n in f.names], dtype=float)
    scoring = scorers.Scoring(
        app,
        f,
        mask,
        (cpu, f.memory.copy()),
        no_load(f),
        None if tiers is None else np.array(tiers, dtype=np.int64),
        near,
    )
    got = scorers.score(scoring, all_of(f))
    return dict(zip(f.names, got.tolist(), strict=True))


def test_stickiness_outweighs_balance_by_default() -> None:
    f = fleet(known("full"), known("empty"))
    got = scored(f, held=("full",), free_cpu={"full": 100})
    assert got["full"] > got["empty"]


def test_without_stickiness_balance_decides() -> None:
    f = fleet(known("full"), known("empty"))
    app = AppView("a", False, 1, cpu_millis=100, weights=Weights(stickiness=0))
    got = scored(f, app, held=("full",), free_cpu={"full": 100})
    assert got["full"] < got["empty"]


def test_stickiness_outweighs_every_fixed_penalty() -> None:
    f = fleet(
        SiteView(
            "held", {}, SitePhase.PENDING, taints=(TaintView("slow", None, "PreferNoSchedule"),)
        ),
        SiteView("other", {}, SitePhase.ONLINE),
    )
    got = scored(f, held=("held",), tiers=(3, 0))
    assert got["held"] > got["other"]


@pytest.mark.parametrize(
    ("site", "penalty"),
    [
        (SiteView("x", {}, SitePhase.PENDING), scorers.NOT_ONLINE),
        (SiteView("x", {}, None), scorers.NOT_ONLINE),
        (SiteView("x", {}, SitePhase.OFFLINE), scorers.NOT_ONLINE),
        (
            SiteView("x", {}, SitePhase.ONLINE, taints=(TaintView("k", "v", "PreferNoSchedule"),)),
            scorers.PREFER_NOT,
        ),
        (
            SiteView("x", {}, SitePhase.ONLINE, taints=(TaintView("k", "v", "NoSchedule"),)),
            0.0,
        ),
        (
            SiteView("x", {}, SitePhase.PENDING, taints=(TaintView("k", "v", "PreferNoSchedule"),)),
            scorers.NOT_ONLINE + scorers.PREFER_NOT,
        ),
    ],
    ids=[
        "pending",
        "unknown-phase",
        "offline",
        "prefer-no-schedule",
        "no-schedule-is-no-score",
        "both",
    ],
)
def test_fixed_penalties(site: SiteView, penalty: float) -> None:
    f = fleet(SiteView("a-online", {}, SitePhase.ONLINE), site)
    got = scored(f)
    assert got["a-online"] - got["x"] == pytest.approx(penalty, abs=1e-3)


def test_ordered_groups_cost_a_step_per_group_passed_over() -> None:
    f = fleet(
        SiteView("a", {}, SitePhase.ONLINE),
        SiteView("b", {}, SitePhase.ONLINE),
        SiteView("c", {}, SitePhase.ONLINE),
    )
    got = scored(f, tiers=(0, 1, 2))
    assert got["a"] - got["b"] == pytest.approx(scorers.GROUP_STEP)
    assert got["a"] - got["c"] == pytest.approx(2 * scorers.GROUP_STEP)


def test_a_later_group_loses_even_against_a_penalised_site() -> None:
    f = fleet(SiteView("first", {}, SitePhase.PENDING), SiteView("second", {}, SitePhase.ONLINE))
    got = scored(f, tiers=(0, 1))
    assert got["first"] > got["second"]


def test_locality_weight_adds_nearness() -> None:
    f = fleet(SiteView("far", {}, SitePhase.ONLINE), SiteView("near", {}, SitePhase.ONLINE))
    app = AppView("a", False, 1, locality=Locality(point=(0, 0), max_km=100))
    got = scored(f, app, distance={"far": 90, "near": 10})
    assert got["near"] - got["far"] == pytest.approx(0.8)
    weighted = AppView(
        "a", False, 1, locality=Locality(point=(0, 0), max_km=100), weights=Weights(locality=3)
    )
    got = scored(f, weighted, distance={"far": 90, "near": 10})
    assert got["near"] - got["far"] == pytest.approx(2.4)


def test_zero_weights_leave_only_the_fixed_preferences() -> None:
    f = fleet(known("a"), known("b", phase=SitePhase.PENDING))
    app = AppView(
        "x",
        False,
        1,
        cpu_millis=100,
        locality=Locality(point=(0, 0)),
        weights=Weights(balance=0, locality=0, stickiness=0),
    )
    got = scored(f, app, held=("b",), free_cpu={"b": 100}, distance={"a": 0, "b": 20_000})
    assert got == {"a": 0.0, "b": -scorers.NOT_ONLINE}
