"""Targets as JSON: how the hub tells a site the endpoints of its applications
(``GET /sites/{site}/endpoints``) and shows a client's answer (``edgeplane endpoints``).

``from_wire`` reads what came over the network: anything of the wrong shape is
skipped, never raised, and the counts are bounded by the caller.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Mapping
from typing import Any

from edgeplane.traffic.table import Target

WEIGHT_MAX = 1_000_000


def to_wire(target: Target) -> dict[str, Any]:
    found = {
        "site": target.site,
        "region": target.region,
        "lat": target.lat,
        "lon": target.lon,
        "address": target.address,
        "port": target.port,
        "portName": target.port_name,
        "weight": target.weight,
        "healthy": target.healthy,
    }
    return {k: v for k, v in found.items() if v is not None}


def from_wire(application: str, raw: object) -> Target | None:
    if not isinstance(raw, Mapping):
        return None
    site, address, port = raw.get("site"), raw.get("address"), raw.get("port")
    weight, healthy = raw.get("weight", 1), raw.get("healthy")
    if not (isinstance(site, str) and isinstance(address, str) and _port(port)):
        return None
    if not (isinstance(weight, int) and 1 <= weight <= WEIGHT_MAX and isinstance(healthy, bool)):
        return None
    try:
        address = str(ipaddress.ip_address(address))
    except ValueError:
        return None
    return Target(
        application=application,
        site=site,
        region=_text(raw.get("region")),
        lat=_degrees(raw.get("lat"), 90),
        lon=_degrees(raw.get("lon"), 180),
        address=address,
        port=int(port),  # type: ignore[arg-type]
        port_name=_text(raw.get("portName")),
        weight=weight,
        healthy=healthy,
    )


def _port(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 65536


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and 0 < len(value) <= 253 else None


def _degrees(value: object, bound: float) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) and -bound <= value <= bound else None
