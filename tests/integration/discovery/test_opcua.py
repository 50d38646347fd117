"""OPC UA discovery against a real asyncua server on loopback.

The server has its own application URI, BuildInfo and one variable
(``ns=2;s=Temperature``); besides it, a listener that accepts and never answers (a hung
server) and a port where nothing listens.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime

import pytest
from asyncua import ua
from asyncua.client.client import Client
from asyncua.server.server import Server

from edgeplane.agent.discovery.base import Found
from edgeplane.agent.discovery.opcua import handler
from edgeplane.api.discovery import OpcuaDiscovery
from tests.support.ports import free_port
from tests.support.waiting import wait_until_async

APPLICATION_URI = "urn:acme:plc:line3"
TEMPERATURE = "ns=2;s=Temperature"

StartServer = Callable[[int], Awaitable[Server]]


@pytest.fixture
async def start_server() -> AsyncIterator[StartServer]:
    servers: list[Server] = []

    async def start(port: int) -> Server:
        server = Server()
        await server.init()
        server.set_endpoint(f"opc.tcp://127.0.0.1:{port}/")
        server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        server.set_server_name("Line 3 PLC")
        server.product_uri = "urn:acme:ac-900"
        await server.set_application_uri(APPLICATION_URI)
        await server.set_build_info(
            product_uri="urn:acme:ac-900",
            manufacturer_name="Acme Automation",
            product_name="AC-900",
            software_version="4.2.1",
            build_number="1234",
            build_date=datetime(2024, 5, 1, tzinfo=UTC),
        )
        namespace = await server.register_namespace("urn:acme:plc:line3:process")
        assert namespace == 2  # the node id the profile browses
        await server.nodes.objects.add_variable(
            ua.NodeId(ua.String("Temperature"), ua.Int16(namespace)), "Temperature", 21.5
        )
        await server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.stop()


def profile(*endpoints: str) -> OpcuaDiscovery:
    return OpcuaDiscovery.model_validate({"endpoints": list(endpoints), "browse": [TEMPERATURE]})


async def scan_once(params: OpcuaDiscovery) -> list[Found]:
    scanner = handler(params)
    try:
        return await scanner.scan()
    finally:
        await scanner.close()


async def test_server_is_found_with_its_build_info_and_nodes(start_server: StartServer) -> None:
    port = free_port()
    endpoint = f"opc.tcp://127.0.0.1:{port}/"
    await start_server(port)
    scanner = handler(profile(endpoint))

    found = await scanner.scan()

    assert len(found) == 1
    server = found[0]
    assert (server.identity, server.protocol, server.address) == (
        f"opcua:{APPLICATION_URI}",
        "opcua",
        endpoint,
    )
    assert (server.device_class, server.vendor, server.model) == (
        "plc",
        "Acme Automation",
        "AC-900",
    )
    assert server.attributes == {
        "applicationName": "Line 3 PLC",
        "productUri": "urn:acme:ac-900",
        "endpoint": endpoint,
        "softwareVersion": "4.2.1",
        "buildNumber": "1234",
        f"node:{TEMPERATURE}": "21.5",
        f"name:{TEMPERATURE}": "Temperature",
    }
    again = await scanner.scan()
    assert [f.identity for f in again] == [server.identity]
    await scanner.close()


async def test_stopped_server_is_no_longer_found(start_server: StartServer) -> None:
    port = free_port()
    server = await start_server(port)
    scanner = handler(profile(f"opc.tcp://127.0.0.1:{port}/"))
    assert len(await scanner.scan()) == 1

    await server.stop()

    assert await scanner.scan() == []
    await scanner.close()


async def test_nothing_listening_finds_nothing() -> None:
    assert await scan_once(profile(f"opc.tcp://127.0.0.1:{free_port()}/")) == []


async def test_hung_server_finds_nothing_and_other_endpoints_still_answer(
    start_server: StartServer,
) -> None:
    """A peer that accepts and never answers costs its endpoint a request timeout;
    the scan gives up on it, hangs up, and reports the endpoints that did answer."""
    accepted, hung_up = [], []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)
        await reader.read()  # swallow the hello until the scanner hangs up
        hung_up.append(writer)
        writer.close()

    listener = await asyncio.start_server(silent, "127.0.0.1", 0)
    hung = f"opc.tcp://127.0.0.1:{listener.sockets[0].getsockname()[1]}/"
    port = free_port()
    await start_server(port)
    try:
        found = await scan_once(profile(hung, f"opc.tcp://127.0.0.1:{port}/"))
        assert [f.identity for f in found] == [f"opcua:{APPLICATION_URI}"]
        assert len(accepted) == 1
        await wait_until_async(lambda: len(hung_up) == 1, "the scanner to close its connection")
    finally:
        listener.close()
        await listener.wait_closed()


async def test_an_endpoint_failing_otherwise_costs_only_itself(
    start_server: StartServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure SERVER_ERRORS does not name (asyncio.IncompleteReadError, as asyncua
    may raise when a peer hangs up mid-answer) loses that endpoint, not the scan."""
    odd, port = free_port(), free_port()
    await start_server(port)
    find_servers = Client.connect_and_find_servers

    async def cut_short(self: Client) -> list[ua.ApplicationDescription]:
        if self.server_url.port == odd:
            raise asyncio.IncompleteReadError(b"\x00", 8)
        return await find_servers(self)

    monkeypatch.setattr(Client, "connect_and_find_servers", cut_short)

    found = await scan_once(profile(f"opc.tcp://127.0.0.1:{odd}/", f"opc.tcp://127.0.0.1:{port}/"))

    assert [(f.identity, f.vendor) for f in found] == [
        (f"opcua:{APPLICATION_URI}", "Acme Automation")
    ]


async def test_a_server_whose_session_fails_otherwise_is_reported_from_find_servers(
    start_server: StartServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    await start_server(port)

    async def hang_up(self: Client, **options: object) -> None:
        raise EOFError("the server hung up mid-session")

    monkeypatch.setattr(Client, "connect", hang_up)

    found = await scan_once(profile(f"opc.tcp://127.0.0.1:{port}/"))

    assert [(f.identity, f.vendor, f.model) for f in found] == [
        (f"opcua:{APPLICATION_URI}", "", "")
    ]
