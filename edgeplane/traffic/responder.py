"""One DNS query in, one reply out: the zone's names, EDNS and client subnets.

Names under the zone (case-insensitive): the apex (SOA, NS ``ns.<zone>``), ``ns.<zone>``
(the server's own address), ``<app>.<zone>`` (A, AAAA: the client's best healthy
endpoints), ``<site>.<app>.<zone>`` (that site's) and ``_<port>._tcp.<app>.<zone>``
(SRV over every tier, naming ``<site>.<app>.<zone>`` with its addresses as additional
records). An application whose name has dots wins over a site of a shorter one. The
client is placed by its EDNS Client Subnet (RFC 7871) when it sends a valid one, else by
its address. The ``Responder`` never raises: a packet it cannot read is answered
FORMERR when its header can be read, and dropped otherwise.

Neighbours: ``answers`` chooses the targets, ``locality`` places the client, ``server``
carries the bytes, ``edns`` reads the OPT record. dnslib parses and packs; its types
stop at these modules.
"""

from __future__ import annotations

import enum
import ipaddress
import logging
import random
import struct
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from dnslib import AAAA, CLASS, EDNS0, NS, QTYPE, RR, SOA, SRV, A, DNSHeader, DNSLabel, DNSRecord
from dnslib import EDNSOption as Option

from edgeplane.traffic.answers import Ranked, choose, rank, srv_records
from edgeplane.traffic.edns import CLIENT_SUBNET, UDP_PAYLOAD_MAX, UDP_PAYLOAD_MIN, Edns, edns_of
from edgeplane.traffic.locality import Address, Locality, Network, Place
from edgeplane.traffic.table import Table, Target

log = logging.getLogger("edgeplane.traffic.responder")

QUERY_BYTES_MAX = 4096
HEADER_BYTES = 12
TCP_MESSAGE_MAX = 65535
SRV_LIMIT = 32
RANKINGS_MAX = 4096
"""Rankings kept for the current table (by application, site, family and place)."""
TTL_MAX = 2**31 - 1
SOA_TIMING = (60, 30, 3600)
"""Refresh, retry, expire: secondaries are not expected; the values are only sane."""
QR, RD = 0x8000, 0x0100
OPCODE_MASK, QUERY = 0x7800, 0
DROPPED = "dropped"


class Rcode(enum.IntEnum):
    NOERROR = 0
    FORMERR = 1
    SERVFAIL = 2
    NXDOMAIN = 3
    NOTIMP = 4
    REFUSED = 5
    BADVERS = 16


@dataclass(frozen=True)
class Reply:
    """A reply's sections before packing (dnslib ``RR``s)."""

    rcode: Rcode
    answer: tuple[RR, ...] = ()
    authority: tuple[RR, ...] = ()
    additional: tuple[RR, ...] = ()


