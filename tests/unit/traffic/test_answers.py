"""``traffic.answers``: tiers (site, region, elsewhere by distance), only healthy
targets, only the best tier for A/AAAA in a weighted shuffle, every tier for SRV."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from edgeplane.traffic.answers import (
    Ranked,
    distance_km,
    pick,
    rank,
    srv_records,
    weighted_shuffle,
)
from edgeplane.traffic.locality import Place
from edgeplane.traffic.table import Target

WHERE = {
    "paris": ("eu-west", 48.86, 2.35),
    "lyon": ("eu-west", 45.76, 4.84),
    "nyc": ("us-east", 40.71, -74.0),
    "boston": ("us-east", 42.36, -71.06),
    "tokyo": ("ap-east", 35.68, 139.69),
}


def t(
    site: str,
    address: str,
    *,
    weight: int = 1,
    healthy: bool = True,
    port: int = 80,
    located: bool = True,
) -> Target:
    region, lat, lon = WHERE.get(site, (None, 0.0, 0.0))
    return Target(
        "web", site, region, lat if located else None, lon if located else None,
        address, port, "http", weight, healthy,
    )  # fmt: skip


FLEET = [
    t("tokyo", "10.5.0.1"),
    t("nyc", "10.3.0.1"),
    t("paris", "10.1.0.2"),
    t("lyon", "10.2.0.1"),
    t("boston", "10.4.0.1"),
    t("paris", "10.1.0.1"),
]


PARIS = {"10.1.0.1", "10.1.0.2"}


def order(ranked: list[Ranked]) -> list[tuple[int, str]]:
    return [(r.tier, r.target.address) for r in ranked]


RANKS = [
    (
        "site, region, then nearest",
        Place(site="paris", region="eu-west"),
        [(0, "10.1.0.1"), (0, "10.1.0.2"), (1, "10.2.0.1"),
         (2, "10.4.0.1"), (2, "10.3.0.1"), (2, "10.5.0.1")],
    ),
    (
        "only a point",
        Place(lat=40.0, lon=-75.0),
        [(2, "10.3.0.1"), (2, "10.4.0.1"), (2, "10.1.0.1"), (2, "10.1.0.2"),
         (2, "10.2.0.1"), (2, "10.5.0.1")],
    ),
    (
        "a site and its location, no region",
        Place(site="lyon"),
        [(0, "10.2.0.1"), (2, "10.1.0.1"), (2, "10.1.0.2"), (2, "10.4.0.1"),
         (2, "10.3.0.1"), (2, "10.5.0.1")],
    ),
    (
        "nowhere: remote by site, then address",
        Place(),
        [(2, "10.4.0.1"), (2, "10.2.0.1"), (2, "10.3.0.1"), (2, "10.1.0.1"),
         (2, "10.1.0.2"), (2, "10.5.0.1")],
    ),
    (
        "an unknown region: nowhere",
        Place(region="mars"),
        [(2, "10.4.0.1"), (2, "10.2.0.1"), (2, "10.3.0.1"), (2, "10.1.0.1"),
         (2, "10.1.0.2"), (2, "10.5.0.1")],
    ),
]  # fmt: skip


@pytest.mark.parametrize(("place", "expected"), [r[1:] for r in RANKS], ids=[r[0] for r in RANKS])
def test_rank(place: Place, expected: list[tuple[int, str]]) -> None:
    assert order(rank(FLEET, place)) == expected


def test_rank_from_the_centroid_of_the_clients_region() -> None:
    ranked = rank(FLEET, Place(region="us-east"))
    assert {r.target.site for r in ranked if r.tier == 1} == {"nyc", "boston"}
    remote = [r.target.address for r in ranked if r.tier == 2]
    assert remote == ["10.1.0.1", "10.1.0.2", "10.2.0.1", "10.5.0.1"]


def test_rank_leaves_unhealthy_targets_out() -> None:
    targets = [t("paris", "10.1.0.1", healthy=False), t("lyon", "10.2.0.1")]
    assert order(rank(targets, Place(site="paris"))) == [(2, "10.2.0.1")]


def test_rank_puts_remote_targets_without_a_location_last() -> None:
    targets = [t("tokyo", "10.5.0.1", located=False), t("tokyo", "10.5.0.2"), t("nyc", "10.3.0.1")]
    ranked = rank(targets, Place(lat=48.86, lon=2.35))
    assert [r.target.address for r in ranked] == ["10.3.0.1", "10.5.0.2", "10.5.0.1"]
    assert ranked[-1].distance_km is None
    assert ranked[0].distance_km == pytest.approx(5840, abs=30)


def test_the_centroid_of_a_region_across_the_antimeridian() -> None:
    def at(site: str, region: str, lon: float) -> Target:
        return Target("web", site, region, 0.0, lon, f"10.0.0.{len(site)}", 80, None, 1, True)

    targets = [at("fiji", "pacific", 179.0), at("samoa", "pacific", -179.0)]
    targets += [at("greenwich", "eu", 0.0), at("kiribati", "oceania", 170.0)]
    ranked = rank(targets, Place(region="pacific"))
    assert [r.target.site for r in ranked if r.tier == 2] == ["kiribati", "greenwich"]


PICKS = [
    ("only the best tier", FLEET, Place(site="paris", region="eu-west"), 8, PARIS),
    (
        "the region when the site has nothing healthy",
        [t("paris", "10.1.0.1", healthy=False), *FLEET[1:2], t("lyon", "10.2.0.1")],
        Place(site="paris", region="eu-west"),
        8,
        {"10.2.0.1"},
    ),
    ("the nearest remote site first", FLEET, Place(lat=40.0, lon=-75.0), 1, {"10.3.0.1"}),
    (
        "nearer remote sites before farther ones",
        FLEET,
        Place(lat=40.0, lon=-75.0),
        3,
        {"10.3.0.1", "10.4.0.1"},  # and one of paris's two: asserted below
    ),
    ("every remote site when none is nearer", FLEET, Place(), 8, {t.address for t in FLEET}),
    ("nothing healthy", [t("paris", "10.1.0.1", healthy=False)], Place(site="paris"), 8, set()),
    ("no targets", [], Place(site="paris"), 8, set()),
    ("a limit of zero", FLEET, Place(), 0, set()),
]  # fmt: skip


@pytest.mark.parametrize(
    ("targets", "place", "limit", "expected"), [p[1:] for p in PICKS], ids=[p[0] for p in PICKS]
)
def test_pick(targets: list[Target], place: Place, limit: int, expected: set[str]) -> None:
    picked = pick(targets, place, limit=limit, rng=random.Random(1))
    assert expected <= {p.address for p in picked}
    assert len(picked) == min(limit, len(picked)) and len(picked) <= limit
    if limit == 3:
        assert [p.address for p in picked][:2] == ["10.3.0.1", "10.4.0.1"]
        assert picked[2].site == "paris"
    else:
        assert {p.address for p in picked} == expected


def test_pick_keeps_to_the_limit_within_a_tier() -> None:
    many = [t("paris", f"10.1.0.{i}") for i in range(1, 21)]
    picked = pick(many, Place(site="paris"), limit=3, rng=random.Random(2))
    assert len(picked) == 3 and len({p.address for p in picked}) == 3


def test_pick_answers_an_address_once_whatever_its_ports() -> None:
    ports = [t("paris", "10.1.0.1", port=80), t("paris", "10.1.0.1", port=443)]
    assert [p.address for p in pick(ports, Place(site="paris"), rng=random.Random(3))] == [
        "10.1.0.1"
    ]


def test_pick_is_deterministic_for_a_seed() -> None:
    draws = [pick(FLEET, Place(), rng=random.Random(42)) for _ in range(2)]
    assert draws[0] == draws[1]


@pytest.mark.parametrize(
    "weights",
    [(1, 3), (1, 2, 7), (5, 5), (1, 1, 1, 1)],
    ids=["one to three", "one two seven", "equal pair", "four equal"],
)
def test_the_weighted_shuffle_puts_heavier_first_in_proportion(weights: tuple[int, ...]) -> None:
    targets = [t("paris", f"10.1.0.{i}", weight=w) for i, w in enumerate(weights, 1)]
    rng = random.Random(7)
    draws = 20_000
    first = Counter(weighted_shuffle(targets, rng)[0].address for _ in range(draws))
    for target in targets:
        share = first[target.address] / draws
        assert share == pytest.approx(target.weight / sum(weights), abs=0.015)


def test_pick_shuffles_by_weight_within_the_tier() -> None:
    targets = [t("paris", "10.1.0.1", weight=1), t("paris", "10.1.0.2", weight=4)]
    rng = random.Random(11)
    first = Counter(pick(targets, Place(site="paris"), rng=rng)[0].address for _ in range(5000))
    assert first["10.1.0.2"] / 5000 == pytest.approx(0.8, abs=0.02)


SRV = [
    (
        "site, region, remote by distance",
        Place(site="paris", region="eu-west"),
        32,
        [(0, "10.1.0.1"), (0, "10.1.0.2"), (10, "10.2.0.1"), (20, "10.4.0.1"),
         (21, "10.3.0.1"), (22, "10.5.0.1")],
    ),
    (
        "equally near: one priority",
        Place(lat=40.0, lon=-75.0),
        32,
        [(20, "10.3.0.1"), (21, "10.4.0.1"), (22, "10.1.0.1"), (22, "10.1.0.2"),
         (23, "10.2.0.1"), (24, "10.5.0.1")],
    ),
    (
        "nowhere: every remote target alike",
        Place(),
        32,
        [(20, "10.4.0.1"), (20, "10.2.0.1"), (20, "10.3.0.1"), (20, "10.1.0.1"),
         (20, "10.1.0.2"), (20, "10.5.0.1")],
    ),
    ("a limit", Place(site="paris", region="eu-west"), 3,
     [(0, "10.1.0.1"), (0, "10.1.0.2"), (10, "10.2.0.1")]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("place", "limit", "expected"), [s[1:] for s in SRV], ids=[s[0] for s in SRV]
)
def test_srv_records(place: Place, limit: int, expected: list[tuple[int, str]]) -> None:
    records = srv_records(FLEET, place, limit=limit)
    assert [(priority, target.address) for priority, _, target in records] == expected


def test_srv_weights_are_the_targets_weights() -> None:
    targets = [t("paris", "10.1.0.1", weight=3), t("lyon", "10.2.0.1", weight=70_000)]
    records = srv_records(targets, Place(site="paris"))
    assert [(p, w) for p, w, _ in records] == [(0, 3), (20, 65535)]


@pytest.mark.parametrize(
    ("a", "b", "km"),
    [
        ((48.86, 2.35), (40.71, -74.0), 5837),
        ((0.0, 0.0), (0.0, 0.0), 0),
        ((0.0, 179.5), (0.0, -179.5), 111),
        ((90.0, 0.0), (-90.0, 0.0), 20015),
    ],
    ids=["paris to new york", "same point", "across the antimeridian", "pole to pole"],
)
def test_distance_km(a: tuple[float, float], b: tuple[float, float], km: float) -> None:
    assert distance_km(a, b) == pytest.approx(km, abs=2)
