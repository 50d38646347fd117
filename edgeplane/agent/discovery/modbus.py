"""Modbus TCP discovery: who answers at each address, port and unit id, and what it is.

One scan opens one connection per host:port (at most ``CONNECTIONS_MAX`` at once in
the whole process, whatever the number of profiles) and asks each unit id on it for
Read Device Identification (MEI 0x2B/0x0E); a unit that does not support it, when the
profile names a ``probeRegister``, counts as a device if that holding register answers.
Nothing outlives a scan: every connection is closed before ``scan`` returns. A host
that refuses, times out, answers nonsense or makes pymodbus fail in any other way is
simply not found (logged at debug level), and costs the scan nothing else: one scan of
a /24 must not flood the agent's log, nor fail for one odd device.

Neighbours: ``base`` (``Found``, ``Handler``, ``clip``), ``api.discovery``
(``ModbusDiscovery``, ``modbus_addresses``), the runner that calls ``scan`` every
interval and turns ``Found`` into Devices.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.constants import DeviceInformation, MoreData
from pymodbus.exceptions import ModbusException
from pymodbus.pdu.mei_message import ReadDeviceInformationResponse

from edgeplane.agent.discovery.base import FOUND_PER_SCAN_MAX, Found, Handler, ProcessSlots, clip
from edgeplane.api.discovery import MODBUS_CONNECTIONS, modbus_addresses

if TYPE_CHECKING:
    from edgeplane.api.discovery import ModbusDiscovery

log = logging.getLogger("edgeplane.agent.discovery.modbus")

# pymodbus logs every refused connection and unanswered request at warning or error
# level through its own "pymodbus" logger; a sweep over absent addresses would flood
# the agent's log with device faults we already report at debug level. Done once, at
# import (this module is imported only when a profile names Modbus), rather than
# around each call: scans run concurrently, so toggling a level per call would race.
# An operator who set a level on that logger before keeps it.
if logging.getLogger("pymodbus").level == logging.NOTSET:
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)

CONNECTIONS_MAX = MODBUS_CONNECTIONS  # the API bounds a scan's time by it
"""Host:port connections open at once in the process: every profile's scans share them
(``connection_slots``), so many profiles stay far from the file descriptor limit."""
MEI_ROUNDS_MAX = 4
"""Requests for one identification: a device saying "more follows" forever is cut off."""
REQUESTS_PER_UNIT = 3
"""Basic and regular identification, then the register probe: the most one unit costs."""

OBJECTS = {
    0x00: "vendorName",
    0x01: "productCode",
    0x02: "revision",
    0x03: "vendorUrl",
    0x04: "productName",
    0x05: "modelName",
    0x06: "applicationName",
}
"""The identification objects we keep (basic 0-2, regular 3-6), by the attribute name
each becomes; private objects (0x80-0xFF) mean something different on every device."""
REGULAR_CONFORMITY = 0x02
"""Conformity level (low bits) from which a device also serves the regular objects."""

# What a device's fault looks like from pymodbus: refused or reset connections
# (OSError), no answer (TimeoutError, ModbusIOException), a closed connection
# (ConnectionException), and malformed replies its decoders choke on. Anything else
# fails that host:port alone too, logged at debug with its traceback.
DEVICE_ERRORS = (ModbusException, OSError, TimeoutError, ValueError, IndexError, struct.error)


@dataclass(frozen=True)
class Identification:
    """What one unit said about itself, and how we know it is there."""

    objects: Mapping[int, str]
    how: str
    """``mei`` (it answered Read Device Identification) or ``register`` (the probe)."""


def object_texts(information: Mapping[int, object]) -> dict[int, str]:
    """The identification objects we keep, as clipped text: pymodbus gives bytes, or a
    list of them when a device repeats an object (we keep the first)."""
    texts: dict[int, str] = {}
    for object_id, value in information.items():
        if object_id not in OBJECTS:
            continue
        if isinstance(value, list):
            value = value[0] if value else b""
        raw = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
        if text := clip(raw):
            texts[object_id] = text
    return texts


def describe(host: str, port: int, unit: int, found: Identification) -> Found:
    """The ``Found`` for one answering unit. The model is the most specific name the
    device gave; Modbus identification has no serial number object."""
    objects = found.objects
    model = objects.get(0x05) or objects.get(0x04) or objects.get(0x01, "")
    attributes = {OBJECTS[i]: text for i, text in sorted(objects.items()) if i != 0x00}
    attributes |= {"unit": str(unit), "identifiedBy": found.how}
    return Found(
        identity=f"modbus:{host}:{port}/{unit}",
        protocol="modbus",
        address=f"modbus://{host}:{port}?unit={unit}",
        device_class="plc",
        vendor=objects.get(0x00, ""),
        model=model,
        attributes=attributes,
    )


def targets(params: ModbusDiscovery) -> list[tuple[str, int]]:
    """Every host:port of a scan, hosts in the order the profile names them."""
    return [(host, port) for host in modbus_addresses(params.hosts) for port in params.ports]


def target_seconds(params: ModbusDiscovery) -> float:
    """The most one host:port may take: connecting, then every request of every unit
    id, each bounded by ``timeoutSeconds``; a margin covers the close."""
    requests = 1 + REQUESTS_PER_UNIT * len(params.unit_ids)
    return params.timeout_seconds * (requests + 1)


connection_slots = ProcessSlots(CONNECTIONS_MAX)
"""The process's ``CONNECTIONS_MAX``, shared by every handler (``base.ProcessSlots``)."""


