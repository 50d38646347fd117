"""The endpoints of every application and whether each is healthy, from wire data.

``table_from`` reads Sites and Assignments as they travel (``api.wire.Object``) and
returns a ``Table``: one ``Target`` per reported endpoint whose url names an IP
literal. It trusts nothing: any field may be missing or of the wrong type (an old
agent, a hand-written object), and such an endpoint or object is skipped, never raised
about. Neighbours: ``answers`` ranks a table's targets for one client; ``server``
calls a ``Callable[[], Table]`` for every query, so whoever builds the table decides
how fresh it is.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import ClassVar

from edgeplane.api.wire import Object

TARGETS_PER_ASSIGNMENT_MAX = 256
"""Endpoints read from one assignment (the API's bound on ``status.endpoints``)."""
URL_CHARS_MAX = 2048
SCHEMES = frozenset({"http", "https"})
ONLINE = "Online"
RUNNING = "Running"


@dataclass(frozen=True)
class Target:
    """One endpoint of one application at one site, as a DNS answer may name it."""

    application: str
    site: str
    region: str | None
    lat: float | None
    lon: float | None
    address: str
    """An IP literal, compressed (``10.0.0.1``, ``2001:db8::1``)."""
    port: int
    port_name: str | None
    weight: int
    """The assignment's ready replicas (at least 1): heavier targets are answered first
    more often."""
    healthy: bool


@dataclass(frozen=True)
class Table:
    """Every application's targets, by application name."""

    targets: Mapping[str, tuple[Target, ...]]
    EMPTY: ClassVar[Table]

    def of(self, application: str) -> tuple[Target, ...]:
        return self.targets.get(application, ())


Table.EMPTY = Table(MappingProxyType({}))
EMPTY = Table.EMPTY


@dataclass(frozen=True)
class _Site:
    online: bool
    region: str | None
    lat: float | None
    lon: float | None


def table_from(sites: Iterable[Object], assignments: Iterable[Object]) -> Table:
    """The table of ``assignments``' endpoints at ``sites``: pure, never raises.

    An endpoint counts once per application and site (the same address and port
    reported twice, by two assignments during a revision change, is one target; a
    healthy report wins). Assignments of a site not in ``sites`` are skipped."""
    known = dict(_sites(sites))
    found: dict[str, dict[tuple[str, str, int], Target]] = {}
    for assignment in _items(assignments):
        for target in _targets_of(assignment, known):
            _keep(found.setdefault(target.application, {}), target)
    return Table(MappingProxyType({app: tuple(kept.values()) for app, kept in found.items()}))


def _keep(kept: dict[tuple[str, str, int], Target], target: Target) -> None:
    key = (target.site, target.address, target.port)
    held = kept.get(key)
    if held is None or (target.healthy and not held.healthy):
        kept[key] = target


def _sites(sites: object) -> Iterator[tuple[str, _Site]]:
    for site in _items(sites):
        name = _text(_at(site, "metadata", "name"))
        if name is not None:
            yield name, _site_of(site)


def _site_of(site: object) -> _Site:
    lat, lon = _location(_at(site, "spec", "location"))
    return _Site(
        online=_at(site, "status", "phase") == ONLINE,
        region=_text(_at(site, "metadata", "labels", "region")),
        lat=lat,
        lon=lon,
    )


def _location(location: object) -> tuple[float | None, float | None]:
    lat, lon = _number(_at(location, "lat")), _number(_at(location, "lon"))
    if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None, None
    return lat, lon


def _targets_of(assignment: object, sites: Mapping[str, _Site]) -> Iterator[Target]:
    application = _text(_at(assignment, "spec", "application"))
    site_name = _text(_at(assignment, "spec", "site"))
    site = sites.get(site_name) if site_name is not None else None
    endpoints = _at(assignment, "status", "endpoints")
    if application is None or site_name is None or site is None:
        return
    if not isinstance(endpoints, list | tuple):
        return
    healthy = site.online and _running(assignment)
    weight = max(1, _count(_at(assignment, "status", "ready")) or 0)
    for endpoint in endpoints[:TARGETS_PER_ASSIGNMENT_MAX]:
        reachable = _host_port(_at(endpoint, "url"))
        if reachable is not None:
            address, port = reachable
            name = _text(_at(endpoint, "name"))
            yield Target(
                application, site_name, site.region, site.lat, site.lon,
                address, port, name, weight, healthy,
            )  # fmt: skip


def _running(assignment: object) -> bool:
    """Running with a ready replica, and reported for the spec as it is now."""
    status = _at(assignment, "status")
    ready = _count(_at(status, "ready")) or 0
    observed = _at(status, "observedGeneration")
    current = observed is None or (
        _count(observed) is not None
        and _count(observed) == _count(_at(assignment, "metadata", "generation"))
    )
    return _at(status, "phase") == RUNNING and ready >= 1 and current


def _host_port(url: object) -> tuple[str, int] | None:
    """``http://HOST:PORT`` with HOST an IP literal (``[v6]`` in brackets), else None."""
    if not isinstance(url, str) or len(url) > URL_CHARS_MAX:
        return None
    scheme, separator, rest = url.partition("://")
    if not separator or scheme.lower() not in SCHEMES:
        return None
    authority = rest
    for end in "/?#":
        authority = authority.split(end, 1)[0]
    return _split_authority(authority)


def _split_authority(authority: str) -> tuple[str, int] | None:
    if authority.startswith("["):
        host, separator, port_text = authority[1:].partition("]:")
        version = 6
    else:
        host, separator, port_text = authority.rpartition(":")
        version = 4
    port = _port(port_text)
    if not separator or port is None:
        return None
    address = _ip(host, version)
    return (address, port) if address is not None else None


def _port(text: str) -> int | None:
    if not (text.isascii() and text.isdigit() and len(text) <= 5):
        return None
    port = int(text)
    return port if 1 <= port <= 65535 else None


def _ip(host: str, version: int) -> str | None:
    """The compressed literal; None for a name, a scoped or an unspecified address
    (none of them can be a DNS answer)."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if address.version != version or address.is_unspecified:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id is not None:
        return None
    return address.compressed


def _items(value: object) -> list[object]:
    """The elements of an iterable of objects; nothing for anything else (a mapping,
    a string, a number)."""
    if isinstance(value, Mapping | str | bytes | bytearray) or not isinstance(value, Iterable):
        return []
    return list(value)


def _at(value: object, *path: str) -> object:
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _number(value: object) -> float | None:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except OverflowError:  # an int past a float's range
        return None
    return number if math.isfinite(number) else None