class Responder:
    """Answers queries for one zone from the table ``table()`` returns at the time."""

    def __init__(
        self,
        zone: str,
        table: Callable[[], Table],
        *,
        locality: Locality,
        ttl: int,
        nameserver: str,
        limit: int,
        rng: random.Random,
        local_site: str | None = None,
    ) -> None:
        if not 0 <= ttl <= TTL_MAX:
            raise ValueError(f"ttl: {ttl} is out of range: give seconds from 0 to {TTL_MAX}")
        if limit < 1:
            raise ValueError(f"limit: {limit} answers is too few: give 1 or more")
        self._zone = zone_name(zone)
        self._labels = tuple(label.encode() for label in self._zone.split("."))
        self._table, self._locality, self._local_site = table, locality, local_site
        self._ttl, self._limit, self._rng = ttl, limit, rng
        self._nameserver = _address(nameserver)
        self._seen: Table | None = None
        self._serial = 0
        self._regions: dict[str, str] = {}
        self._rankings: dict[tuple[object, ...], list[Ranked]] = {}
        self.stats: Counter[str] = Counter()

    def respond(self, packet: bytes, peer: Address | None, *, tcp: bool) -> bytes | None:
        """The reply to ``packet`` from ``peer``, or None to send nothing."""
        try:
            return self._respond(packet, peer, tcp)
        except Exception:  # a bug must cost one query, not the server
            log.debug("query from %s failed", peer, exc_info=True)
            return self._bare(packet, Rcode.SERVFAIL)

    def _respond(self, packet: bytes, peer: Address | None, tcp: bool) -> bytes | None:
        if not HEADER_BYTES <= len(packet) <= QUERY_BYTES_MAX:
            self.stats[DROPPED] += 1
            return None
        flags = struct.unpack_from("!H", packet, 2)[0]
        if flags & QR:  # a response: answering it could start a loop
            self.stats[DROPPED] += 1
            return None
        if flags & OPCODE_MASK != QUERY:
            return self._bare(packet, Rcode.NOTIMP)
        try:
            query = DNSRecord.parse(packet)
        except Exception:
            log.debug("unreadable query from %s", peer, exc_info=True)
            return self._bare(packet, Rcode.FORMERR)
        opts = [rr for rr in query.ar if rr.rtype == QTYPE.OPT]
        if len(query.questions) != 1 or len(opts) > 1:
            return self._bare(packet, Rcode.FORMERR)
        edns = edns_of(opts[0]) if opts else None
        if edns is not None and edns.version != 0:
            reply = Reply(Rcode.BADVERS)
        else:
            client = edns.subnet if edns is not None and edns.subnet is not None else peer
            reply = self._answer(query.questions[0], client)
        return self._packed(query, reply, edns, tcp)

    def _bare(self, packet: bytes, rcode: Rcode) -> bytes | None:
        """A header-only reply (the query could not be read, or not be answered)."""
        if len(packet) < HEADER_BYTES:
            self.stats[DROPPED] += 1
            return None
        ident, flags = struct.unpack_from("!HH", packet)
        self.stats[rcode.name] += 1
        return struct.pack("!6H", ident, QR | (flags & (OPCODE_MASK | RD)) | rcode, 0, 0, 0, 0)

    def _packed(self, query: Any, reply: Reply, edns: Edns | None, tcp: bool) -> bytes:
        """The packed reply; over the client's size, without additional records, then
        truncated (TC, no records: the client asks again over TCP)."""
        size = TCP_MESSAGE_MAX if tcp else edns.payload if edns is not None else UDP_PAYLOAD_MIN
        self.stats[reply.rcode.name] += 1
        for sections in (reply, Reply(reply.rcode, reply.answer, reply.authority)):
            data: bytes = _message(query, sections, edns, truncated=False).pack()
            if len(data) <= size:
                return data
        return bytes(_message(query, Reply(reply.rcode), edns, truncated=True).pack())

    def _answer(self, question: Any, client: Address | Network | None) -> Reply:
        relative = self._relative(question.qname)
        if question.qclass != CLASS.IN or relative is None:
            return Reply(Rcode.REFUSED)
        table = self._current()
        qtype = QTYPE.A if question.qtype == QTYPE.ANY else int(question.qtype)
        name = question.qname
        if not relative:
            return self._apex(name, qtype)
        if relative == (b"ns",):
            return self._positive(name, self._nameserver_records(name, qtype))
        return self._named(name, qtype, relative, table, client)

    def _named(
        self, name: Any, qtype: int, relative: tuple[bytes, ...], table: Table,
        client: Address | Network | None,
    ) -> Reply:  # fmt: skip
        if len(relative) >= 3 and relative[0].startswith(b"_") and relative[1] == b"_tcp":
            app = _joined(relative[2:])
            if app in table.targets:
                port = _text(relative[0])[1:]
                return self._service(name, qtype, app, port, table, self._place(client))
        app = _joined(relative)
        if app in table.targets:
            place = self._place(client)
            return self._positive(name, self._addresses(name, qtype, app, None, place, table))
        app, site = _joined(relative[1:]), _text(relative[0])
        if any(t.site.lower() == site for t in table.of(app)):
            return self._positive(name, self._site_records(name, qtype, app, site, table))
        return self._negative(Rcode.NXDOMAIN)

    def _apex(self, name: Any, qtype: int) -> Reply:
        if qtype == QTYPE.SOA:
            return Reply(Rcode.NOERROR, (self._soa(),))
        if qtype == QTYPE.NS:
            nameserver = DNSLabel(f"ns.{self._zone}")
            record = RR(name, QTYPE.NS, ttl=self._ttl, rdata=NS(nameserver))
            glue = self._nameserver_records(nameserver, QTYPE.ANY)
            return Reply(Rcode.NOERROR, (record,), additional=tuple(glue))
        return self._negative(Rcode.NOERROR)

    def _nameserver_records(self, name: Any, qtype: int) -> list[RR]:
        """The server's own address for ``ns.<zone>`` (ANY: whichever family it is)."""
        own = self._nameserver
        if own is None or qtype not in (QTYPE.ANY, _qtype(own.version)):
            return []
        return [self._address_record(name, own.compressed)]

    def _service(
        self, name: Any, qtype: int, app: str, port: str, table: Table, place: Place
    ) -> Reply:
        named = [t for t in table.of(app) if (t.port_name or "").lower() == port]
        if not named:
            return self._negative(Rcode.NXDOMAIN)
        if qtype != QTYPE.SRV:
            return self._negative(Rcode.NOERROR)
        # One record per site and port: a site's addresses are behind its one name, and
        # several of them (IPv4 and IPv6) are mostly the same replicas: the heaviest.
        merged: dict[tuple[str, int], tuple[int, int]] = {}
        for priority, weight, t in srv_records(named, place, limit=SRV_LIMIT):
            held = merged.get((t.site, t.port), (priority, 0))
            merged[(t.site, t.port)] = (held[0], max(held[1], weight))
        answer = [
            RR(name, QTYPE.SRV, ttl=self._ttl, rdata=SRV(p, w, port, self._site_name(site, app)))
            for (site, port), (p, w) in merged.items()
        ]
        sites = dict.fromkeys(site.lower() for site, _ in merged)
        additional = [
            record
            for site in sites
            for qtype_ in (QTYPE.A, QTYPE.AAAA)
            for record in self._site_records(self._site_name(site, app), qtype_, app, site, table)
        ]
        return self._positive(name, answer, additional)

    def _site_records(self, name: Any, qtype: int, app: str, site: str, table: Table) -> list[RR]:
        return self._addresses(name, qtype, app, site, Place(site=site), table)

    def _addresses(
        self, name: Any, qtype: int, app: str, site: str | None, place: Place, table: Table
    ) -> list[RR]:
        if qtype not in (QTYPE.A, QTYPE.AAAA):
            return []
        version = 4 if qtype == QTYPE.A else 6
        key = (app, site, version, place)
        ranked = self._rankings.get(key)
        if ranked is None:
            targets = _of(table.of(app), site, version)
            ranked = self._remember(key, rank(targets, place))
        chosen = choose(ranked, limit=self._limit, rng=self._rng)
        return [self._address_record(name, t.address) for t in chosen]

    def _remember(self, key: tuple[object, ...], ranked: list[Ranked]) -> list[Ranked]:
        if len(self._rankings) >= RANKINGS_MAX:
            self._rankings.clear()
        self._rankings[key] = ranked
        return ranked

    def _positive(self, name: Any, answer: Sequence[RR], additional: Iterable[RR] = ()) -> Reply:
        if not answer:
            return self._negative(Rcode.NOERROR)
        return Reply(Rcode.NOERROR, tuple(answer), additional=tuple(additional))

    def _negative(self, rcode: Rcode) -> Reply:
        """NXDOMAIN, or NODATA (NOERROR, nothing): the SOA says how long to remember."""
        return Reply(rcode, authority=(self._soa(),))

    def _soa(self) -> RR:
        times = (self._serial, *SOA_TIMING, self._ttl)
        soa = SOA(f"ns.{self._zone}", f"hostmaster.{self._zone}", times)
        return RR(self._zone, QTYPE.SOA, ttl=self._ttl, rdata=soa)

    def _address_record(self, name: Any, address: str) -> RR:
        packed = tuple(ipaddress.ip_address(address).packed)
        if len(packed) == 4:
            return RR(name, QTYPE.A, ttl=self._ttl, rdata=A(packed))
        return RR(name, QTYPE.AAAA, ttl=self._ttl, rdata=AAAA(packed))

    def _site_name(self, site: str, app: str) -> Any:
        return DNSLabel(f"{site}.{app}.{self._zone}")

    def _relative(self, qname: Any) -> tuple[bytes, ...] | None:
        """The labels of ``qname`` before the zone's, lowercase; None outside it."""
        labels = tuple(bytes(label).lower() for label in qname.label)
        inside = len(labels) - len(self._labels)
        if inside < 0 or labels[inside:] != self._labels:
            return None
        return labels[:inside]

    def _current(self) -> Table:
        """The table now; a new one bumps the SOA serial and forgets rankings."""
        table = self._table()
        if table is not self._seen:
            self._seen, self._serial = table, self._serial % 0xFFFFFFFF + 1
            self._rankings.clear()
            self._regions = _regions_of(table)
        return table

    def _place(self, client: Address | Network | None) -> Place:
        """Where the client is: the locality map's place when it names a site; else, at
        an agent answering for its own site (``local_site``), that site. A site without
        a region is in the one its targets are."""
        mapped = self._locality.place_of(client) if client is not None else Place()
        if mapped.site is not None:
            if mapped.region is not None:
                return mapped
            return replace(mapped, region=self._regions.get(mapped.site))
        if self._local_site is None:
            return mapped
        region = self._regions.get(self._local_site) or mapped.region
        return replace(mapped, site=self._local_site, region=region)


