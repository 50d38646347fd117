"""``edgeplane sim --locations``: the place of each site index (pure), and the flag."""

from __future__ import annotations

import math
from collections import Counter

import pytest

from edgeplane.api.sites import Location
from edgeplane.sim.options import from_arguments, parser
from edgeplane.sim.places import (
    JITTER_DEGREES,
    PLACES,
    REGIONS,
    Place,
    jitter,
    place_of,
    site_patch,
)


@pytest.mark.parametrize(
    ("index", "city", "region"),
    [
        (0, "London", "eu-west"),
        (1, "Paris", "eu-west"),
        (5, "Frankfurt", "eu-central"),
        (11, "New York", "us-east"),
        (17, "San Francisco", "us-west"),
        (25, "Mumbai", "ap-south"),
        (31, "Tokyo", "ap-northeast"),
        (35, "Auckland", "au-southeast"),
        (39, "Lagos", "af-west"),
        (40, "London", "eu-west"),  # the cities in turn
        (9_999, "Lagos", "af-west"),
        (10_000, "London", "eu-west"),
    ],
)
def test_a_site_is_near_its_city_in_its_region(index: int, city: str, region: str) -> None:
    place = place_of(index)
    home = next(p for p in PLACES if p.city == city)
    assert (place.city, place.region) == (city, region)
    assert abs(place.lat - home.lat) <= JITTER_DEGREES + 1e-9
    assert abs(place.lon - home.lon) <= JITTER_DEGREES + 1e-9
    assert (place.lat, place.lon) != (home.lat, home.lon)


@pytest.mark.parametrize(
    ("index", "expected"),
    [
        # Pinned: a site is where it was in every earlier run (a hash, not random), so a
        # change that moves every simulated site is a deliberate one.
        (0, Place("London", 52.274, -0.166, "eu-west")),
        (123, Place("Madrid", 40.8298, -3.9314, "eu-west")),
        (4_567, Place("Milan", 44.9857, 9.7784, "eu-central")),
        (9_999, Place("Lagos", 6.1876, 2.6793, "af-west")),
    ],
)
def test_a_place_is_the_same_every_time(index: int, expected: Place) -> None:
    assert place_of(index) == expected


def test_known_jitter_values_do_not_drift() -> None:
    # SplitMix64's first output from seed 0 is 0xE220A8397B1DCDAF: the halves are the
    # latitude and longitude offsets.
    d_lat, d_lon = jitter(0)
    assert d_lat == pytest.approx(2 * 0xE220A839 / 0xFFFFFFFF - 1)
    assert d_lon == pytest.approx(2 * 0x7B1DCDAF / 0xFFFFFFFF - 1)


def test_ten_thousand_sites_spread_and_stay_valid() -> None:
    places = [place_of(i) for i in range(10_000)]
    assert len({(p.lat, p.lon) for p in places}) == 10_000
    for p in places:
        Location.model_validate({"lat": p.lat, "lon": p.lon})  # what the hub accepts
    per_city = Counter(p.city for p in places)
    assert len(per_city) == len(PLACES) and set(per_city.values()) == {250}
    assert Counter(p.region for p in places)["eu-west"] == 1250
    offsets = [jitter(i) for i in range(10_000)]
    for axis in (0, 1):
        values = [o[axis] for o in offsets]
        assert min(values) < -0.95 * JITTER_DEGREES and max(values) > 0.95 * JITTER_DEGREES
        assert abs(sum(values) / len(values)) < 0.05  # centred on the city


def test_the_table_is_forty_distinct_real_places() -> None:
    assert len(PLACES) == 40 and len({p.city for p in PLACES}) == 40
    assert all(-90 < p.lat < 90 and -180 < p.lon < 180 for p in PLACES)
    assert {"eu-west", "us-east", "ap-south"} <= set(REGIONS)
    assert all(r.replace("-", "").isalpha() and r.islower() for r in REGIONS)


@pytest.mark.parametrize("index", [-1, -40])
def test_a_negative_index_is_refused(index: int) -> None:
    with pytest.raises(ValueError, match="give 0 or more"):
        place_of(index)


def test_the_patch_sets_location_and_region() -> None:
    place = place_of(7)
    assert site_patch(7) == {
        "metadata": {"labels": {"region": place.region}},
        "spec": {"location": {"lat": place.lat, "lon": place.lon}},
    }
    assert all(math.isfinite(v) for v in site_patch(7)["spec"]["location"].values())


@pytest.mark.parametrize(("argv", "locations"), [([], False), (["--locations"], True)])
def test_the_flag(argv: list[str], locations: bool) -> None:
    args = parser().parse_args(
        ["--hub", "http://127.0.0.1:1", "--token-file", "t", "--sites", "3", *argv]
    )
    assert from_arguments(args, "ep_x_y").locations is locations


@pytest.mark.parametrize(
    ("lat", "lon"), [(0.0, 179.9), (0.0, -179.9), (89.9, 0.0), (-89.9, 180.0), (90.0, -180.0)]
)
def test_a_place_near_an_edge_stays_valid(
    monkeypatch: pytest.MonkeyPatch, lat: float, lon: float
) -> None:
    monkeypatch.setattr("edgeplane.sim.places.PLACES", (Place("Edge", lat, lon, "edge"),))
    for index in range(200):
        place = place_of(index)
        Location.model_validate({"lat": place.lat, "lon": place.lon})
        # Within a degree of the city, across the antimeridian too.
        assert abs((place.lon - lon + 180) % 360 - 180) <= JITTER_DEGREES + 1e-6
        assert abs(place.lat - lat) <= JITTER_DEGREES + 1e-6
