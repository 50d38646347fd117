"""``DiscoveryProfile``: what the agents look for, where, and how often.

A profile picks sites (``siteSelector`` over Site labels; empty: every site) and names
one or more protocols with their parameters. Each agent whose site matches runs the
handlers of every matching profile (``agent.discovery``) every ``intervalSeconds``,
and reports what it found; the hub writes ``Device`` objects of that site only
(``hub.devices``). A device not seen for ``gracePeriodSeconds`` is marked
``Unavailable`` (our default is 120 s: four missed scans at the default 30 s interval,
so one lost scan on a lossy link never unplaces an application; Akri's is 300 s).

Every list and range is bounded, so one profile cannot make an agent scan a /8:
``MODBUS_ADDRESSES_MAX`` addresses x ports x unit ids per scan at most.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StrictInt, field_validator, model_validator

from edgeplane.api.meta import (
    LabelKey,
    LabelValue,
    Model,
    Number,
    PortNumber,
    Resource,
    ShortText,
)
from edgeplane.api.selectors import LabelSelector
from edgeplane.api.wellknown import RESERVED_DOMAIN, reserved_label

DEFAULT_INTERVAL_SECONDS = 30
INTERVAL_SECONDS_MIN = 5
INTERVAL_SECONDS_MAX = 3600
DEFAULT_GRACE_SECONDS = 120
GRACE_SECONDS_MAX = 7 * 24 * 3600
LIST_MAX = 32
"""Service types, topics, endpoints, interfaces, node ids, ports, unit ids: each list."""
MODBUS_ADDRESSES_MAX = 1024
"""Addresses one Modbus range list may name in all."""
MODBUS_PROBES_MAX = 4096
"""Addresses x ports x unit ids of one Modbus scan."""
ONVIF_DESCRIBE_SECONDS = 10
"""How long an ONVIF scan spends asking cameras for their device information, at most
(``agent.discovery.onvif.DESCRIBE_SECONDS``)."""
DEVICES_PER_SITE_MAX = 1000
"""Devices one site may report (the rest are dropped at the agent and counted)."""

Url = Annotated[str, Field(min_length=1, max_length=512, pattern=r"^[a-z][a-z0-9+.-]*://[^\s]+$")]
ServiceType = Annotated[
    str, Field(min_length=1, max_length=128, pattern=r"^_[A-Za-z0-9-]+\._(tcp|udp)\.local\.$")
]
NodeId = Annotated[str, Field(min_length=1, max_length=256, pattern=r"^[^\s]+$")]
TopicFilter = Annotated[
    str,
    Field(min_length=1, max_length=200, pattern=r"^(#|([^\s/+#]+|\+)(/([^\s/+#]+|\+))*(/#)?)$"),
]
UnitId = Annotated[int, Field(ge=0, le=255), StrictInt]


def _loopback_or_address(value: str) -> str:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise ValueError(
            f"{value!r} is not an IP address: name the interface by its address "
            "(for example 127.0.0.1 or 192.168.1.10)"
        ) from None
    return value


InterfaceAddress = Annotated[str, Field(max_length=64), AfterValidator(_loopback_or_address)]


class MqttDiscovery(Model):
    """Devices announcing themselves at the site's broker: Sparkplug B births
    (``spBv1.0/<group>/NBIRTH|DBIRTH/...``, deaths mark them gone) and, on ``topics``,
    JSON announcements ``{"id": ..., "class": ..., "vendor": ..., "model": ...}``."""

    broker: Url
    sparkplug: bool = True
    topics: list[TopicFilter] = Field(default_factory=list, max_length=LIST_MAX)


class MdnsDiscovery(Model):
    """DNS-SD service types browsed on the interfaces named (by address; never every
    interface unless named)."""

    service_types: list[ServiceType] = Field(
        alias="serviceTypes", min_length=1, max_length=LIST_MAX
    )
    interfaces: list[InterfaceAddress] = Field(min_length=1, max_length=LIST_MAX)
    device_class: LabelValue | None = Field(default=None, alias="class")


class OpcuaDiscovery(Model):
    """OPC UA discovery endpoints (``opc.tcp://host:port``): each is asked for its
    servers (FindServers), each server for its identity, and ``browse`` nodes read."""

    endpoints: list[Url] = Field(min_length=1, max_length=LIST_MAX)
    browse: list[NodeId] = Field(default_factory=list, max_length=LIST_MAX)

    @field_validator("endpoints")
    @classmethod
    def _opc(cls, endpoints: list[str]) -> list[str]:
        for url in endpoints:
            if not url.startswith("opc.tcp://"):
                raise ValueError(f"{url!r}: an OPC UA endpoint starts with opc.tcp://")
        return endpoints


class ModbusDiscovery(Model):
    """Modbus TCP hosts (addresses, ``a-b`` ranges or CIDR blocks), ports and unit ids;
    each answer is identified by Read Device Identification (MEI 0x2B/0x0E), else by a
    probe of ``probeRegister`` (a holding register that answers)."""

    hosts: list[ShortText] = Field(min_length=1, max_length=LIST_MAX)
    ports: list[PortNumber] = Field(
        default_factory=lambda: [502], min_length=1, max_length=LIST_MAX
    )
    unit_ids: list[UnitId] = Field(
        default_factory=lambda: [1], alias="unitIds", min_length=1, max_length=LIST_MAX
    )
    probe_register: StrictInt | None = Field(default=None, ge=0, le=65535, alias="probeRegister")
    timeout_seconds: Number = Field(default=0.5, gt=0, le=10, alias="timeoutSeconds")

    @field_validator("hosts")
    @classmethod
    def _hosts(cls, hosts: list[str]) -> list[str]:
        modbus_addresses(hosts)
        return hosts

    @model_validator(mode="after")
    def _bounded(self) -> ModbusDiscovery:
        probes = len(modbus_addresses(self.hosts)) * len(self.ports) * len(self.unit_ids)
        if probes > MODBUS_PROBES_MAX:
            raise ValueError(
                f"hosts x ports x unitIds is {probes} probes a scan: at most "
                f"{MODBUS_PROBES_MAX}; split the profile or narrow the ranges"
            )
        return self


MODBUS_CONNECTIONS = 32
"""Host:port pairs the agent's Modbus handler probes at once."""


def modbus_worst_seconds(params: ModbusDiscovery) -> float:
    """How long one scan may take when nothing answers: each worker's share of the
    host:port pairs, each pair a connect and, per unit id, up to three requests
    (identification, its continuation, the register probe) at ``timeoutSeconds``."""
    pairs = len(modbus_addresses(params.hosts)) * len(params.ports)
    rounds = -(-pairs // MODBUS_CONNECTIONS)
    return rounds * params.timeout_seconds * (2 + 3 * len(params.unit_ids))


def modbus_addresses(hosts: list[str]) -> list[str]:
    """The addresses ``hosts`` names, in order, at most ``MODBUS_ADDRESSES_MAX``;
    ValueError naming the entry that is not an address, range or block."""
    found: list[str] = []
    for entry in hosts:
        found += _expand(entry)
        if len(found) > MODBUS_ADDRESSES_MAX:
            raise ValueError(
                f"hosts name more than {MODBUS_ADDRESSES_MAX} addresses (at {entry!r}): "
                "narrow the ranges"
            )
    return found


def _expand(entry: str) -> list[str]:
    try:
        if "/" in entry:
            network = ipaddress.ip_network(entry, strict=False)
            if network.num_addresses > MODBUS_ADDRESSES_MAX:
                raise ValueError(f"{entry!r} holds {network.num_addresses} addresses")
            hosts = list(network.hosts()) or [network.network_address]
            return [str(a) for a in hosts]
        if "-" in entry:
            low, high = (ipaddress.ip_address(p.strip()) for p in entry.split("-", 1))
            if type(low) is not type(high) or int(high) < int(low):
                raise ValueError(f"{entry!r} is not a range from low to high")
            if int(high) - int(low) >= MODBUS_ADDRESSES_MAX:
                raise ValueError(f"{entry!r} holds more than {MODBUS_ADDRESSES_MAX} addresses")
            return [
                str(ipaddress.ip_address(int(low) + i)) for i in range(int(high) - int(low) + 1)
            ]
        return [str(ipaddress.ip_address(entry))]
    except ValueError as e:
        raise ValueError(
            f"host {entry!r}: {e}; write an address (10.0.0.5), a range "
            "(10.0.0.5-10.0.0.20) or a block (10.0.0.0/28)"
        ) from None


class OnvifDiscovery(Model):
    """ONVIF cameras: a WS-Discovery probe sent from each interface named (by
    address), then GetDeviceInformation at each camera that answered."""

    interfaces: list[InterfaceAddress] = Field(min_length=1, max_length=LIST_MAX)
    probe_seconds: Number = Field(default=2, gt=0, le=30, alias="probeSeconds")
    port: PortNumber = 3702
    """Where probes go (WS-Discovery's 3702 multicast; a responder's port in tests)."""
    target: InterfaceAddress | None = None
    """Unicast probes to this address instead of the multicast group (239.255.255.250)."""


PROTOCOLS = ("mqtt", "mdns", "opcua", "modbus", "onvif")


class DiscoveryProfileSpec(Model):
    site_selector: LabelSelector | None = Field(default=None, alias="siteSelector")
    interval_seconds: StrictInt = Field(
        default=DEFAULT_INTERVAL_SECONDS,
        ge=INTERVAL_SECONDS_MIN,
        le=INTERVAL_SECONDS_MAX,
        alias="intervalSeconds",
    )
    grace_period_seconds: StrictInt = Field(
        default=DEFAULT_GRACE_SECONDS, ge=0, le=GRACE_SECONDS_MAX, alias="gracePeriodSeconds"
    )
    labels: dict[LabelKey, LabelValue] | None = Field(default=None, max_length=LIST_MAX)
    """Put on every device this profile finds (after what discovery says)."""
    mqtt: MqttDiscovery | None = None
    mdns: MdnsDiscovery | None = None
    opcua: OpcuaDiscovery | None = None
    modbus: ModbusDiscovery | None = None
    onvif: OnvifDiscovery | None = None

    @model_validator(mode="after")
    def _modbus_fits_the_interval(self) -> DiscoveryProfileSpec:
        if self.modbus is not None and (worst := modbus_worst_seconds(self.modbus)) > (
            self.interval_seconds
        ):
            raise ValueError(
                f"a Modbus scan of these hosts, ports and unit ids may take {worst:.0f} s "
                f"when nothing answers, longer than intervalSeconds {self.interval_seconds} "
                "(a scan is cut off at its interval): raise intervalSeconds, lower "
                "modbus.timeoutSeconds, or split the ranges over several profiles"
            )
        return self

    @model_validator(mode="after")
    def _onvif_fits_the_interval(self) -> DiscoveryProfileSpec:
        if (
            self.onvif is not None
            and (worst := self.onvif.probe_seconds + ONVIF_DESCRIBE_SECONDS) > self.interval_seconds
        ):
            raise ValueError(
                f"an ONVIF scan may take {worst:g} s (onvif.probeSeconds, then up to "
                f"{ONVIF_DESCRIBE_SECONDS} s asking the cameras), longer than "
                f"intervalSeconds {self.interval_seconds}: raise intervalSeconds or lower "
                "onvif.probeSeconds"
            )
        return self

    @field_validator("labels")
    @classmethod
    def _not_reserved(cls, labels: dict[str, str] | None) -> dict[str, str] | None:
        for key in labels or {}:
            if reserved_label(key):
                raise ValueError(
                    f"label {key!r}: the {RESERVED_DOMAIN}/ prefix is the hub's; "
                    "use another prefix or none"
                )
        return labels

    @model_validator(mode="after")
    def _some_protocol(self) -> DiscoveryProfileSpec:
        if not self.protocols():
            raise ValueError(
                "name at least one protocol: " + ", ".join(PROTOCOLS) + " (for example "
                "modbus: {hosts: [10.0.0.5]})"
            )
        return self

    def protocols(self) -> dict[str, Model]:
        """The protocols this profile runs, by name, with their parameters."""
        found = {name: getattr(self, name) for name in PROTOCOLS}
        return {name: params for name, params in found.items() if params is not None}


class DiscoveryProfile(Resource):
    kind: Literal["DiscoveryProfile"] = "DiscoveryProfile"
    spec: DiscoveryProfileSpec