def zone_name(zone: str) -> str:
    """The zone lowercase without its trailing dot; ValueError when it is no name."""
    name = zone.strip().rstrip(".").lower()
    labels = name.split(".")
    if (
        not name
        or not name.isascii()
        or len(name) > 253
        or not all(0 < len(x) <= 63 for x in labels)
    ):
        raise ValueError(
            f"zone: {zone!r} is not a DNS name: give labels of 1 to 63 characters joined by "
            "dots, e.g. 'apps.example.com'"
        )
    return name


def _message(query: Any, reply: Reply, edns: Edns | None, *, truncated: bool) -> Any:
    authoritative = reply.rcode in (Rcode.NOERROR, Rcode.NXDOMAIN)
    header = DNSHeader(
        id=query.header.id, qr=1, aa=int(authoritative), tc=int(truncated),
        rd=query.header.rd, ra=0, rcode=reply.rcode & 0xF,
    )  # fmt: skip
    message = DNSRecord(header, questions=list(query.questions), rr=list(reply.answer))
    for record in reply.authority:
        message.add_auth(record)
    for record in reply.additional:
        message.add_ar(record)
    if edns is not None:
        options = [Option(CLIENT_SUBNET, edns.echo)] if edns.echo is not None else []
        message.add_ar(EDNS0(udp_len=UDP_PAYLOAD_MAX, ext_rcode=reply.rcode >> 4, opts=options))
    return message


def _of(targets: Iterable[Target], site: str | None, version: int) -> list[Target]:
    return [
        t
        for t in targets
        if (site is None or t.site.lower() == site) and (":" in t.address) == (version == 6)
    ]


def _regions_of(table: Table) -> dict[str, str]:
    """Each site's region, as far as its targets tell."""
    return {t.site: t.region for ts in table.targets.values() for t in ts if t.region}


def _address(host: str) -> Address | None:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    return None if address.is_unspecified else address


def _qtype(version: int) -> int:
    return int(QTYPE.A) if version == 4 else int(QTYPE.AAAA)


def _joined(labels: Sequence[bytes]) -> str:
    return ".".join(_text(label) for label in labels)


def _text(label: bytes) -> str:
    return label.decode("utf-8", "replace")
