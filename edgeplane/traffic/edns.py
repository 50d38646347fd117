"""EDNS(0) as this server speaks it: the OPT record's UDP size and version, and the
Client Subnet option (RFC 7871) that says where the client behind a resolver is.

A Client Subnet that is malformed is ignored rather than refused: the client is then
placed by the resolver's address (``responder``), which is what a resolver that sent
none gets. Neighbours: ``responder`` reads each query's OPT record here and echoes the
subnet back; ``locality`` places the subnet.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass
from typing import Any

from edgeplane.traffic.locality import Address, Network

UDP_PAYLOAD_MIN, UDP_PAYLOAD_MAX = 512, 1232
"""The UDP answer sizes honoured: RFC 1035's floor, and DNS Flag Day 2020's ceiling
(no IP fragmentation on common paths)."""
CLIENT_SUBNET = 8
"""The option code of EDNS Client Subnet."""


@dataclass(frozen=True)
class Edns:
    """What a query's OPT record asked: the reply's UDP size, and its client subnet."""

    payload: int
    version: int
    subnet: Network | None = None
    echo: bytes | None = None


def edns_of(opt: Any) -> Edns:
    """The query's OPT record read; a client subnet that is not valid is left out."""
    payload = min(max(int(opt.rclass), UDP_PAYLOAD_MIN), UDP_PAYLOAD_MAX)
    subnets = [bytes(o.data) for o in opt.rdata if o.code == CLIENT_SUBNET]
    subnet = client_subnet(subnets[0]) if len(subnets) == 1 else None
    if subnet is None:
        return Edns(payload, int(opt.edns_ver))
    return Edns(payload, int(opt.edns_ver), subnet, echo(subnets[0], subnet))


def client_subnet(data: bytes) -> Network | None:
    """An EDNS Client Subnet option's network (RFC 7871 section 6), None when the option is
    malformed: an unknown family, a prefix too long, an address of the wrong length or
    with bits past the prefix, a scope set in a query."""
    if len(data) < 4:
        return None
    family, source, scope = struct.unpack_from("!HBB", data)
    address = data[4:]
    width = {1: 32, 2: 128}.get(family)
    if width is None or source > width or scope != 0 or len(address) != (source + 7) // 8:
        return None
    full = address + bytes(width // 8 - len(address))
    ip: Address = ipaddress.IPv4Address(full) if width == 32 else ipaddress.IPv6Address(full)
    try:
        return ipaddress.ip_network((ip, source))
    except ValueError:
        return None


def echo(data: bytes, subnet: Network) -> bytes:
    """The option sent back: the answer holds for the whole subnet (scope = source)."""
    return data[:2] + bytes((subnet.prefixlen, subnet.prefixlen)) + data[4:]
