"""``traffic.server.DnsServer`` on loopback, queried with dnspython: answers by the
client's locality (EDNS Client Subnet, else its address), healthy endpoints only and
the current table's, SRV with priorities, the negative answers, truncation over UDP,
and its bounds (garbage, TCP connections)."""

from __future__ import annotations

import asyncio
import random
import struct
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import dns.asyncquery
import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import pytest

from edgeplane.api.wire import Object
from edgeplane.traffic import server as traffic_server
from edgeplane.traffic.locality import locality_from
from edgeplane.traffic.server import TCP_CONNECTIONS_MAX, DnsServer
from edgeplane.traffic.table import Table, table_from

ZONE = "apps.example"
HOST = "127.0.0.1"
TIMEOUT = 5.0
PARIS = {"10.0.1.1", "10.0.1.2"}
LYON = {"10.0.2.1"}
NYC = {"10.0.3.1"}
SITES = {
    "paris": ("eu-west", 48.86, 2.35, ["10.0.1.1", "10.0.1.2", "[2001:db8:1::1]"]),
    "lyon": ("eu-west", 45.76, 4.84, ["10.0.2.1"]),
    "nyc": ("us-east", 40.71, -74.0, ["10.0.3.1"]),
}
MANY = 40
"""Sites of the application ``many`` (one endpoint each): its SRV answer cannot fit
in 512 bytes."""
LOCALITY = {
    "networks": [
        {"cidr": "127.0.0.0/8", "region": "us-east"},
        {"cidr": "10.1.0.0/16", "region": "eu-west"},
        {"cidr": "10.1.2.0/24", "site": "paris"},
        {"cidr": "10.2.0.0/16", "region": "us-east"},
    ]
}


def site(name: str, region: str, lat: float, lon: float, phase: str = "Online") -> Object:
    return {
        "metadata": {"name": name, "labels": {"region": region}},
        "spec": {"location": {"lat": lat, "lon": lon}},
        "status": {"phase": phase},
    }


def assignment(app: str, at: str, hosts: list[str], phase: str = "Running") -> Object:
    endpoints = [{"name": "http", "port": 8080, "url": f"http://{h}:8080"} for h in hosts]
    return {
        "metadata": {"name": f"{app}-{at}", "generation": 1},
        "spec": {"application": app, "site": at},
        "status": {"phase": phase, "ready": 1, "observedGeneration": 1, "endpoints": endpoints},
    }


def fleet(offline: frozenset[str] = frozenset()) -> Table:
    sites = [
        site(name, region, lat, lon, "Offline" if name in offline else "Online")
        for name, (region, lat, lon, _) in SITES.items()
    ]
    sites += [site(f"m{i:02}", "ap-south", 10.0, float(i)) for i in range(MANY)]
    assignments = [assignment("web", name, hosts) for name, (*_, hosts) in SITES.items()]
    assignments.append(assignment("idle", "lyon", ["10.0.2.9"], phase="Pending"))
    assignments += [assignment("many", f"m{i:02}", [f"10.9.0.{i + 1}"]) for i in range(MANY)]
    return table_from(sites, assignments)


@dataclass
class Tables:
    """What the server's ``table`` callable returns: a test swaps it."""

    now: Table = field(default_factory=fleet)

    def __call__(self) -> Table:
        return self.now


@pytest.fixture
def tables() -> Iterator[Tables]:
    yield Tables()


@pytest.fixture
async def server(tables: Tables) -> AsyncIterator[DnsServer]:
    server = DnsServer(
        ZONE + ".", tables, locality=locality_from(LOCALITY), host=HOST, rng=random.Random(5)
    )
    await server.start()
    try:
        yield server
    finally:
        await server.close()


def make(name: str, rdtype: str = "A", subnet: str | None = None) -> dns.message.QueryMessage:
    if subnet is None:
        return dns.message.make_query(name, rdtype)
    return dns.message.make_query(
        name, rdtype, use_edns=0, options=[dns.edns.ECSOption.from_text(subnet)]
    )