class ModbusHandler:
    """Scans the profile's host:port targets; holds nothing between scans."""

    def __init__(self, params: ModbusDiscovery) -> None:
        self._params = params
        self._targets = targets(params)

    async def scan(self) -> list[Found]:
        found: list[Found] = []
        pending = iter(self._targets)

        async def worker() -> None:
            # The iterator is shared: each target is taken by exactly one worker.
            for host, port in pending:
                if len(found) >= FOUND_PER_SCAN_MAX:
                    return
                async with connection_slots():
                    found.extend(await self._scan_target(host, port))

        async with asyncio.TaskGroup() as group:
            for _ in range(min(CONNECTIONS_MAX, len(self._targets))):
                group.create_task(worker())
        return found[:FOUND_PER_SCAN_MAX]

    async def close(self) -> None:
        """Nothing to stop: every connection is closed by the scan that opened it."""

    async def _scan_target(self, host: str, port: int) -> list[Found]:
        found: list[Found] = []
        params = self._params
        client = AsyncModbusTcpClient(
            host,
            port=port,
            timeout=params.timeout_seconds,
            retries=0,
            reconnect_delay=0,  # a scan never reconnects in the background
        )
        # pymodbus hangs up after a few unanswered requests in a row; behind a gateway,
        # absent unit ids stay silent while later ones answer, so every unit id is
        # asked and only the target's time budget bounds the silence.
        client.set_max_no_responses(REQUESTS_PER_UNIT * len(params.unit_ids))
        try:
            async with asyncio.timeout(target_seconds(params)):
                if not await client.connect():
                    log.debug("modbus %s:%s: no connection", host, port)
                    return []
                for unit in params.unit_ids:
                    if not client.connected:
                        break  # the device hung up
                    if answer := await _identify(client, unit, params.probe_register):
                        found.append(describe(host, port, unit, answer))
        except Exception as e:  # whatever the device provoked costs this target alone
            unexpected = not isinstance(e, DEVICE_ERRORS)
            log.debug("modbus %s:%s: %s (%s)", host, port, type(e).__name__, e, exc_info=unexpected)
        finally:
            client.close()
        return found


async def _identify(
    client: AsyncModbusTcpClient, unit: int, probe_register: int | None
) -> Identification | None:
    """What ``unit`` says it is, or None when it does not answer as a device. A unit
    that refuses identification, or stays silent, may still answer the probe."""
    try:
        objects = await _read_identification(client, unit)
    except DEVICE_ERRORS as e:
        _fault(client, unit, "identification", e)
        objects = None
    if objects is not None:
        return Identification(objects, "mei")
    if probe_register is None or not client.connected:
        return None
    try:
        if await _register_answers(client, unit, probe_register):
            return Identification({}, "register")
    except DEVICE_ERRORS as e:
        _fault(client, unit, "probe", e)
    return None


def _fault(client: AsyncModbusTcpClient, unit: int, what: str, error: Exception) -> None:
    where = f"{client.comm_params.host}:{client.comm_params.port}"
    log.debug("modbus %s unit %s: no %s (%s: %s)", where, unit, what, type(error).__name__, error)


async def _read_identification(client: AsyncModbusTcpClient, unit: int) -> dict[int, str] | None:
    """The basic identification objects and, when the device's conformity level says
    it serves them, the regular ones; None when the device does not support MEI."""
    basic = await _read_objects(client, unit, DeviceInformation.BASIC)
    if basic is None:
        return None
    objects, conformity = basic
    if conformity & 0x7F < REGULAR_CONFORMITY:
        return objects
    try:
        regular = await _read_objects(client, unit, DeviceInformation.REGULAR)
    except DEVICE_ERRORS as e:
        _fault(client, unit, "regular identification", e)  # the basic objects still hold
        return objects
    return objects | (regular[0] if regular else {})


async def _read_objects(
    client: AsyncModbusTcpClient, unit: int, read_code: DeviceInformation
) -> tuple[dict[int, str], int] | None:
    """One read code's objects and the device's conformity level, following "more
    follows" for at most ``MEI_ROUNDS_MAX`` requests; None on an exception reply."""
    objects: dict[int, str] = {}
    object_id, conformity = 0, 0
    for _ in range(MEI_ROUNDS_MAX):
        reply = await client.read_device_information(
            read_code=read_code, object_id=object_id, device_id=unit
        )
        if not isinstance(reply, ReadDeviceInformationResponse):
            # An exception reply: no identification here, or no more of it.
            return (objects, conformity) if object_id else None
        objects |= object_texts(reply.information)
        conformity = reply.conformity
        # Only forward: a device pointing back at an object already read would loop.
        if reply.more_follows != MoreData.KEEP_READING or reply.next_object_id <= object_id:
            break
        object_id = reply.next_object_id
    return objects, conformity


async def _register_answers(client: AsyncModbusTcpClient, unit: int, register: int) -> bool:
    reply = await client.read_holding_registers(register, count=1, device_id=unit)
    return not reply.isError() and len(reply.registers) == 1


def handler(params: ModbusDiscovery) -> Handler:
    return ModbusHandler(params)
