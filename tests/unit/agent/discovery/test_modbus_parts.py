"""Modbus discovery's pure parts: what a device's identification objects become (text
from a device is hostile), which host:port targets a profile names, and how many
connections the handlers of one process hold at once (against a stand-in client)."""

from __future__ import annotations

import asyncio

import pytest

from edgeplane.agent.discovery import modbus
from edgeplane.agent.discovery.base import TEXT_MAX_CHARS
from edgeplane.agent.discovery.modbus import (
    CONNECTIONS_MAX,
    Identification,
    describe,
    handler,
    object_texts,
    targets,
)
from edgeplane.api.discovery import ModbusDiscovery

OBJECT_TEXTS = [
    ("bytes-decoded", {0x00: b"Acme"}, {0x00: "Acme"}),
    ("str-kept", {0x01: "AC-100"}, {0x01: "AC-100"}),
    ("repeated-object-keeps-first", {0x04: [b"first", b"second"]}, {0x04: "first"}),
    ("empty-list-dropped", {0x04: []}, {}),
    ("empty-dropped", {0x00: b"", 0x01: b"   "}, {}),
    ("controls-blanked", {0x00: b"Ac\x1b[31mme\x00"}, {0x00: "Ac [31mme"}),
    ("not-utf8-replaced", {0x00: b"Acme\xff"}, {0x00: "Acme\ufffd"}),
    ("private-objects-dropped", {0x80: b"secret", 0x07: b"reserved"}, {}),
    ("long-clipped", {0x05: b"x" * 1000}, {0x05: "x" * TEXT_MAX_CHARS}),
    ("odd-type-as-text", {0x02: 24}, {0x02: "24"}),
]


@pytest.mark.parametrize(
    ("information", "texts"), [o[1:] for o in OBJECT_TEXTS], ids=[o[0] for o in OBJECT_TEXTS]
)
def test_object_texts(information: dict[int, object], texts: dict[int, str]) -> None:
    assert object_texts(information) == texts


MODELS = [
    ("model-name-first", {0x01: "code", 0x04: "product", 0x05: "model"}, "model"),
    ("then-product-name", {0x01: "code", 0x04: "product"}, "product"),
    ("then-product-code", {0x01: "code"}, "code"),
    ("else-empty", {}, ""),
]


@pytest.mark.parametrize(("objects", "model"), [m[1:] for m in MODELS], ids=[m[0] for m in MODELS])
def test_model_is_the_most_specific_name(objects: dict[int, str], model: str) -> None:
    assert describe("10.0.0.7", 502, 3, Identification(objects, "mei")).model == model


def test_describe_names_host_port_and_unit() -> None:
    found = describe(
        "10.0.0.7", 1502, 3, Identification({0x00: "Acme", 0x02: "2.4", 0x06: "line 3"}, "mei")
    )
    assert found.identity == "modbus:10.0.0.7:1502/3"
    assert found.address == "modbus://10.0.0.7:1502?unit=3"
    assert (found.protocol, found.device_class, found.vendor, found.serial) == (
        "modbus",
        "plc",
        "Acme",
        "",
    )
    assert found.attributes == {
        "revision": "2.4",
        "applicationName": "line 3",
        "unit": "3",
        "identifiedBy": "mei",
    }


def test_targets_are_every_address_with_every_port() -> None:
    params = ModbusDiscovery.model_validate(
        {"hosts": ["10.0.0.1-10.0.0.2", "10.0.1.5"], "ports": [502, 1502], "unitIds": [1, 2]}
    )
    assert targets(params) == [
        ("10.0.0.1", 502),
        ("10.0.0.1", 1502),
        ("10.0.0.2", 502),
        ("10.0.0.2", 1502),
        ("10.0.1.5", 502),
        ("10.0.1.5", 1502),
    ]


class Connections:
    """A stand-in for pymodbus's client that counts the connections open at once;
    each connect takes a moment and finds nobody there."""

    def __init__(self) -> None:
        self.open = self.peak = self.made = 0

    def client(self, host: str, port: int, **options: object) -> Connections.Client:
        return Connections.Client(self)

    class Client:
        def __init__(self, connections: Connections) -> None:
            self.connections, self.counted = connections, False

        def set_max_no_responses(self, count: int) -> None:
            pass

        async def connect(self) -> bool:
            self.connections.open += 1
            self.connections.made += 1
            self.connections.peak = max(self.connections.peak, self.connections.open)
            self.counted = True
            await asyncio.sleep(0.01)
            return False

        def close(self) -> None:
            self.connections.open -= self.counted
            self.counted = False


async def two_profiles_at_once(connections: Connections) -> None:
    params = ModbusDiscovery.model_validate({"hosts": ["10.0.0.0/26"], "ports": [502]})
    assert len(targets(params)) > CONNECTIONS_MAX
    await asyncio.gather(handler(params).scan(), handler(params).scan())


async def test_connections_are_bounded_across_handlers(monkeypatch: pytest.MonkeyPatch) -> None:
    """An agent runs up to 64 profiles: together they hold at most CONNECTIONS_MAX."""
    connections = Connections()
    monkeypatch.setattr(modbus, "AsyncModbusTcpClient", connections.client)

    await two_profiles_at_once(connections)

    assert (connections.peak, connections.open, connections.made) == (CONNECTIONS_MAX, 0, 124)


def test_the_shared_bound_follows_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    """A Semaphore a scan waited on belongs to that loop; a later loop gets its own."""
    for _ in range(2):
        connections = Connections()
        monkeypatch.setattr(modbus, "AsyncModbusTcpClient", connections.client)
        asyncio.run(two_profiles_at_once(connections))
        assert connections.peak == CONNECTIONS_MAX
