"""Where simulated sites are (``edgeplane sim --locations``): a place per site index.

Forty real cities, each with a region in the style of the clouds' (``eu-west``,
``us-east``, ``ap-south``, ...). Site *i* is at city ``i mod 40``, moved by up to ±1° in
latitude and in longitude by a jitter drawn from *i* alone (a fixed integer hash: the
same site is at the same place in every run, on every machine), so that ten thousand
sites spread around their cities instead of stacking on forty points. Pure: no I/O;
``sim.fleet`` sends ``site_patch(i)`` after site *i* joins.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

REGION_LABEL = "region"
JITTER_DEGREES = 1.0
DIGITS = 4
"""Decimals of a jittered coordinate (about 11 m)."""
_MASK = 2**64 - 1


@dataclass(frozen=True)
class Place:
    city: str
    lat: float
    lon: float
    region: str


PLACES: tuple[Place, ...] = (
    Place("London", 51.5074, -0.1278, "eu-west"),
    Place("Paris", 48.8566, 2.3522, "eu-west"),
    Place("Dublin", 53.3498, -6.2603, "eu-west"),
    Place("Madrid", 40.4168, -3.7038, "eu-west"),
    Place("Amsterdam", 52.3676, 4.9041, "eu-west"),
    Place("Frankfurt", 50.1109, 8.6821, "eu-central"),
    Place("Warsaw", 52.2297, 21.0122, "eu-central"),
    Place("Milan", 45.4642, 9.1900, "eu-central"),
    Place("Vienna", 48.2082, 16.3738, "eu-central"),
    Place("Stockholm", 59.3293, 18.0686, "eu-north"),
    Place("Helsinki", 60.1699, 24.9384, "eu-north"),
    Place("New York", 40.7128, -74.0060, "us-east"),
    Place("Washington", 38.9072, -77.0369, "us-east"),
    Place("Atlanta", 33.7490, -84.3880, "us-east"),
    Place("Toronto", 43.6532, -79.3832, "ca-central"),
    Place("Chicago", 41.8781, -87.6298, "us-central"),
    Place("Dallas", 32.7767, -96.7970, "us-central"),
    Place("San Francisco", 37.7749, -122.4194, "us-west"),
    Place("Seattle", 47.6062, -122.3321, "us-west"),
    Place("Los Angeles", 34.0522, -118.2437, "us-west"),
    Place("Mexico City", 19.4326, -99.1332, "mx-central"),
    Place("São Paulo", -23.5505, -46.6333, "sa-east"),
    Place("Buenos Aires", -34.6037, -58.3816, "sa-east"),
    Place("Santiago", -33.4489, -70.6693, "sa-east"),
    Place("Bogotá", 4.7110, -74.0721, "sa-east"),
    Place("Mumbai", 19.0760, 72.8777, "ap-south"),
    Place("Delhi", 28.7041, 77.1025, "ap-south"),
    Place("Bangalore", 12.9716, 77.5946, "ap-south"),
    Place("Singapore", 1.3521, 103.8198, "ap-southeast"),
    Place("Jakarta", -6.2088, 106.8456, "ap-southeast"),
    Place("Bangkok", 13.7563, 100.5018, "ap-southeast"),
    Place("Tokyo", 35.6762, 139.6503, "ap-northeast"),
    Place("Seoul", 37.5665, 126.9780, "ap-northeast"),
    Place("Sydney", -33.8688, 151.2093, "au-southeast"),
    Place("Melbourne", -37.8136, 144.9631, "au-southeast"),
    Place("Auckland", -36.8485, 174.7633, "au-southeast"),
    Place("Dubai", 25.2048, 55.2708, "me-central"),
    Place("Johannesburg", -26.2041, 28.0473, "af-south"),
    Place("Cape Town", -33.9249, 18.4241, "af-south"),
    Place("Lagos", 6.5244, 3.3792, "af-west"),
)
REGIONS: tuple[str, ...] = tuple(sorted({p.region for p in PLACES}))


def _mix(x: int) -> int:
    """SplitMix64's finaliser: a fixed, well-spread 64-bit hash of an integer."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def jitter(index: int) -> tuple[float, float]:
    """Site ``index``'s offset in degrees (latitude, longitude), each within ±1°."""
    bits = _mix(index)
    high, low = bits >> 32, bits & 0xFFFFFFFF
    return _unit(high) * JITTER_DEGREES, _unit(low) * JITTER_DEGREES


def _unit(half: int) -> float:
    """A 32-bit number as -1 ... 1."""
    return 2 * half / 0xFFFFFFFF - 1


def place_of(index: int) -> Place:
    """Where site ``index`` (0, 1, ...) is: its city's place, jittered, with its region.
    A latitude stays within ±90 and a longitude is wrapped into -180..180."""
    if index < 0:
        raise ValueError(f"site index {index}: give 0 or more")
    city = PLACES[index % len(PLACES)]
    d_lat, d_lon = jitter(index)
    lat = max(-90.0, min(90.0, city.lat + d_lat))
    lon = city.lon + d_lon
    lon = lon if -180.0 <= lon <= 180.0 else (lon + 180.0) % 360.0 - 180.0
    return Place(city.city, round(lat, DIGITS), round(lon, DIGITS), city.region)


def site_patch(index: int) -> dict[str, Any]:
    """The JSON merge patch of site ``index``'s ``spec.location`` and ``region`` label."""
    place = place_of(index)
    return {
        "metadata": {"labels": {REGION_LABEL: place.region}},
        "spec": {"location": {"lat": place.lat, "lon": place.lon}},
    }
