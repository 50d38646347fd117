"""A fake ONVIF camera on 127.0.0.1: a WS-Discovery responder (UDP) and a device
service (HTTP/1.1 over asyncio streams with h11) that answers GetDeviceInformation.

``Responder`` (on a port of its own, or in the multicast group) answers each Probe
with the ``noise`` datagrams it was given (garbage, oversized, a DTD, a match for
another probe), then, unless told not to, a ProbeMatches relating to the probe's
MessageID whose XAddrs point at the device service.
``DeviceService`` answers GetDeviceInformation with ``Camera``'s identity, or with a
NotAuthorized fault when ``Camera.refuse``, and any other operation with a fault; it
keeps the operations asked (and whether they carried WS-Security) for the test to read.
Neighbours: ``ports``, ``waiting``; the handler under test is ``agent.discovery.onvif``.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from xml.etree import ElementTree
from xml.sax.saxutils import escape

import h11

HOST = "127.0.0.1"
SOAP = "http://www.w3.org/2003/05/soap-envelope"
DISCOVERY = "http://schemas.xmlsoap.org/ws/2005/04/discovery"
ADDRESSING = "http://schemas.xmlsoap.org/ws/2004/08/addressing"


@dataclass(frozen=True)
class Camera:
    endpoint: str = "urn:uuid:6f1e0a52-0c5e-4f4e-9a57-3c3b0c1d2e01"
    manufacturer: str = "Acme Optics"
    model: str = "AC-2000"
    serial: str = "SN-0042"
    firmware: str = "1.2.3"
    hardware_id: str = "HW-7"
    scopes: tuple[str, ...] = (
        "onvif://www.onvif.org/type/video_encoder",
        "onvif://www.onvif.org/name/Lobby%20Cam",
        "onvif://www.onvif.org/hardware/AC-2000-scope",
        "onvif://www.onvif.org/location/building/7",
    )
    refuse: bool = False
    """Answer GetDeviceInformation with a NotAuthorized fault, as a camera without
    anonymous access does."""


def probe_matches(camera: Camera, xaddr: str, relates_to: str) -> bytes:
    """A ProbeMatches for ``camera`` answering the probe ``relates_to``."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<s:Envelope xmlns:s="{SOAP}" xmlns:a="{ADDRESSING}" xmlns:d="{DISCOVERY}"
 xmlns:dn="http://www.onvif.org/ver10/network/wsdl">
