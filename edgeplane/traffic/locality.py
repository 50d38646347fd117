"""Where a DNS client is: its network mapped to a region, a site or a point.

An operator writes the map (JSON or YAML)::

    networks:
      - {cidr: 10.1.0.0/16, region: eu-west}
      - {cidr: 10.1.2.0/24, site: paris-1, lat: 48.8, lon: 2.3}

and ``Locality.place_of`` finds the longest listed network holding a client's address
(or its EDNS Client Subnet). A client in no listed network is nowhere in particular:
``Place()``. Neighbours: ``answers`` ranks targets by the place; ``responder`` asks
for the place of each query's client.
"""

from __future__ import annotations

import ipaddress
import json
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

NETWORKS_MAX = 10_000
TEXT_BYTES_MAX = 8 * 1024 * 1024
NAME_CHARS_MAX = 253
FIELDS = ("cidr", "region", "site", "lat", "lon")
EXAMPLE = '{"networks": [{"cidr": "10.1.0.0/16", "region": "eu-west"}]}'

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class LocalityError(ValueError):
    """A locality map that cannot be used; the message names the field and the fix."""


@dataclass(frozen=True)
class Place:
    """Where a client is, as far as known: any of a region, a site and a point."""

    region: str | None = None
    site: str | None = None
    lat: float | None = None
    lon: float | None = None


class Locality:
    """Client networks and their places, matched by longest prefix (IPv4 and IPv6)."""

    def __init__(self, networks: Iterable[tuple[Network, Place]]) -> None:
        self._places: dict[int, dict[int, dict[int, Place]]] = {4: {}, 6: {}}
        for network, place in networks:
            by_length = self._places[network.version].setdefault(network.prefixlen, {})
            by_length[int(network.network_address)] = place
        self._lengths = {
            version: tuple(sorted(by_length, reverse=True))
            for version, by_length in self._places.items()
        }

    def __len__(self) -> int:
        return sum(len(places) for by in self._places.values() for places in by.values())

    def place_of(self, address: Address | Network) -> Place:
        """The place of the longest listed network holding ``address`` (a network, an
        EDNS Client Subnet, matches only networks at most as long as its own prefix)."""
        network = _as_network(address)
        width = network.max_prefixlen
        value = int(network.network_address)
        by_length = self._places[network.version]
        for length in self._lengths[network.version]:
            if length > network.prefixlen:
                continue
            mask = ((1 << length) - 1) << (width - length)
            place = by_length[length].get(value & mask)
            if place is not None:
                return place
        return Place()


