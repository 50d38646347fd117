"""The fleet map's server side: sites in a viewport, grouped into points and clusters.

The browser asks for the sites in its viewport at its zoom (`?zoom=Z&bbox=s,w,n,e`);
`aggregate` answers with what to draw. Sites are binned on the Web-Mercator pixel grid
of that zoom (the world is 256 * 2**zoom pixels wide) in cells of `cell_pixels`: a cell
holding one site is a point, a cell holding several is a cluster at their mean position,
with its phase counts, its worst phase and the bounds to zoom to. However many sites
there are, at most `max_points` markers are sent: the cells are coarsened (doubled)
until they fit. Pure: no I/O, the caller brings the sites.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["PHASES", "MapSite", "aggregate", "parse_bounds", "worst"]

Bounds = tuple[float, float, float, float]  # south, west, north, east (degrees)

# Worst first: a cluster shows the worst phase among its sites.
PHASES = ("Offline", "Pending", "Cordoned", "Unknown", "Online")
_RANK = {phase: rank for rank, phase in enumerate(PHASES)}
MAX_ZOOM = 18
_MAX_LAT = 85.0511287798066  # Web Mercator's edge: arctan(sinh(pi))
_BBOX_FORM = "bbox must be 'south,west,north,east' in degrees"


@dataclass(frozen=True)
class MapSite:
    name: str
    lat: float
    lon: float
    phase: str  # Pending | Online | Offline | Cordoned | Unknown


def worst(phases: Iterable[str]) -> str:
    """The worst of some phases (Offline > Pending > Cordoned > Unknown > Online)."""
    return min(phases, key=lambda p: _RANK.get(p, _RANK["Unknown"]), default="Unknown")


def parse_bounds(text: str | None) -> Bounds | None:
    """The `bbox` query parameter, "south,west,north,east", or None (the whole world).

    Longitudes may be those of a panned map, up to ±540: they are wrapped into -180..180.
    A box whose west is east of its east after wrapping crosses the antimeridian; one
    wider than 360° is the whole band of longitudes (-180, 180).
    """
    if text is None or not text.strip():
        return None
    parts = text.split(",")
    try:
        if len(parts) != 4:
            raise ValueError
        south, west, north, east = (float(p) for p in parts)
    except ValueError:
        raise ValueError(f"{_BBOX_FORM}, four numbers; got {text!r}") from None
    if not all(math.isfinite(v) for v in (south, west, north, east)):
        raise ValueError(f"{_BBOX_FORM}, finite numbers; got {text!r}")
    if not (-90 <= south <= north <= 90):
        raise ValueError(f"{_BBOX_FORM}, with -90 <= south <= north <= 90; got {text!r}")
    if not (-540 <= west <= 540 and -540 <= east <= 540):
        raise ValueError(f"{_BBOX_FORM}, with longitudes within -540..540; got {text!r}")
    if west > east:
        if not (-180 <= east < west <= 180):
            raise ValueError(
                f"{_BBOX_FORM}, with west <= east (or both within -180..180 across the"
                f" antimeridian); got {text!r}"
            )
        east += 360
    if east - west >= 360:
        return (south, -180.0, north, 180.0)
    wrapped = _wrap(west)
    east = wrapped + (east - west)
    if east > 180:
        east -= 360  # crosses the antimeridian: west > east
    return (south, wrapped, north, east)


def _wrap(lon: float) -> float:
    """A longitude in -180..180 (180 itself becomes -180), unchanged when it is already."""
    return lon if -180.0 <= lon < 180.0 else (lon + 180.0) % 360.0 - 180.0


def _inside(lat: float, lon: float, bounds: Bounds) -> bool:
    south, west, north, east = bounds
    if not south <= lat <= north:
        return False
    if west <= east:
        return west <= lon <= east or west <= lon + 360 <= east
    return lon >= west or lon <= east  # across the antimeridian


def _project(lat: float, lon: float) -> tuple[float, float]:
    """Web Mercator scaled to 0..1 (x east, y south)."""
    phi = math.radians(max(-_MAX_LAT, min(_MAX_LAT, lat)))
    x = (lon + 180.0) / 360.0
    y = (1.0 - math.log(math.tan(phi) + 1.0 / math.cos(phi)) / math.pi) / 2.0
    return min(max(x, 0.0), 1.0), min(max(y, 0.0), 1.0)


@dataclass(frozen=True)
class _Placed:
    site: MapSite
    cell: tuple[int, int]  # column and row, in cells of `cell_pixels`


def _cluster(members: list[_Placed]) -> dict[str, object]:
    members = sorted(members, key=lambda p: (p.site.name, p.site.lat, p.site.lon))
    lats = [p.site.lat for p in members]
    lons = [p.site.lon for p in members]
    counts: dict[str, int] = {}
    for p in members:
        counts[p.site.phase] = counts.get(p.site.phase, 0) + 1
    return {
        "lat": round(sum(lats) / len(lats), 6),
        "lon": round(sum(lons) / len(lons), 6),
        "count": len(members),
        "phases": dict(sorted(counts.items())),
        "worst": worst(counts),
        "bounds": [min(lats), min(lons), max(lats), max(lons)],
    }


def aggregate(
    sites: Iterable[MapSite],
    zoom: int,
    bounds: Bounds | None,
    cell_pixels: int = 48,
    max_points: int = 2000,
) -> dict[str, object]:
    """Points and clusters of the sites within `bounds` (None: the world) at `zoom`.

    Phases other than the five known ones count as Unknown. Sites whose coordinates
    are not finite, or whose latitude is beyond ±90, are left out. Longitudes are
    wrapped into -180..180. Points are sorted by name, clusters north to south, then
    west to east.
    """
    if cell_pixels < 1 or max_points < 1:
        raise ValueError("cell_pixels and max_points must be at least 1")
    zoom = max(0, min(MAX_ZOOM, int(zoom)))
    world = 256 * 2**zoom
    last = math.ceil(world / cell_pixels) - 1
    placed: list[_Placed] = []
    for site in sites:
        if not (math.isfinite(site.lat) and math.isfinite(site.lon) and -90 <= site.lat <= 90):
            continue
        lon = _wrap(site.lon)
        if bounds is not None and not _inside(site.lat, lon, bounds):
            continue
        phase = site.phase if site.phase in _RANK else "Unknown"
        x, y = _project(site.lat, lon)
        cell = (min(int(x * world // cell_pixels), last), min(int(y * world // cell_pixels), last))
        placed.append(_Placed(MapSite(site.name, site.lat, lon, phase), cell))

    # Too many markers: cells twice as wide (2**shift times), each four of the finer ones.
    shift = 0
    while (cell_pixels << shift) < world:
        if len({(cx >> shift, cy >> shift) for cx, cy in (p.cell for p in placed)}) <= max_points:
            break
        shift += 1
    grid: dict[tuple[int, int], list[_Placed]] = {}
    for p in placed:
        grid.setdefault((p.cell[0] >> shift, p.cell[1] >> shift), []).append(p)

    singles = sorted(
        (m[0].site for m in grid.values() if len(m) == 1), key=lambda s: (s.name, s.lat, s.lon)
    )
    points = [{"name": s.name, "lat": s.lat, "lon": s.lon, "phase": s.phase} for s in singles]
    # By cell, north to south then west to east: unique, and the same whatever the order.
    cells_ns = sorted(grid.items(), key=lambda item: (item[0][1], item[0][0]))
    clusters = [_cluster(members) for _, members in cells_ns if len(members) > 1]
    return {"points": points, "clusters": clusters, "total": len(placed)}
