"""``traffic.edns``: an EDNS Client Subnet option (RFC 7871) read as a network, or
ignored when malformed; the echo carries the scope of the answer."""

from __future__ import annotations

import ipaddress
import struct

import pytest

from edgeplane.traffic.edns import client_subnet, echo


def option(family: int, source: int, scope: int, address: bytes) -> bytes:
    return struct.pack("!HBB", family, source, scope) + address


SUBNETS = [
    ("ipv4 /24", option(1, 24, 0, bytes([10, 1, 2])), "10.1.2.0/24"),
    ("ipv4 /32", option(1, 32, 0, bytes([10, 1, 2, 3])), "10.1.2.3/32"),
    ("ipv4 /0", option(1, 0, 0, b""), "0.0.0.0/0"),
    ("ipv4 /20", option(1, 20, 0, bytes([10, 1, 0x10])), "10.1.16.0/20"),
    ("ipv6 /56", option(2, 56, 0, bytes.fromhex("20010db8000100")), "2001:db8:1::/56"),
    ("too short", b"\x00\x01\x18", None),
    ("unknown family", option(3, 24, 0, bytes([10, 1, 2])), None),
    ("prefix past 32", option(1, 33, 0, bytes(5)), None),
    ("address too long", option(1, 24, 0, bytes([10, 1, 2, 3])), None),
    ("address too short", option(1, 24, 0, bytes([10, 1])), None),
    ("bits past the prefix", option(1, 20, 0, bytes([10, 1, 0x11])), None),
    ("a scope in a query", option(1, 24, 8, bytes([10, 1, 2])), None),
]


@pytest.mark.parametrize(("data", "network"), [s[1:] for s in SUBNETS], ids=[s[0] for s in SUBNETS])
def test_client_subnet(data: bytes, network: str | None) -> None:
    expected = ipaddress.ip_network(network) if network is not None else None
    assert client_subnet(data) == expected


def test_the_echo_scopes_the_answer_to_the_whole_subnet() -> None:
    data = option(1, 24, 0, bytes([10, 1, 2]))
    subnet = client_subnet(data)
    assert subnet is not None
    assert echo(data, subnet) == option(1, 24, 24, bytes([10, 1, 2]))
