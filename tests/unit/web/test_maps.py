"""The fleet map's aggregation: points or clusters by zoom, the viewport's bounds (across
the antimeridian too), the cap on markers, a cluster's worst phase, and `bbox` errors."""

from __future__ import annotations

import pytest

from edgeplane.web.maps import Bounds, MapSite, aggregate, parse_bounds


def site(name: str, lat: float, lon: float, phase: str = "Online") -> MapSite:
    return MapSite(name, lat, lon, phase)


PARIS = site("paris", 48.86, 2.35)
LYON = site("lyon", 45.76, 4.84)
SYDNEY = site("sydney", -33.87, 151.21)
PARIS_TOO = site("paris-2", 48.86, 2.35)


def points(result: dict[str, object]) -> list[dict[str, object]]:
    return result["points"]  # type: ignore[return-value]


def clusters(result: dict[str, object]) -> list[dict[str, object]]:
    return result["clusters"]  # type: ignore[return-value]


@pytest.mark.parametrize(
    ("sites", "zoom", "n_points", "cluster_counts"),
    [
        ([PARIS, LYON], 0, 0, [2]),
        ([PARIS, LYON], 2, 0, [2]),
        ([PARIS, LYON], 8, 2, []),
        ([PARIS, SYDNEY], 0, 2, []),
        ([PARIS, LYON, SYDNEY], 0, 1, [2]),
        ([PARIS, PARIS_TOO], 18, 0, [2]),
        ([PARIS, PARIS_TOO], 99, 0, [2]),  # clamped to 18
        ([PARIS, LYON], -5, 0, [2]),  # clamped to 0
        ([], 4, 0, []),
    ],
    ids=[
        "near-at-world-zoom",
        "near-at-continent-zoom",
        "near-apart-at-city-zoom",
        "far-apart-at-world-zoom",
        "mixed",
        "same-place-at-max-zoom",
        "zoom-clamped-high",
        "zoom-clamped-low",
        "no-sites",
    ],
)
def test_points_or_clusters_by_zoom(
    sites: list[MapSite], zoom: int, n_points: int, cluster_counts: list[int]
) -> None:
    result = aggregate(sites, zoom, None)
    assert len(points(result)) == n_points
    assert [c["count"] for c in clusters(result)] == cluster_counts
    assert result["total"] == len(sites)


def test_a_point_and_a_cluster_say_what_the_page_draws() -> None:
    result = aggregate([PARIS, site("lyon", 45.76, 4.84, "Offline"), SYDNEY], 0, None)
    assert points(result) == [{"name": "sydney", "lat": -33.87, "lon": 151.21, "phase": "Online"}]
    assert clusters(result) == [
        {
            "lat": pytest.approx((48.86 + 45.76) / 2),
            "lon": pytest.approx((2.35 + 4.84) / 2),
            "count": 2,
            "phases": {"Offline": 1, "Online": 1},
            "worst": "Offline",
            "bounds": [45.76, 2.35, 48.86, 4.84],
        }
    ]


def test_the_output_does_not_depend_on_the_order_of_the_sites() -> None:
    sites = [site(f"s{i}", -60 + i * 1.3, -170 + i * 3.7, "Pending") for i in range(90)]
    assert aggregate(sites, 2, None) == aggregate(list(reversed(sites)), 2, None)


WORLD_SITES = [
    site("date-line-west", 0, 179),
    site("date-line-east", 0, -179),
    site("greenwich", 0, 0),
    site("far-north", 70, 0),
    site("wrapped", 0, 361),  # the same place as 1°E
]


@pytest.mark.parametrize(
    ("bbox", "names"),
    [
        (None, ["date-line-east", "date-line-west", "far-north", "greenwich", "wrapped"]),
        (
            "-90,-180,90,180",
            ["date-line-east", "date-line-west", "far-north", "greenwich", "wrapped"],
        ),
        ("-10,-5,10,5", ["greenwich", "wrapped"]),
        ("-10,-5,80,0.5", ["far-north", "greenwich"]),
        ("-10,170,10,-170", ["date-line-east", "date-line-west"]),
        ("-10,170,10,190", ["date-line-east", "date-line-west"]),
        ("-10,-190,10,-170", ["date-line-east", "date-line-west"]),
        ("-10,355,10,365", ["greenwich", "wrapped"]),
        ("-10,-400,10,400", ["date-line-east", "date-line-west", "greenwich", "wrapped"]),
        ("20,-180,30,180", []),
    ],
    ids=[
        "no-bbox",
        "whole-world",
        "around-greenwich",
        "latitudes",
        "across-antimeridian",
        "across-antimeridian-panned-east",
        "across-antimeridian-panned-west",
        "one-world-east",
        "wider-than-the-world",
        "empty-band",
    ],
)
def test_bounds_filter_the_sites(bbox: str | None, names: list[str]) -> None:
    result = aggregate(WORLD_SITES, 18, parse_bounds(bbox))
    assert sorted(str(p["name"]) for p in points(result)) == names
    assert result["total"] == len(names)


