"""The pure side of ``benchmarks/discovery.py``: what the simulators simulate, the
identities a handler must return for each protocol, the profile parameters that point
the handlers at them, what the hub must then hold, and the figures over runs.
Tested in ``tests/unit/benchmarks/test_discoveryfigures.py``; the simulators, the
scans and the agent runs are ``discoveryrun``.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from edgeplane.api.discovery import (
    INTERVAL_SECONDS_MAX,
    INTERVAL_SECONDS_MIN,
    LIST_MAX,
    DiscoveryProfileSpec,
)
from tests.support import sparkplug as sp

HOST = "127.0.0.1"
PROTOCOLS = ("modbus", "opcua", "mqtt", "mdns", "onvif")
"""In the order the benchmark measures them."""
OPCUA_SERVERS_MAX = 4
"""asyncua servers are heavy (about 2 s and tens of MB each to start): at most these."""
DEVICES_MAX = LIST_MAX
"""One pymodbus simulator answers every unit id, and a profile lists at most this many."""
MODBUS_TIMEOUT_SECONDS = 0.1
"""Loopback answers in milliseconds; a short timeout keeps the profile's interval short
(it must cover a scan where nothing answers)."""
ONVIF_PROBE_SECONDS = 1.0
"""How long the ONVIF handler reads probe answers: every scan waits it out."""
MQTT_GROUP, MQTT_NODE = "bench", "edge-1"
MDNS_TYPE = "_edgebench._tcp.local."


@dataclass(frozen=True)
class Layout:
    """Where the simulators of one benchmark listen, and how many devices each has."""

    devices: int
    modbus_port: int
    opcua_ports: tuple[int, ...]
    onvif_port: int
    broker_port: int | None = None
    """mosquitto's; None when it is not installed (MQTT is then skipped)."""
    mdns: bool = False
    """Whether mDNS services are registered (only inside a network namespace)."""

    def count(self, protocol: str) -> int:
        """Devices simulated for ``protocol`` (OPC UA: one per server)."""
        return len(self.opcua_ports) if protocol == "opcua" else self.devices


def opcua_servers(devices: int) -> int:
    return min(devices, OPCUA_SERVERS_MAX)


def opcua_uri(i: int) -> str:
    return f"urn:edgeplane:bench:opc-plc-{i:02d}"


def camera_endpoint(i: int) -> str:
    return f"urn:uuid:00000000-0000-4000-8000-{i:012d}"


def mqtt_device(i: int) -> str:
    return f"sensor-{i:02d}"


def mdns_instance(i: int) -> str:
    return f"bench-sensor-{i:02d}"


def births(devices: int) -> list[tuple[str, bytes]]:
    """The edge node's NBIRTH, then a DBIRTH for each of its ``devices``, as a node
    publishes them (topic, payload); each device with its own serial."""
    node = sp.payload(
        sp.metric("bdSeq", 0),
        sp.metric("Properties/Hardware Make", "Acme Sensors"),
        sp.metric("Properties/Hardware Model", "Edge-1"),
        seq=0,
    )
    found = [(sp.topic("NBIRTH", MQTT_GROUP, MQTT_NODE), node)]
    for i in range(1, devices + 1):
        body = sp.payload(
            sp.metric("class", "sensor"),
            sp.metric("vendor", "Acme Sensors"),
            sp.metric("model", "TS-1"),
            sp.metric("serial", f"TS-{i:03d}"),
            sp.metric("Temperature", 21.5),
            seq=i % 256,
        )
        found.append((sp.topic("DBIRTH", MQTT_GROUP, MQTT_NODE, mqtt_device(i)), body))
    return found


def identities(layout: Layout, protocol: str) -> frozenset[str]:
    """What a scan must return, all of it, for ``protocol``'s devices to count as found
    (an MQTT scan also returns the edge node itself: not one of the N)."""
    return frozenset(identity(layout, protocol, i) for i in range(1, layout.count(protocol) + 1))


def identity(layout: Layout, protocol: str, i: int) -> str:
    """The identity the ``protocol`` handler gives simulated device ``i`` (from 1)."""
    if protocol == "modbus":
        return f"modbus:{HOST}:{layout.modbus_port}/{i}"
    if protocol == "opcua":
        return f"opcua:{opcua_uri(i)}"
    if protocol == "mqtt":
        return f"sparkplug:{MQTT_GROUP}/{MQTT_NODE}/{mqtt_device(i)}"
    if protocol == "mdns":
        return f"mdns:{mdns_instance(i)}.{MDNS_TYPE}"
    if protocol == "onvif":
        return f"onvif:{camera_endpoint(i)}"
    raise ValueError(f"unknown protocol {protocol!r}: one of {', '.join(PROTOCOLS)}")


