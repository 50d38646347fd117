"""Modbus discovery against real Modbus TCP servers on loopback.

pymodbus's own server plays the devices: one that identifies itself (MEI 0x2B/0x0E),
one that refuses identification (a custom PDU answering "illegal function", as many
small devices do) and is found by its probe register only, a listener that accepts
and never answers, and a port where nothing listens.

Two things about pymodbus's server (3.16) shape the assertions: its identification is
one process-wide block (``ModbusControlBlock``), and it answers identification for
every unit id without looking at its devices, so both unit ids scanned are found
there. The register probe does consult the devices, so there only unit 1 answers.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from pymodbus.constants import ExcCodes
from pymodbus.exceptions import NoSuchIdException
from pymodbus.pdu import ExceptionResponse, ModbusPDU, ReadHoldingRegistersRequest
from pymodbus.pdu.device import ModbusDeviceIdentification
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from edgeplane.agent.discovery import modbus
from edgeplane.agent.discovery.base import Found
from edgeplane.agent.discovery.modbus import handler
from edgeplane.api.discovery import ModbusDiscovery
from tests.support.ports import free_port
from tests.support.waiting import wait_until_async

IDENTITY = {
    "VendorName": "Acme Automation",
    "ProductCode": "AC-100",
    "MajorMinorRevision": "2.4",
    "ProductName": "Acme PLC",
    "ModelName": "AC-100/R",
}
PROBE_REGISTER = 10


def identification() -> ModbusDeviceIdentification:
    # pymodbus leaves this constructor unannotated.
    return ModbusDeviceIdentification(info_name=IDENTITY)  # type: ignore[no-untyped-call]


class NoIdentification(ModbusPDU):
    """Function 0x2B on a device without MEI: every request gets "illegal function".

    Registered on the server's decoder in place of pymodbus's MEI handler; its
    sub-function code stays unset so the decoder does not swap pymodbus's back in."""

    function_code = 0x2B

    async def datastore_update(self, context: Any, device_id: int) -> ModbusPDU:
        return ExceptionResponse(self.function_code, ExcCodes.ILLEGAL_FUNCTION)


SILENT_UNITS = {2, 3, 4}


class GatewayIdentification(ModbusPDU):
    """MEI at a gateway with no identification of its own: absent units stay silent
    (``NoSuchIdException`` with ``ignore_missing_devices``), present ones refuse."""

    function_code = 0x2B

    async def datastore_update(self, context: Any, device_id: int) -> ModbusPDU:
        if device_id in SILENT_UNITS:
            raise NoSuchIdException(f"no unit {device_id} behind the gateway")
        return ExceptionResponse(self.function_code, ExcCodes.ILLEGAL_FUNCTION)


class GatewayRegisters(ReadHoldingRegistersRequest):
    """Holding registers at the same gateway: absent units stay silent."""

    async def datastore_update(self, context: Any, device_id: int) -> ModbusPDU:
        if device_id in SILENT_UNITS:
            raise NoSuchIdException(f"no unit {device_id} behind the gateway")
        return await super().datastore_update(context, device_id)


StartServer = Callable[..., Awaitable[ModbusTcpServer]]


@pytest.fixture
async def start_server() -> AsyncIterator[StartServer]:
    servers: list[ModbusTcpServer] = []

    async def start(port: int, unit: int = 1, **options: Any) -> ModbusTcpServer:
        registers = SimData(address=0, count=16, values=7, datatype=DataType.REGISTERS)
        device = SimDevice(id=unit, simdata=[registers])  # unit 0: every unit id
        server = ModbusTcpServer(device, address=("127.0.0.1", port), **options)
        await server.serve_forever(background=True)
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.shutdown()  # type: ignore[no-untyped-call]  # pymodbus leaves it unannotated


def profile(port: int, **fields: Any) -> ModbusDiscovery:
    spec = {"hosts": ["127.0.0.1"], "ports": [port], "unitIds": [1, 2], **fields}
    return ModbusDiscovery.model_validate(spec)


async def scan_once(params: ModbusDiscovery) -> list[Found]:
    scanner = handler(params)
    try:
        return await scanner.scan()
    finally:
        await scanner.close()


