"""What every discovery handler gives and how the runner loads one.

A handler module (``mqtt``, ``mdns``, ``opcua``, ``modbus``, ``onvif``) exposes
``handler(params) -> Handler``, where ``params`` is that protocol's model from
``api.discovery``. The runner imports a module only when a profile names its protocol
(``load``), so an agent without profiles never imports asyncua, pymodbus or zeroconf.

``Handler.scan`` looks once and returns what answered; the runner bounds it by the
profile's interval and cancels it past that. A handler that listens (MQTT births)
starts its listener on the first scan and returns what it holds now. ``close`` stops
whatever it started; it is called once, when the profile goes away or the agent stops.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

IDENTITY_MAX_CHARS = 256
TEXT_MAX_CHARS = 256
ATTRIBUTES_MAX = 32
FOUND_PER_SCAN_MAX = 1000
"""What one scan may return; a handler stops collecting past it."""


@dataclass(frozen=True)
class Found:
    """One device as a handler saw it."""

    identity: str
    """Stable for this device across scans: what the protocol calls it (an OPC UA
    application URI, a Sparkplug group/node/device, a WS-Discovery endpoint reference,
    host:port/unit for Modbus, an mDNS instance name)."""
    protocol: str
    """The ``DeviceProtocol`` value: mqtt, mdns, opcua, modbus, onvif."""
    address: str
    """How an application reaches it: ``opc.tcp://10.0.0.5:4840``,
    ``modbus://10.0.0.7:502?unit=1``, ``http://10.0.0.9/onvif/device_service``."""
    device_class: str = ""
    """``plc``, ``camera``, ``sensor``, ...: the ``class`` label (empty: unknown)."""
    vendor: str = ""
    model: str = ""
    serial: str = ""
    """With ``vendor``, the same device seen by two handlers is one Device."""
    attributes: Mapping[str, str] = field(default_factory=dict)
    """Anything else worth showing (firmware, product URI, node values), bounded."""


class Handler(Protocol):
    async def scan(self) -> list[Found]: ...

    async def close(self) -> None: ...


HANDLER_MODULES = {
    "mqtt": "edgeplane.agent.discovery.mqtt",
    "mdns": "edgeplane.agent.discovery.mdns",
    "opcua": "edgeplane.agent.discovery.opcua",
    "modbus": "edgeplane.agent.discovery.modbus",
    "onvif": "edgeplane.agent.discovery.onvif",
}


def load(protocol: str) -> Callable[[Any], Handler]:
    """The ``handler`` factory of ``protocol``'s module, imported now."""
    module = importlib.import_module(HANDLER_MODULES[protocol])
    factory: Callable[[Any], Handler] = module.handler
    return factory


def clip(text: object, limit: int = TEXT_MAX_CHARS) -> str:
    """``text`` as a printable string of at most ``limit`` characters: what a device
    says about itself is untrusted."""
    printable = "".join(c if c.isprintable() else " " for c in str(text))
    return printable.strip()[:limit]


class ProcessSlots:
    """A limit shared by every handler of one protocol in the process (connections,
    sessions, cameras at once), so many profiles stay far from the descriptor limit. A
    Semaphore belongs to the loop it first waits in: one is made in the running loop,
    and anew when the loop changed (tests run several)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._held: tuple[asyncio.AbstractEventLoop, asyncio.Semaphore] | None = None

    def __call__(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if self._held is None or self._held[0] is not loop:
            self._held = (loop, asyncio.Semaphore(self.limit))
        return self._held[1]
