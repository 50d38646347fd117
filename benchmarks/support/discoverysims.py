"""The device simulators of ``benchmarks/discovery.py`` and the stage they run on.

``staged``: as root, a private network namespace (``tests.support.netns``) holds
everything (zeroconf binds 0.0.0.0:5353, which must not reach the host's network);
otherwise the host's loopback, without mDNS. On it: mosquitto, and one simulator
process (``python -m benchmarks.support.discoverysims N SERVERS mdns|-``) serving a
pymodbus PLC that identifies itself at every unit id, ``SERVERS`` asyncua servers, N
ONVIF cameras (a device service each) behind one WS-Discovery responder that answers a
probe with a ProbeMatches for each, and, in the namespace, N mDNS services. It prints
its ports as one JSON line once everything is up, and runs until SIGTERM.

Neighbours: ``discoveryfigures`` (what is simulated, and the identities it gives),
``discoveryrun`` (what is measured against it), ``tests.support`` (brokers, netns,
onvifsim).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from benchmarks.support.discoveryfigures import (
    HOST,
    MDNS_TYPE,
    Layout,
    camera_endpoint,
    mdns_instance,
    opcua_servers,
    opcua_uri,
)
from tests.support.brokers import Broker, BrokerUnavailable, find_binary
from tests.support.netns import NetnsUnavailable, private_namespace, run_inside
from tests.support.onvifsim import Camera, DeviceService, Responder, message_id, probe_matches
from tests.support.ports import free_port
from tests.support.toxiproxy import stop_process

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[2]
SIMULATORS_READY_SECONDS = 120.0
MDNS_RESPONDER = "127.0.0.2"
"""Where the simulated services answer from. A querier's first question asks for a
unicast answer to its port 5353: were both on 127.0.0.1:5353 (SO_REUSEPORT), the kernel
could hand that answer to the responder's own socket, and the handler would hear only
its next question's multicast answer, a second later. Hosts apart, that cannot happen."""


# -- the stage ---------------------------------------------------------------------


@dataclass
class Stage:
    layout: Layout
    space: str | None
    """The network namespace everything runs in; None: the host's loopback."""
    skipped: dict[str, str] = field(default_factory=dict)
    """Protocols without a simulator, and why."""

    def wrap(self, argv: list[str]) -> list[str]:
        return argv if self.space is None else ["ip", "netns", "exec", self.space, *argv]

    def inside(self, make: Callable[[], T]) -> T:
        return make() if self.space is None else run_inside(self.space, make)

    def protocols(self, wanted: Collection[str]) -> list[str]:
        return [p for p in wanted if p not in self.skipped]


@contextlib.contextmanager
def staged(devices: int, tmp: Path) -> Iterator[Stage]:
    """The simulators (and mosquitto) up, until the block ends."""
    with contextlib.ExitStack() as stack:
        skipped: dict[str, str] = {}
        try:
            space: str | None = stack.enter_context(private_namespace("epdisc"))
        except NetnsUnavailable as e:
            space = None
            skipped["mdns"] = "skipped: needs root" if os.geteuid() else f"skipped: {e}"
        stage = Stage(Layout(devices, 0, (), 0), space, skipped)
        broker = _mosquitto(stack, stage)
        ports = stack.enter_context(_simulators(stage, devices, tmp / "simulators.log"))
        stage.layout = Layout(
            devices,
            int(ports["modbus"]),
            tuple(int(p) for p in ports["opcua"]),
            int(ports["onvif"]),
            broker,
            mdns=space is not None,
        )
        yield stage


def _mosquitto(stack: contextlib.ExitStack, stage: Stage) -> int | None:
    try:
        binary = find_binary("mosquitto")
    except BrokerUnavailable as e:
        stage.skipped["mqtt"] = f"skipped: {e}"
        return None
    port = free_port()  # in a fresh namespace, any port is free
    # mosquitto, started as root, drops to its own user: it must read its files, so
    # they are not in the caller's (private) directory.
    conf = Path(tempfile.mkdtemp(prefix="ep-disc-mosquitto-"))
    stack.callback(shutil.rmtree, conf, ignore_errors=True)
    conf.chmod(0o755)
    lines = [f"listener {port} {HOST}", "allow_anonymous true", "persistence false"]
    (conf / "mosquitto.conf").write_text("\n".join(lines) + "\n")
    argv = stage.wrap([binary, "-c", str(conf / "mosquitto.conf")])

    def up(port: int) -> bool:
        return stage.inside(lambda: _connects(port))

    broker = Broker("mosquitto", "mqtt", argv, port, conf / "mosquitto.log", up)
    broker.start()
    stack.callback(broker.stop)
    return port


def _connects(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=1):
        return True
    return False


@contextlib.contextmanager
def _simulators(stage: Stage, devices: int, log: Path) -> Iterator[dict[str, Any]]:
    """The simulator process; yields the ports it reports once everything is up."""
    mdns = "mdns" if stage.space is not None else "-"
    argv = [sys.executable, "-m", "benchmarks.support.discoverysims", str(devices)]
    argv += [str(opcua_servers(devices)), mdns]
    with open(log, "ab") as errors:
        process = subprocess.Popen(
            stage.wrap(argv), cwd=ROOT, stdout=subprocess.PIPE, stderr=errors
        )
    try:
        yield _ready_line(process, log)
    finally:
        stop_process(process)