async def udp(server: DnsServer, query: dns.message.Message) -> dns.message.Message:
    return await dns.asyncquery.udp(query, HOST, port=server.port, timeout=TIMEOUT)


async def tcp(server: DnsServer, query: dns.message.Message) -> dns.message.Message:
    return await dns.asyncquery.tcp(query, HOST, port=server.port, timeout=TIMEOUT)


def addresses(reply: dns.message.Message) -> set[str]:
    return {rr.address for rrset in reply.answer for rr in rrset}


def soa_serial(reply: dns.message.Message) -> int:
    (rrset,) = reply.authority
    assert rrset.rdtype == dns.rdatatype.SOA
    return int(rrset[0].serial)


@pytest.mark.parametrize(
    ("subnet", "expected"),
    [("10.1.7.0/24", PARIS | LYON), ("10.2.0.0/24", NYC), ("10.1.2.0/24", PARIS)],
    ids=["a client in eu-west", "a client in us-east", "a client at paris"],
)
async def test_a_client_gets_its_localitys_endpoints(
    server: DnsServer, subnet: str, expected: set[str]
) -> None:
    reply = await udp(server, make(f"web.{ZONE}", subnet=subnet))
    assert reply.rcode() == dns.rcode.NOERROR and reply.flags & dns.flags.AA
    assert addresses(reply) == expected
    assert reply.answer[0].ttl == 5
    (echoed,) = reply.options
    assert isinstance(echoed, dns.edns.ECSOption)
    assert (echoed.address, echoed.srclen, echoed.scopelen) == (subnet.split("/")[0], 24, 24)


async def test_without_a_client_subnet_the_peer_address_places_the_client(
    server: DnsServer,
) -> None:
    reply = await udp(server, make("WEB.Apps.Example", "ANY"))
    assert addresses(reply) == NYC
    assert (await tcp(server, make(f"web.{ZONE}"))).answer[0].name.to_text() == f"web.{ZONE}."


async def test_a_client_subnet_that_is_not_valid_is_ignored(server: DnsServer) -> None:
    scoped = dns.edns.ECSOption("10.1.2.0", 24, 8)  # a scope is for replies only
    query = dns.message.make_query(f"web.{ZONE}", "A", use_edns=0, options=[scoped])
    reply = await udp(server, query)
    assert addresses(reply) == NYC and not reply.options


async def test_an_agent_places_its_clients_at_its_site(tables: Tables) -> None:
    local = DnsServer(
        ZONE, tables, locality=locality_from(LOCALITY), local_site="lyon", rng=random.Random(1)
    )
    await local.start()
    try:
        assert addresses(await udp(local, make(f"web.{ZONE}"))) == LYON
        assert addresses(await udp(local, make(f"web.{ZONE}", subnet="10.1.2.0/24"))) == PARIS
        reply = await udp(local, make(f"_http._tcp.web.{ZONE}", "SRV"))
        priorities = sorted((rr.priority, rr.target.to_text()) for rr in reply.answer[0])
        assert [p for p, _ in priorities] == [0, 10, 20]
        assert priorities[0][1] == f"lyon.web.{ZONE}."
    finally:
        await local.close()


async def test_aaaa_answers_ipv6_endpoints(server: DnsServer) -> None:
    reply = await udp(server, make(f"web.{ZONE}", "AAAA", subnet="10.1.2.0/24"))
    assert addresses(reply) == {"2001:db8:1::1"}


async def test_a_site_leaves_the_answers_when_the_table_says_so(
    server: DnsServer, tables: Tables
) -> None:
    before = await udp(server, make(ZONE, "SOA"))
    assert addresses(await udp(server, make(f"web.{ZONE}", subnet="10.1.2.0/24"))) == PARIS
    tables.now = fleet(offline=frozenset({"paris"}))
    assert addresses(await udp(server, make(f"web.{ZONE}", subnet="10.1.2.0/24"))) == LYON
    after = await udp(server, make(ZONE, "SOA"))
    assert after.answer[0][0].serial == before.answer[0][0].serial + 1


