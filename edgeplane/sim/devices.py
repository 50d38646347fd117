"""Device simulators, for the demo and for tests whose agent is a process of its own.

``python -m edgeplane.sim.devices modbus PORT`` serves a Modbus TCP PLC on
127.0.0.1:PORT that identifies itself (MEI 0x2B/0x0E: vendor ``Acme Automation``, model
``AC-100/R``) and holds ``REGISTER_VALUE`` in holding registers 0-15.
``python -m tests.support.devicesim opcua PORT`` serves an OPC UA server there (build
info: manufacturer ``Acme Automation``, product ``Acme OPC PLC``) with the variable
``ns=2;s=Temperature`` = 21.5. Each runs until SIGTERM, on loopback only.
"""

from __future__ import annotations

import asyncio
import signal
import sys

REGISTER_VALUE = 4242
VENDOR = "Acme Automation"
OPCUA_URI = "urn:edgeplane:test:acme-opc-plc"


async def _modbus(port: int, stop: asyncio.Event) -> None:
    from pymodbus.pdu.device import ModbusDeviceIdentification
    from pymodbus.server import ModbusTcpServer
    from pymodbus.simulator import DataType, SimData, SimDevice

    identity = {
        "VendorName": VENDOR,
        "ProductCode": "AC-100",
        "MajorMinorRevision": "2.4",
        "ProductName": "Acme PLC",
        "ModelName": "AC-100/R",
    }
    registers = SimData(address=0, count=16, values=REGISTER_VALUE, datatype=DataType.REGISTERS)
    server = ModbusTcpServer(
        SimDevice(id=1, simdata=[registers]),
        address=("127.0.0.1", port),
        identity=ModbusDeviceIdentification(info_name=identity),  # type: ignore[no-untyped-call]
    )
    await server.serve_forever(background=True)
    await stop.wait()
    await server.shutdown()  # type: ignore[no-untyped-call]


async def _opcua(port: int, stop: asyncio.Event) -> None:
    from asyncua import ua
    from asyncua.server.server import Server

    server = Server()
    await server.init()
    server.set_endpoint(f"opc.tcp://127.0.0.1:{port}/")
    await server.set_application_uri(OPCUA_URI)
    server.set_server_name("Acme OPC PLC")
    await server.set_build_info(
        "urn:acme:opc-plc", VENDOR, "Acme OPC PLC", "1.2.3", "42", ua.DateTime.now()
    )
    namespace = await server.register_namespace("urn:acme")
    objects = server.nodes.objects
    await objects.add_variable(f"ns={namespace};s=Temperature", "Temperature", 21.5)
    async with server:
        await stop.wait()


def main() -> None:
    kind, port = sys.argv[1], int(sys.argv[2])

    async def run() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await (_modbus if kind == "modbus" else _opcua)(port, stop)

    asyncio.run(run())


if __name__ == "__main__":
    main()