async def test_identifying_device_is_found_with_its_identification(
    start_server: StartServer,
) -> None:
    port = free_port()
    await start_server(port, identity=identification())
    scanner = handler(profile(port))

    found = await scanner.scan()

    assert [f.identity for f in found] == [
        f"modbus:127.0.0.1:{port}/1",
        f"modbus:127.0.0.1:{port}/2",
    ]
    first = found[0]
    assert first.protocol == "modbus"
    assert first.address == f"modbus://127.0.0.1:{port}?unit=1"
    assert (first.device_class, first.vendor, first.model) == ("plc", "Acme Automation", "AC-100/R")
    assert first.attributes == {
        "productCode": "AC-100",
        "revision": "2.4",
        "productName": "Acme PLC",
        "modelName": "AC-100/R",
        "unit": "1",
        "identifiedBy": "mei",
    }
    again = await scanner.scan()
    assert [f.identity for f in again] == [f.identity for f in found]
    await scanner.close()


async def test_stopped_device_is_no_longer_found(start_server: StartServer) -> None:
    port = free_port()
    server = await start_server(port, identity=identification())
    scanner = handler(profile(port))
    assert len(await scanner.scan()) == 2

    await server.shutdown()  # type: ignore[no-untyped-call]  # pymodbus leaves it unannotated

    assert await scanner.scan() == []
    await scanner.close()


async def test_device_without_identification_is_found_by_its_probe_register(
    start_server: StartServer,
) -> None:
    port = free_port()
    await start_server(port, custom_pdu=[NoIdentification])

    found = await scan_once(profile(port, probeRegister=PROBE_REGISTER))

    assert [(f.identity, f.vendor, f.model) for f in found] == [
        (f"modbus:127.0.0.1:{port}/1", "", "")
    ]
    assert found[0].attributes == {"unit": "1", "identifiedBy": "register"}


async def test_device_without_identification_or_probe_is_not_found(
    start_server: StartServer,
) -> None:
    port = free_port()
    await start_server(port, custom_pdu=[NoIdentification])

    assert await scan_once(profile(port)) == []


async def test_units_behind_silent_ones_are_still_asked(start_server: StartServer) -> None:
    """Six unanswered requests in a row (MEI and probe of units 2-4) would make
    pymodbus hang up by default; unit 5 behind them is still found."""
    port = free_port()
    await start_server(
        port,
        unit=0,
        custom_pdu=[GatewayIdentification, GatewayRegisters],
        ignore_missing_devices=True,
    )
    params = profile(
        port, unitIds=[1, 2, 3, 4, 5], probeRegister=PROBE_REGISTER, timeoutSeconds=0.2
    )

    found = await scan_once(params)

    assert [f.identity for f in found] == [
        f"modbus:127.0.0.1:{port}/1",
        f"modbus:127.0.0.1:{port}/5",
    ]


async def test_a_device_failing_otherwise_costs_only_its_own_target(
    start_server: StartServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure none of DEVICE_ERRORS names (an EOFError out of the client) loses
    that host:port, not the scan."""
    good, odd = free_port(), free_port()
    await start_server(good, identity=identification())
    await start_server(odd, identity=identification())
    identify = modbus._identify

    async def odd_at_one_port(client: Any, unit: int, probe_register: int | None) -> Any:
        if client.comm_params.port == odd:
            raise EOFError("the device hung up mid-answer")
        return await identify(client, unit, probe_register)

    monkeypatch.setattr(modbus, "_identify", odd_at_one_port)

    found = await scan_once(profile(odd, ports=[odd, good]))

    assert [f.identity for f in found] == [
        f"modbus:127.0.0.1:{good}/1",
        f"modbus:127.0.0.1:{good}/2",
    ]


async def test_nothing_listening_finds_nothing() -> None:
    assert await scan_once(profile(free_port(), probeRegister=PROBE_REGISTER)) == []


async def test_listener_that_never_answers_finds_nothing() -> None:
    """A TCP peer that accepts and stays silent costs each request its timeout, then
    the scan gives up on it and hangs up; it never holds the scan."""
    accepted, hung_up = [], []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)
        await reader.read()  # swallow requests until the scanner hangs up
        hung_up.append(writer)
        writer.close()

    listener = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    try:
        params = profile(port, probeRegister=PROBE_REGISTER, timeoutSeconds=0.2)
        assert await scan_once(params) == []
        assert len(accepted) == 1
        await wait_until_async(lambda: len(hung_up) == 1, "the scanner to close its connection")
    finally:
        listener.close()
        await listener.wait_closed()