def _as_network(address: Address | Network) -> Network:
    """A network of the address; an IPv4-mapped IPv6 one (a dual-stack socket's
    peer) as the IPv4 it is."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if isinstance(address, ipaddress.IPv4Address | ipaddress.IPv6Address):
        return ipaddress.ip_network(address)
    mapped = address.network_address.ipv4_mapped if address.version == 6 else None
    if mapped is not None and address.prefixlen >= 96:
        return ipaddress.IPv4Network((mapped, address.prefixlen - 96))
    return address


def load_locality(text_or_mapping: str | bytes | Mapping[str, object]) -> Locality:
    """A locality from JSON or YAML text, or from the mapping already read."""
    if isinstance(text_or_mapping, Mapping):
        return locality_from(text_or_mapping)
    return locality_from(_parsed(_decoded(text_or_mapping)))


def load_locality_file(path: str | os.PathLike[str]) -> Locality:
    """A locality from a JSON or YAML file."""
    try:
        with open(path, "rb") as file:
            data = file.read(TEXT_BYTES_MAX + 1)
    except OSError as e:
        raise LocalityError(f"locality map {os.fspath(path)!r}: cannot read it: {e}") from e
    try:
        return load_locality(data)
    except LocalityError as e:
        raise LocalityError(f"locality map {os.fspath(path)!r}: {e}") from e


def _decoded(text: str | bytes) -> str:
    if len(text) > TEXT_BYTES_MAX:
        raise LocalityError(
            f"the locality map is over {TEXT_BYTES_MAX} bytes: merge neighbouring networks"
        )
    if isinstance(text, str):
        return text
    try:
        return text.decode("utf-8")
    except UnicodeDecodeError as e:
        raise LocalityError(f"the locality map is not UTF-8 text: {e}") from e


def _parsed(text: str) -> object:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        pass  # not JSON: YAML, a superset of it, says what is wrong
    import yaml  # here: an agent without a locality map never loads it

    try:
        return yaml.safe_load(text)
    except (yaml.YAMLError, RecursionError) as e:
        raise LocalityError(f"the locality map is neither JSON nor YAML: {e}") from e


def locality_from(data: object) -> Locality:
    """A locality from the map as read (``{"networks": [...]}``), checked."""
    if not isinstance(data, Mapping):
        raise LocalityError(
            f"the locality map must be a mapping with a 'networks' list, got "
            f"{type(data).__name__}: write {EXAMPLE}"
        )
    for key in data:
        if key != "networks":
            raise LocalityError(
                f"{key!r}: not a field of the locality map: the only one is 'networks'"
            )
    entries = data.get("networks")
    if not isinstance(entries, list):
        raise LocalityError(
            f"networks: must be a list of {{cidr, region, site, lat, lon}}, got "
            f"{type(entries).__name__}: write {EXAMPLE}"
        )
    if len(entries) > NETWORKS_MAX:
        raise LocalityError(
            f"networks: {len(entries)} networks, at most {NETWORKS_MAX}: merge neighbouring "
            "networks into shorter prefixes"
        )
    return Locality(_checked(entries))


def _checked(entries: list[object]) -> list[tuple[Network, Place]]:
    seen: dict[Network, int] = {}
    networks = []
    for index, entry in enumerate(entries):
        network, place = _entry(f"networks[{index}]", entry)
        if network in seen:
            raise LocalityError(
                f"networks[{index}].cidr: '{network}' is listed twice (also "
                f"networks[{seen[network]}]): list each network once"
            )
        seen[network] = index
        networks.append((network, place))
    return networks


def _entry(where: str, entry: object) -> tuple[Network, Place]:
    if not isinstance(entry, Mapping):
        raise LocalityError(
            f'{where}: must be a mapping such as {{"cidr": "10.1.0.0/16", "region": '
            f'"eu-west"}}, got {type(entry).__name__}'
        )
    for key in entry:
        if key not in FIELDS:
            raise LocalityError(f"{where}.{key}: not a field: the fields are {', '.join(FIELDS)}")
    network = _network(f"{where}.cidr", entry.get("cidr"))
    return network, _place(where, entry)


def _network(where: str, cidr: object) -> Network:
    if cidr is None:
        raise LocalityError(f"{where}: missing: give the client network, e.g. '10.1.0.0/16'")
    if not isinstance(cidr, str):
        raise LocalityError(f"{where}: must be a string such as '10.1.0.0/16', got {cidr!r}")
    try:
        return ipaddress.ip_network(cidr)
    except ValueError as e:
        raise LocalityError(f"{where}: {cidr!r} is not a network: {e}; {_fix(cidr)}") from e


def _fix(cidr: str) -> str:
    try:
        return f"write '{ipaddress.ip_network(cidr, strict=False)}'"
    except ValueError:
        return "write an IPv4 or IPv6 network such as '10.1.0.0/16' or '2001:db8::/32'"


def _place(where: str, entry: Mapping[object, object]) -> Place:
    place = Place(
        region=_name(f"{where}.region", entry.get("region")),
        site=_name(f"{where}.site", entry.get("site")),
        lat=_degrees(f"{where}.lat", entry.get("lat"), 90, "latitude"),
        lon=_degrees(f"{where}.lon", entry.get("lon"), 180, "longitude"),
    )
    if (place.lat is None) != (place.lon is None):
        given, missing = ("lat", "lon") if place.lon is None else ("lon", "lat")
        raise LocalityError(f"{where}: {given} without {missing}: give both, or neither")
    if place == Place():
        raise LocalityError(f"{where}: names no place: give a region, a site, or lat and lon")
    return place


def _name(where: str, value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not 0 < len(value) <= NAME_CHARS_MAX:
        raise LocalityError(
            f"{where}: must be a name of 1 to {NAME_CHARS_MAX} characters, got {value!r}"
        )
    return value


def _degrees(where: str, value: object, bound: int, what: str) -> float | None:
    if value is None:
        return None
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise LocalityError(f"{where}: must be a number of degrees, got {value!r}")
    degrees = float(value) if abs(value) <= bound else math.inf
    if not -bound <= degrees <= bound:
        raise LocalityError(
            f"{where}: {value!r} is out of range: a {what} is between -{bound} and {bound}"
        )
    return degrees