<s:Header>
<a:MessageID>urn:uuid:00000000-0000-4000-8000-000000000001</a:MessageID>
<a:RelatesTo>{escape(relates_to)}</a:RelatesTo>
<a:To>{ADDRESSING}/role/anonymous</a:To>
<a:Action>{DISCOVERY}/ProbeMatches</a:Action>
</s:Header>
<s:Body><d:ProbeMatches><d:ProbeMatch>
<a:EndpointReference><a:Address>{escape(camera.endpoint)}</a:Address></a:EndpointReference>
<d:Types>dn:NetworkVideoTransmitter</d:Types>
<d:Scopes>{escape(" ".join(camera.scopes))}</d:Scopes>
<d:XAddrs>{escape(xaddr)}</d:XAddrs>
<d:MetadataVersion>1</d:MetadataVersion>
</d:ProbeMatch></d:ProbeMatches></s:Body>
</s:Envelope>""".encode()


def message_id(probe: bytes) -> str | None:
    """The MessageID of a Probe (the test's own handler sent it: parsed as trusted)."""
    try:
        root = ElementTree.fromstring(probe)
    except ElementTree.ParseError:
        return None
    found = root.find(f"{{{SOAP}}}Header/{{{ADDRESSING}}}MessageID")
    return None if found is None else (found.text or "").strip()


class Responder(asyncio.DatagramProtocol):
    """Answers Probes on ``HOST:port`` (``start``), until ``close``."""

    def __init__(
        self, camera: Camera, xaddr: str, noise: Sequence[bytes] = (), answer: bool = True
    ):
        self.camera, self.xaddr, self.noise, self.answer = camera, xaddr, noise, answer
        self.probes: list[str] = []
        self.transport: asyncio.DatagramTransport | None = None

    async def start(self) -> int:
        """Listen on a free port of ``HOST``; returns it."""
        loop = asyncio.get_running_loop()
        self.transport, _ = await loop.create_datagram_endpoint(lambda: self, local_addr=(HOST, 0))
        return int(self.transport.get_extra_info("sockname")[1])

    async def join(self, group: str, port: int) -> None:
        """Listen to multicast ``group:port`` on ``HOST``'s interface instead, as a
        camera does; only inside a network namespace of the test's own."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((group, port))
        membership = socket.inet_aton(group) + socket.inet_aton(HOST)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, membership)
        loop = asyncio.get_running_loop()
        self.transport, _ = await loop.create_datagram_endpoint(lambda: self, sock=sock)

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        relates_to = message_id(data)
        if relates_to is None or self.transport is None:
            return
        self.probes.append(relates_to)
        for datagram in self.noise:
            self.transport.sendto(datagram, addr)
        if self.answer:
            self.transport.sendto(probe_matches(self.camera, self.xaddr, relates_to), addr)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


@dataclass
class Asked:
    operation: str
    secured: bool
    """Whether the request carried a WS-Security header."""


@dataclass
class DeviceService:
    """The camera's device service at ``http://HOST:port/onvif/device_service``."""

    camera: Camera
    asked: list[Asked] = field(default_factory=list)
    _server: asyncio.Server | None = None
    _connections: set[asyncio.Task[None]] = field(default_factory=set)

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._connection, HOST, 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        connection = h11.Connection(h11.SERVER)
        try:
            while (body := await _request(connection, reader)) is not None:
                status, answer = self._answer(body)
                writer.write(_response(connection, status, answer))
                await writer.drain()
                if connection.our_state is not h11.DONE or connection.their_state is not h11.DONE:
                    break
                connection.start_next_cycle()
        except (h11.ProtocolError, ConnectionError):
            pass
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    def _answer(self, body: bytes) -> tuple[int, bytes]:
        root = ElementTree.fromstring(body)
        secured = any(e.tag.endswith("}Security") for e in root.iter())
        body_element = root.find(f"{{{SOAP}}}Body")
        operation = None if body_element is None else next(iter(body_element), None)
        name = "" if operation is None else operation.tag.rpartition("}")[2]
        self.asked.append(Asked(name, secured))
        if name != "GetDeviceInformation":
            return 400, _fault("ter:ActionNotSupported", f"{name} is not simulated")
        if self.camera.refuse and not secured:
            return 400, _fault("ter:NotAuthorized", "Sender not Authorized")
        return 200, _device_information(self.camera)


async def _request(connection: h11.Connection, reader: asyncio.StreamReader) -> bytes | None:
    """The body of the next request; None when the client closed."""
    body = b""
    while True:
        event = connection.next_event()
        if event is h11.NEED_DATA:
            connection.receive_data(await reader.read(65536))
        elif isinstance(event, h11.Data):
            body += bytes(event.data)
        elif isinstance(event, h11.EndOfMessage):
            return body
        elif isinstance(event, h11.ConnectionClosed):
            return None


def _response(connection: h11.Connection, status: int, body: bytes) -> bytes:
    headers = [
        ("content-type", "application/soap+xml; charset=utf-8"),
        ("content-length", str(len(body))),
    ]
    return b"".join(
        connection.send(event) or b""
        for event in (
            h11.Response(status_code=status, headers=headers),
            h11.Data(data=body),
            h11.EndOfMessage(),
        )
    )


def _envelope(body: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<s:Envelope xmlns:s="{SOAP}" '
        'xmlns:tds="http://www.onvif.org/ver10/device/wsdl" '
        f'xmlns:ter="http://www.onvif.org/ver10/error"><s:Body>{body}</s:Body></s:Envelope>'
    ).encode()


def _device_information(camera: Camera) -> bytes:
    fields = {
        "Manufacturer": camera.manufacturer,
        "Model": camera.model,
        "FirmwareVersion": camera.firmware,
        "SerialNumber": camera.serial,
        "HardwareId": camera.hardware_id,
    }
    inner = "".join(f"<tds:{k}>{escape(v)}</tds:{k}>" for k, v in fields.items())
    return _envelope(
        f"<tds:GetDeviceInformationResponse>{inner}</tds:GetDeviceInformationResponse>"
    )


def _fault(subcode: str, reason: str) -> bytes:
    return _envelope(
        "<s:Fault><s:Code><s:Value>s:Sender</s:Value>"
        f"<s:Subcode><s:Value>{subcode}</s:Value></s:Subcode></s:Code>"
        f'<s:Reason><s:Text xml:lang="en">{escape(reason)}</s:Text></s:Reason></s:Fault>'
    )
