"""The authoritative DNS server: UDP and TCP on one port, asyncio, answers from memory.

``DnsServer`` binds UDP, then TCP on the port UDP got, and hands every query to a
``responder.Responder``, which holds the zone's logic. Here are only the transports and
their bounds: UDP queries over 4096 bytes are dropped; TCP carries length-framed
queries, several per connection, at most 64 connections at once (more are closed on
arrival), each closed after 10 s idle or on a query over 4096 bytes.

Neighbours: the hub's ``edgeplane dns`` and the agent's local DNS start it with a
``Callable[[], Table]`` (called for every query, so it answers from whatever table is
current) and a ``locality.Locality``.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import logging
import random
from collections.abc import Callable, Mapping
from typing import Any, cast

from edgeplane.traffic.locality import Address, Locality
from edgeplane.traffic.responder import QUERY_BYTES_MAX, Responder
from edgeplane.traffic.table import Table

log = logging.getLogger("edgeplane.traffic.server")

TCP_CONNECTIONS_MAX = 64
IDLE_SECONDS = 10.0
BIND_ATTEMPTS = 8
"""Tries at a free port for both protocols (port 0: UDP's may be taken for TCP)."""
NO_PLACES = Locality(())


class DnsServer:
    """Answers ``<app>.<zone>`` and its SRV and site names from ``table()``."""

    def __init__(
        self,
        zone: str,
        table: Callable[[], Table],
        *,
        locality: Locality = NO_PLACES,
        ttl: int = 5,
        host: str = "127.0.0.1",
        port: int = 0,
        limit: int = 8,
        rng: random.Random | None = None,
        local_site: str | None = None,
    ) -> None:
        self._responder = Responder(
            zone, table, locality=locality, ttl=ttl, nameserver=host, limit=limit,
            rng=rng or random.Random(), local_site=local_site,
        )  # fmt: skip
        self._host, self._wanted_port, self._port = host, port, 0
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None
        self._connections: dict[asyncio.Task[Any], asyncio.StreamWriter] = {}

    @property
    def port(self) -> int:
        """The port bound for both UDP and TCP (0 before ``start``)."""
        return self._port

    @property
    def stats(self) -> Mapping[str, int]:
        """Replies by rcode (``NOERROR``, ``NXDOMAIN``, ``REFUSED``, ``FORMERR``, ...),
        ``dropped`` (queries not answered at all) and ``refused connections`` (TCP
        connections past the bound)."""
        return dict(self._responder.stats)

    async def start(self) -> None:
        for attempt in range(1, BIND_ATTEMPTS + 1):
            udp, port = await self._bind_udp(self._wanted_port)
            try:
                self._tcp = await asyncio.start_server(self._serve, self._host, port)
            except OSError as e:
                udp.close()
                if e.errno != errno.EADDRINUSE or self._wanted_port or attempt == BIND_ATTEMPTS:
                    raise
                continue
            self._udp, self._port = udp, port
            return

    async def close(self) -> None:
        if self._udp is not None:
            self._udp.close()
        if self._tcp is not None:
            self._tcp.close()
        # Closing a connection ends its conversation with an IncompleteReadError: no
        # cancelling, which Python 3.11's streams log as an error.
        for writer in self._connections.values():
            writer.close()
        await asyncio.gather(*self._connections, return_exceptions=True)
        if self._tcp is not None:
            await self._tcp.wait_closed()
        self._udp = self._tcp = None

    async def _bind_udp(self, port: int) -> tuple[asyncio.DatagramTransport, int]:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Datagrams(self._responder), local_addr=(self._host, port)
        )
        return transport, int(transport.get_extra_info("sockname")[1])

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is None or len(self._connections) >= TCP_CONNECTIONS_MAX:
            self._responder.stats["refused connections"] += 1
            writer.close()
            return
        self._connections[task] = writer
        try:
            await self._converse(reader, writer, _peer(writer.get_extra_info("peername")))
        except (OSError, TimeoutError, asyncio.IncompleteReadError) as e:
            log.debug("DNS over TCP ended: %r", e)
        finally:
            del self._connections[task]
            writer.close()

    async def _converse(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: Address | None
    ) -> None:
        """Length-framed queries until the client closes, idles or oversteps."""
        while True:
            async with asyncio.timeout(IDLE_SECONDS):
                size = int.from_bytes(await reader.readexactly(2), "big")
                if size > QUERY_BYTES_MAX:
                    self._responder.stats["dropped"] += 1
                    return
                query = await reader.readexactly(size)
            reply = self._responder.respond(query, peer, tcp=True)
            if reply is not None:
                writer.write(len(reply).to_bytes(2, "big") + reply)
                async with asyncio.timeout(IDLE_SECONDS):
                    await writer.drain()


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, responder: Responder) -> None:
        self._responder = responder
        self._transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        if len(data) > QUERY_BYTES_MAX:
            self._responder.stats["dropped"] += 1
            return
        reply = self._responder.respond(data, _peer(addr), tcp=False)
        if reply is not None and self._transport is not None:
            try:
                self._transport.sendto(reply, addr)
            except OSError as e:  # the client's address is unreachable: its loss
                log.debug("cannot answer %s: %r", addr, e)

    def error_received(self, exc: Exception) -> None:
        log.debug("DNS over UDP: %r", exc)


def _peer(name: object) -> Address | None:
    """The address of a socket's peer (``(host, port, ...)``); None when unknown."""
    if not isinstance(name, tuple) or not name or not isinstance(name[0], str):
        return None
    try:
        return ipaddress.ip_address(name[0].split("%", 1)[0])
    except ValueError:
        return None