async def test_srv_lists_every_tier_with_priorities_and_addresses(server: DnsServer) -> None:
    reply = await udp(server, make(f"_http._tcp.web.{ZONE}", "SRV", subnet="10.1.2.0/24"))
    (rrset,) = reply.answer
    records = sorted((rr.priority, rr.weight, rr.port, rr.target.to_text()) for rr in rrset)
    assert records == [
        (0, 1, 8080, f"paris.web.{ZONE}."),
        (10, 1, 8080, f"lyon.web.{ZONE}."),
        (20, 1, 8080, f"nyc.web.{ZONE}."),
    ]
    extra = {(rrset.name.to_text(), rr.to_text()) for rrset in reply.additional for rr in rrset}
    assert extra == {
        (f"paris.web.{ZONE}.", "10.0.1.1"),
        (f"paris.web.{ZONE}.", "10.0.1.2"),
        (f"paris.web.{ZONE}.", "2001:db8:1::1"),
        (f"lyon.web.{ZONE}.", "10.0.2.1"),
        (f"nyc.web.{ZONE}.", "10.0.3.1"),
    }


async def test_a_site_name_answers_that_sites_endpoints(server: DnsServer) -> None:
    assert addresses(await udp(server, make(f"paris.web.{ZONE}"))) == PARIS


NEGATIVE = [
    ("unknown name", f"nope.{ZONE}", "A", dns.rcode.NXDOMAIN),
    ("unknown site", f"rome.web.{ZONE}", "A", dns.rcode.NXDOMAIN),
    ("unknown port", f"_grpc._tcp.web.{ZONE}", "SRV", dns.rcode.NXDOMAIN),
    ("no healthy target", f"idle.{ZONE}", "A", dns.rcode.NOERROR),
    ("no target of the type", f"nyc.web.{ZONE}", "AAAA", dns.rcode.NOERROR),
    ("a type not served", f"web.{ZONE}", "MX", dns.rcode.NOERROR),
]


@pytest.mark.parametrize(
    ("name", "rdtype", "rcode"), [n[1:] for n in NEGATIVE], ids=[n[0] for n in NEGATIVE]
)
async def test_negative_answers_carry_the_soa(
    server: DnsServer, name: str, rdtype: str, rcode: dns.rcode.Rcode
) -> None:
    reply = await udp(server, make(name, rdtype))
    assert reply.rcode() == rcode and reply.flags & dns.flags.AA
    assert reply.answer == []
    assert soa_serial(reply) >= 1
    assert reply.authority[0].ttl == 5


async def test_names_outside_the_zone_are_refused(server: DnsServer) -> None:
    reply = await udp(server, make("web.example.org"))
    assert reply.rcode() == dns.rcode.REFUSED and reply.answer == []
    assert server.stats["REFUSED"] == 1


async def test_the_apex_and_its_nameserver(server: DnsServer) -> None:
    ns = await udp(server, make(ZONE, "NS"))
    assert ns.answer[0][0].target.to_text() == f"ns.{ZONE}."
    assert {rr.address for rrset in ns.additional for rr in rrset} == {HOST}
    assert addresses(await udp(server, make(f"ns.{ZONE}"))) == {HOST}


async def test_a_big_answer_is_truncated_over_udp_and_whole_over_tcp(server: DnsServer) -> None:
    query = make(f"_http._tcp.many.{ZONE}", "SRV")
    truncated = await udp(server, query)
    assert truncated.flags & dns.flags.TC and truncated.answer == []
    whole = await tcp(server, query)
    assert not whole.flags & dns.flags.TC
    assert len(whole.answer[0]) == 32 and len(whole.additional) == 32


def questions(count: int, flags: int = 0x0100) -> bytes:
    question = dns.name.from_text(f"web.{ZONE}").to_digestable() + struct.pack("!2H", 1, 1)
    return struct.pack("!6H", 7, flags, count, 0, 0, 0) + question * count