@pytest.mark.parametrize(
    ("text", "bounds"),
    [
        (None, None),
        ("", None),
        ("1.5,2,3,4", (1.5, 2.0, 3.0, 4.0)),
        (" -10 , 170 , 10 , -170 ", (-10.0, 170.0, 10.0, -170.0)),
        ("-10,170,10,190", (-10.0, 170.0, 10.0, -170.0)),
        ("-10,-200,10,-170", (-10.0, 160.0, 10.0, -170.0)),
        ("-10,360,10,370", (-10.0, 0.0, 10.0, 10.0)),
        ("0,0,10,180", (0.0, 0.0, 10.0, 180.0)),
        ("0,-540,10,540", (0.0, -180.0, 10.0, 180.0)),
        ("-90,-180,90,180", (-90.0, -180.0, 90.0, 180.0)),
    ],
    ids=[
        "none",
        "empty",
        "plain",
        "across-antimeridian-with-spaces",
        "panned-east",
        "panned-west",
        "a-world-east",
        "up-to-180",
        "several-worlds",
        "whole-world",
    ],
)
def test_parse_bounds(text: str | None, bounds: Bounds | None) -> None:
    assert parse_bounds(text) == bounds


@pytest.mark.parametrize(
    "text",
    [
        "1,2,3",
        "1,2,3,4,5",
        "a,b,c,d",
        "1,2,,4",
        "nan,0,1,1",
        "0,0,inf,1",
        "-91,0,0,1",
        "0,0,91,1",
        "10,0,5,1",
        "0,-600,1,0",
        "0,0,1,541",
        "0,200,1,100",
    ],
    ids=[
        "three-numbers",
        "five-numbers",
        "not-numbers",
        "blank-number",
        "nan",
        "infinite",
        "south-below-90",
        "north-above-90",
        "south-above-north",
        "west-beyond-540",
        "east-beyond-540",
        "west-after-east-beyond-180",
    ],
)
def test_a_bad_bbox_names_the_parameter_and_its_form(text: str) -> None:
    with pytest.raises(ValueError, match=r"^bbox must be 'south,west,north,east'") as caught:
        parse_bounds(text)
    assert repr(text) in str(caught.value)


GRID = [site(f"s{i:03}", -50 + (i // 10) * 10.0, -170 + (i % 10) * 35.0) for i in range(100)]


@pytest.mark.parametrize(
    ("zoom", "max_points", "most"),
    [(6, 2000, 100), (6, 100, 100), (6, 50, 50), (6, 10, 10), (6, 1, 1), (18, 3, 3)],
    ids=["no-cap-needed", "just-fits", "half", "ten", "one", "from-max-zoom"],
)
def test_too_many_markers_coarsen_the_cells(zoom: int, max_points: int, most: int) -> None:
    result = aggregate(GRID, zoom, None, max_points=max_points)
    markers = len(points(result)) + len(clusters(result))
    assert markers <= most
    assert len(points(result)) + sum(int(c["count"]) for c in clusters(result)) == 100  # type: ignore[call-overload]
    assert result["total"] == 100


def test_without_a_cap_each_far_site_is_a_point() -> None:
    result = aggregate(GRID, 6, None)
    assert len(points(result)) == 100
    assert clusters(result) == []


@pytest.mark.parametrize(
    ("phases", "worst"),
    [
        (["Online", "Offline", "Pending"], "Offline"),
        (["Online", "Cordoned", "Pending"], "Pending"),
        (["Online", "Unknown", "Cordoned"], "Cordoned"),
        (["Online", "Unknown"], "Unknown"),
        (["Online", "Online"], "Online"),
        (["Online", "Exploded"], "Unknown"),
    ],
    ids=["offline", "pending", "cordoned", "unknown", "all-online", "unknown-phase-name"],
)
def test_a_cluster_shows_its_worst_phase(phases: list[str], worst: str) -> None:
    sites = [site(f"s{i}", 10, 10, phase) for i, phase in enumerate(phases)]
    (cluster,) = clusters(aggregate(sites, 0, None))
    assert cluster["worst"] == worst
    assert sum(cluster["phases"].values()) == len(phases)  # type: ignore[attr-defined]


def test_cell_size_and_cap_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        aggregate([PARIS], 0, None, cell_pixels=0)
    with pytest.raises(ValueError, match="at least 1"):
        aggregate([PARIS], 0, None, max_points=0)