def _ready_line(process: subprocess.Popen[bytes], log: Path) -> dict[str, Any]:
    assert process.stdout is not None
    deadline = time.monotonic() + SIMULATORS_READY_SECONDS
    with selectors.DefaultSelector() as ready:
        ready.register(process.stdout, selectors.EVENT_READ)
        while (left := deadline - time.monotonic()) > 0:
            if ready.select(min(left, 0.5)):
                line = process.stdout.readline()
                if line:
                    return dict(json.loads(line))
            if process.poll() is not None:
                break
    tail = log.read_text(errors="replace")[-2000:]
    state = f"exited with {process.returncode}" if process.poll() is not None else "not ready"
    raise RuntimeError(
        f"the device simulators {state} after at most {SIMULATORS_READY_SECONDS:g} s; "
        f"their log ({log}) ends:\n{tail}"
    )


# -- the simulator process -----------------------------------------------------------

IDENTITY = {
    "VendorName": "Acme Automation",
    "ProductCode": "AC-100",
    "MajorMinorRevision": "2.4",
    "ProductName": "Acme PLC",
    "ModelName": "AC-100/R",
}


class Cameras(Responder):
    """One WS-Discovery responder for many cameras: a ProbeMatches datagram for each,
    as each camera on the link would answer a multicast probe."""

    def __init__(self, cameras: list[tuple[Camera, str]]) -> None:
        super().__init__(*cameras[0])
        self.cameras = cameras

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        relates_to = message_id(data)
        if relates_to is None or self.transport is None:
            return
        for camera, xaddr in self.cameras:
            self.transport.sendto(probe_matches(camera, xaddr, relates_to), addr)


async def _serve(devices: int, servers: int, mdns: bool) -> None:
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with contextlib.AsyncExitStack() as stack:
        ports = {
            "modbus": await _modbus(stack),
            "opcua": [await _opcua(stack, i) for i in range(1, servers + 1)],
            "onvif": await _cameras(stack, devices),
        }
        if mdns:
            await _mdns(stack, devices)
        print(json.dumps(ports), flush=True)
        await stop.wait()


async def _modbus(stack: contextlib.AsyncExitStack) -> int:
    """A PLC that answers identification at every unit id (pymodbus does so whatever
    devices it holds)."""
    from pymodbus.pdu.device import ModbusDeviceIdentification
    from pymodbus.server import ModbusTcpServer
    from pymodbus.simulator import DataType, SimData, SimDevice

    port = free_port()
    registers = SimData(address=0, count=16, values=7, datatype=DataType.REGISTERS)
    server = ModbusTcpServer(
        SimDevice(id=1, simdata=[registers]),
        address=(HOST, port),
        identity=ModbusDeviceIdentification(info_name=IDENTITY),  # type: ignore[no-untyped-call]
    )
    await server.serve_forever(background=True)
    stack.push_async_callback(server.shutdown)
    return port


async def _opcua(stack: contextlib.AsyncExitStack, i: int) -> int:
    from asyncua import ua
    from asyncua.server.server import Server

    port = free_port()
    server = Server()
    await server.init()
    server.set_endpoint(f"opc.tcp://{HOST}:{port}/")
    server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
    server.set_server_name(f"Bench PLC {i}")
    await server.set_application_uri(opcua_uri(i))
    await server.set_build_info(
        f"urn:acme:bench-plc-{i}", "Acme Automation", "AC-900", "4.2.1", str(i), datetime.now(UTC)
    )
    await server.start()
    stack.push_async_callback(server.stop)
    return port


async def _cameras(stack: contextlib.AsyncExitStack, devices: int) -> int:
    cameras = []
    for i in range(1, devices + 1):
        camera = Camera(
            endpoint=camera_endpoint(i),
            serial=f"CAM-{i:03d}",
            scopes=(f"onvif://www.onvif.org/name/Bench%20Cam%20{i}",),
        )
        service = DeviceService(camera)
        port = await service.start()
        stack.push_async_callback(service.close)
        cameras.append((camera, f"http://{HOST}:{port}/onvif/device_service"))
    responder = Cameras(cameras)
    port = await responder.start()
    stack.callback(responder.close)
    return port


async def _mdns(stack: contextlib.AsyncExitStack, devices: int) -> None:
    from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

    zeroconf = AsyncZeroconf(interfaces=[MDNS_RESPONDER])
    stack.push_async_callback(zeroconf.async_close)
    infos = [
        AsyncServiceInfo(
            MDNS_TYPE,
            f"{mdns_instance(i)}.{MDNS_TYPE}",
            addresses=[socket.inet_aton(HOST)],
            port=8000 + i,
            properties={"vendor": "Acme Sensors", "md": "MS-1"},
            server="edgebench-host.local.",
        )
        for i in range(1, devices + 1)
    ]
    # Registering probes the name (the outer await), then announces it (the awaitable
    # it returns): both side by side for every service, else N probes one after another.
    announcing = await asyncio.gather(*(zeroconf.async_register_service(i) for i in infos))
    await asyncio.gather(*announcing)


def main() -> None:
    devices, servers, mdns = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "mdns"
    for noisy in ("asyncua", "pymodbus"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    asyncio.run(_serve(devices, servers, mdns))


if __name__ == "__main__":
    main()