@pytest.mark.parametrize(
    ("payload", "rcode"),
    [
        (questions(2), dns.rcode.FORMERR),
        (questions(0), dns.rcode.FORMERR),
        (questions(1, flags=0x2000), dns.rcode.NOTIMP),  # opcode 4, NOTIFY
        (questions(1)[:-3], dns.rcode.FORMERR),
    ],
    ids=["two questions", "no question", "not a query", "cut short"],
)
async def test_queries_that_cannot_be_answered(
    server: DnsServer, payload: bytes, rcode: dns.rcode.Rcode
) -> None:
    reply = await datagram(server, payload)
    assert reply is not None
    ident, flags = struct.unpack_from("!2H", reply)
    assert ident == 7 and flags & 0x8000 and flags & 0xF == rcode
    assert server.stats[dns.rcode.to_text(rcode)] == 1


async def test_an_edns_version_past_0_is_badvers(server: DnsServer) -> None:
    reply = await udp(server, dns.message.make_query(f"web.{ZONE}", "A", use_edns=1))
    assert reply.rcode() == dns.rcode.BADVERS and reply.answer == []


async def test_garbage_does_not_stop_the_server(server: DnsServer) -> None:
    header = struct.pack("!6H", 0xBEEF, 0x0100, 1, 0, 0, 0)
    formerr = await datagram(server, header + b"\x07garbage")
    assert formerr is not None and formerr[:2] == b"\xbe\xef" and formerr[3] & 0xF == 1
    for junk in (b"\x00", header[:11], struct.pack("!6H", 1, 0x8000, 0, 0, 0, 0)):
        await datagram(server, junk, answered=False)
    await until(lambda: server.stats.get("dropped", 0) >= 3, "three datagrams dropped")
    assert addresses(await udp(server, make(f"web.{ZONE}"))) == NYC


async def test_the_65th_tcp_connection_is_closed_while_the_first_still_works(
    server: DnsServer,
) -> None:
    conversations = [
        await asyncio.open_connection(HOST, server.port) for _ in range(TCP_CONNECTIONS_MAX)
    ]
    try:
        for reader, writer in conversations:
            assert addresses(await framed(reader, writer, make(f"web.{ZONE}"))) == NYC
        reader, writer = await asyncio.open_connection(HOST, server.port)
        async with asyncio.timeout(TIMEOUT):
            assert await reader.read() == b""
        writer.close()
        first = conversations[0]
        assert addresses(await framed(*first, make(f"web.{ZONE}"))) == NYC
    finally:
        for _, writer in conversations:
            writer.close()


async def test_a_tcp_query_over_4096_bytes_closes_the_connection(server: DnsServer) -> None:
    reader, writer = await asyncio.open_connection(HOST, server.port)
    writer.write(struct.pack("!H", 4097) + bytes(4097))
    async with asyncio.timeout(TIMEOUT):
        assert await reader.read() == b""
    writer.close()


async def test_an_idle_tcp_connection_is_closed(
    server: DnsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(traffic_server, "IDLE_SECONDS", 0.2)
    reader, writer = await asyncio.open_connection(HOST, server.port)
    assert addresses(await framed(reader, writer, make(f"web.{ZONE}"))) == NYC
    async with asyncio.timeout(TIMEOUT):
        assert await reader.read() == b""
    writer.close()


async def framed(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, query: dns.message.Message
) -> dns.message.Message:
    wire = query.to_wire()
    writer.write(struct.pack("!H", len(wire)) + wire)
    async with asyncio.timeout(TIMEOUT):
        size = struct.unpack("!H", await reader.readexactly(2))[0]
        return dns.message.from_wire(await reader.readexactly(size))


class _Client(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.replies: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.replies.put_nowait(data)


async def datagram(server: DnsServer, payload: bytes, *, answered: bool = True) -> bytes | None:
    """Send raw bytes; the reply when one is expected."""
    loop = asyncio.get_running_loop()
    transport, client = await loop.create_datagram_endpoint(
        _Client, remote_addr=(HOST, server.port)
    )
    try:
        transport.sendto(payload)
        if not answered:
            return None
        async with asyncio.timeout(TIMEOUT):
            return await client.replies.get()
    finally:
        transport.close()


async def until(check: Any, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TIMEOUT
    while not check():
        assert loop.time() < deadline, f"gave up waiting for {what}"
        await asyncio.sleep(0.01)