def params(layout: Layout, protocol: str) -> dict[str, Any]:
    """The profile's parameters for ``protocol`` (wire form), aimed at the simulators."""
    if protocol == "modbus":
        units = list(range(1, layout.devices + 1))
        return {
            "hosts": [HOST],
            "ports": [layout.modbus_port],
            "unitIds": units,
            "timeoutSeconds": MODBUS_TIMEOUT_SECONDS,
        }
    if protocol == "opcua":
        return {"endpoints": [f"opc.tcp://{HOST}:{port}/" for port in layout.opcua_ports]}
    if protocol == "mqtt":
        return {"broker": f"mqtt://{HOST}:{layout.broker_port}"}
    if protocol == "mdns":
        return {"serviceTypes": [MDNS_TYPE], "interfaces": [HOST]}
    if protocol == "onvif":
        return {
            "interfaces": [HOST],
            "target": HOST,
            "port": layout.onvif_port,
            "probeSeconds": ONVIF_PROBE_SECONDS,
        }
    raise ValueError(f"unknown protocol {protocol!r}: one of {', '.join(PROTOCOLS)}")


def interval_seconds(layout: Layout, protocols: Collection[str] = PROTOCOLS) -> int:
    """The shortest ``intervalSeconds`` the hub accepts for a profile of ``protocols``
    aimed at these simulators: it refuses one shorter than a scan may take (Modbus when
    nothing answers, ONVIF's probe window and device information), and asking the API
    keeps this in step with its rules. The shorter, the sooner the agent's second scan,
    the first to show what the MQTT and mDNS listeners heard."""
    spec = {protocol: params(layout, protocol) for protocol in protocols}
    for interval in range(INTERVAL_SECONDS_MIN, INTERVAL_SECONDS_MAX + 1):
        try:
            DiscoveryProfileSpec.model_validate(spec | {"intervalSeconds": interval})
        except ValidationError as e:
            if "intervalSeconds" not in str(e):
                raise ValueError(f"the benchmark's profile is not valid: {e}") from e
            continue
        return interval
    raise ValueError(f"no intervalSeconds up to {INTERVAL_SECONDS_MAX} fits {sorted(spec)}")


def profile(layout: Layout, name: str, protocols: Collection[str], role: str) -> dict[str, Any]:
    """A DiscoveryProfile for the sites labelled ``role``, with ``protocols``."""
    spec: dict[str, Any] = {
        "siteSelector": {"matchLabels": {"role": role}},
        "intervalSeconds": interval_seconds(layout, protocols),
    }
    spec |= {protocol: params(layout, protocol) for protocol in protocols}
    return {
        "apiVersion": "edgeplane.io/v1alpha1",
        "kind": "DiscoveryProfile",
        "metadata": {"name": name},
        "spec": spec,
    }


def at_hub(layout: Layout, protocols: Collection[str]) -> dict[str, int]:
    """The Devices the hub must hold for the site, by protocol: the MQTT edge node is
    one more (each simulated device has its own vendor and serial, or none, so no two
    merge into one Device)."""
    return {p: layout.count(p) + (1 if p == "mqtt" else 0) for p in protocols}


def shortfall(seen: Mapping[str, int], wanted: Mapping[str, int]) -> str | None:
    """What the hub still lacks (``"mdns 3 of 16, onvif 0 of 16"``); None when nothing."""
    short = [f"{p} {seen.get(p, 0)} of {n}" for p, n in wanted.items() if seen.get(p, 0) < n]
    return ", ".join(short) or None


def median_of(values: Sequence[float | None]) -> float | None:
    """The median of the runs that measured something; None when none did."""
    measured = [v for v in values if v is not None and not math.isnan(v)]
    return statistics.median(measured) if measured else None


def rounded(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None or denominator <= 0:
        return None
    return numerator / denominator


def cell(value: float | None, digits: int = 3, why: str = "failed") -> str:
    """A table cell: the figure, or why there is none."""
    return why if value is None else f"{value:.{digits}f}"


def runs_cell(values: Sequence[float | None], digits: int = 3) -> str:
    """Each run's figure, ``-`` for a run that failed."""
    return " ".join("-" if v is None else f"{v:.{digits}f}" for v in values)
