"""MQTT discovery against a real mosquitto: Sparkplug births and deaths, JSON
announcements, hostile messages, and a broker that goes away and comes back.

Each test publishes with its own aiomqtt client at QoS 1 once the handler has
subscribed (``listening``); what the handler made of it is polled with a deadline.
Messages of one publisher arrive in order, so "the next good one is seen" shows the
bad ones before it were taken (and ignored)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Mapping

import aiomqtt
import pytest

from edgeplane.agent.discovery import mqtt
from edgeplane.agent.discovery.base import Found
from edgeplane.api.discovery import MqttDiscovery
from tests.support import sparkplug as sp
from tests.support.brokers import Broker
from tests.support.waiting import wait_until_async

WITHIN = 15.0
Message = tuple[str, bytes]


@contextlib.asynccontextmanager
async def listening(broker: Broker, **params: object) -> AsyncIterator[mqtt.MqttHandler]:
    handler = mqtt.MqttHandler(MqttDiscovery.model_validate({"broker": broker.url, **params}))
    try:
        assert await handler.scan() == []  # the first scan starts the listener
        await wait_until_async(lambda: handler.listening, "the handler to subscribe", WITHIN)
        yield handler
    finally:
        await handler.close()


async def publish(broker: Broker, *messages: Message, retain: bool = False) -> None:
    async with aiomqtt.Client(broker.host, broker.port) as client:
        for topic, payload in messages:
            await client.publish(topic, payload, qos=1, retain=retain)


async def scan_until(
    handler: mqtt.MqttHandler, identities: set[str], what: str
) -> Mapping[str, Found]:
    async def found() -> Mapping[str, Found]:
        return {f.identity: f for f in await handler.scan()}

    return await wait_until_async(found, what, WITHIN, accept=lambda f: set(f) == identities)


NODE = "sparkplug:plant1/edge1"
PUMP = "sparkplug:plant1/edge1/pump7"
METER = "sparkplug:plant1/edge1/meter2"
NODE_BIRTH = sp.payload(
    sp.metric("bdSeq", 3),
    sp.metric("Properties/Hardware Make", "Acme"),
    sp.metric("Properties/Hardware Model", "Edge-100"),
    sp.metric("Properties/Serial Number", "E-0001"),
    sp.metric("Properties/OS Version", "6.1"),
    sp.metric("Node Control/Rebirth", False),
    sp.metric("Temperature", 41.5),
)
PUMP_BIRTH = sp.payload(
    sp.metric("class", "pump"),
    sp.metric("vendor", "Grundfos"),
    sp.metric("model", "CR 5"),
    sp.metric("serial", "P-77"),
    sp.metric("Flow", 12.5),
)
METER_BIRTH = sp.payload(sp.metric("Properties/Firmware", "2.4"), sp.metric("kWh", 10))


async def test_sparkplug_births_and_deaths(mosquitto: Broker) -> None:
    async with listening(mosquitto) as handler:
        await publish(
            mosquitto,
            (sp.topic("NBIRTH", "plant1", "edge1"), NODE_BIRTH),
            (sp.topic("DBIRTH", "plant1", "edge1", "pump7"), PUMP_BIRTH),
            (sp.topic("DBIRTH", "plant1", "edge1", "meter2"), METER_BIRTH),
        )
        found = await scan_until(handler, {NODE, PUMP, METER}, "the node and its devices")
        node, pump, meter = found[NODE], found[PUMP], found[METER]
        assert (node.vendor, node.model, node.serial) == ("Acme", "Edge-100", "E-0001")
        assert (node.protocol, node.device_class) == ("mqtt", "sensor")
        assert node.address == f"{mosquitto.url}/spBv1.0/plant1/NDATA/edge1"
        assert node.attributes == {"group": "plant1", "node": "edge1", "OS Version": "6.1"}
        assert (pump.device_class, pump.vendor, pump.model, pump.serial) == (
            "pump",
            "Grundfos",
            "CR 5",
            "P-77",
        )
        assert pump.address == f"{mosquitto.url}/spBv1.0/plant1/DDATA/edge1/pump7"
        assert meter.device_class == "sensor"
        assert meter.attributes["Firmware"] == "2.4"

        await publish(mosquitto, (sp.topic("DDEATH", "plant1", "edge1", "pump7"), sp.payload()))
        await scan_until(handler, {NODE, METER}, "the pump gone after its DDEATH")

        # A will of an older connection (another bdSeq) does not kill this birth.
        stale = sp.payload(sp.metric("bdSeq", 2))
        again = (sp.topic("DBIRTH", "plant1", "edge1", "pump7"), PUMP_BIRTH)
        await publish(mosquitto, (sp.topic("NDEATH", "plant1", "edge1"), stale), again)
        await scan_until(handler, {NODE, METER, PUMP}, "the pump back, the node alive")

        death = sp.payload(sp.metric("bdSeq", 3))
        await publish(mosquitto, (sp.topic("NDEATH", "plant1", "edge1"), death))
        await scan_until(handler, set(), "the node and its devices gone after its NDEATH")


async def test_json_announcements(mosquitto: Broker) -> None:
    camera = {"id": "cam-1", "class": "camera", "vendor": "Axis", "model": "P3245", "site": "door"}
    await publish(mosquitto, ("announce/cams", json.dumps(camera).encode()), retain=True)
    async with listening(mosquitto, topics=["announce/#"], sparkplug=False) as handler:
        found = await scan_until(handler, {"mqtt:announce/cams:cam-1"}, "the retained camera")
        cam = found["mqtt:announce/cams:cam-1"]
        assert (cam.device_class, cam.vendor, cam.model, cam.serial) == (
            "camera",
            "Axis",
            "P3245",
            "",
        )
        assert cam.address == f"{mosquitto.url}/announce/cams"
        assert cam.attributes == {"topic": "announce/cams", "site": "door"}

        plc = {"id": 17, "address": "modbus://10.0.0.7:502?unit=1", "firmware": 3}
        await publish(mosquitto, ("announce/plcs", json.dumps(plc).encode()))
        both = {"mqtt:announce/cams:cam-1", "mqtt:announce/plcs:17"}
        found = await scan_until(handler, both, "the PLC too")
        plc_found = found["mqtt:announce/plcs:17"]
        assert plc_found.address == "modbus://10.0.0.7:502?unit=1"
        assert plc_found.device_class == ""
        assert "firmware" not in plc_found.attributes  # strings only

        await publish(mosquitto, ("announce/plcs", json.dumps({"id": 17, "gone": True}).encode()))
        await scan_until(handler, {"mqtt:announce/cams:cam-1"}, 'the PLC gone after "gone"')

        await publish(mosquitto, ("announce/cams", b""), retain=True)
        await scan_until(handler, set(), "the camera gone with its retained message")


MALFORMED: list[Message] = [
    (sp.topic("NBIRTH", "plant1", "bad1"), b"\xff\xff\xff"),  # truncated varint
    (sp.topic("NBIRTH", "plant1", "bad2"), sp.payload(sp.metric("x", "y"), seq=None)[:-1]),
    (sp.topic("DBIRTH", "plant1", "edge1", "x" * 300), PUMP_BIRTH),  # identity too long
    (sp.topic("NBIRTH", "plant1", "bad3"), b"\x00" * (300 * 1024)),  # oversized
    ("spBv1.0//NBIRTH/edge1", NODE_BIRTH),  # no group
    ("announce/x", b"not json"),
    ("announce/x", b"[1, 2]"),
    ("announce/x", b'{"class": "camera"}'),  # no id
    ("announce/x", b'{"id": true}'),
    ("announce/x", b"[" * 100_000),  # nested too deep for json
    ("announce/x", b'{"id": "\xff"}'),  # not UTF-8
]


async def test_malformed_messages_are_ignored(mosquitto: Broker) -> None:
    async with listening(mosquitto, topics=["announce/#"]) as handler:
        await publish(mosquitto, *MALFORMED)
        await wait_until_async(
            lambda: handler.sightings.malformed,
            "every malformed message counted",
            WITHIN,
            accept=lambda n: n == len(MALFORMED),
        )
        assert await handler.scan() == []
        await publish(mosquitto, (sp.topic("NBIRTH", "plant1", "edge1"), NODE_BIRTH))
        await scan_until(handler, {NODE}, "a good birth after the bad ones")
        assert handler.listening


async def test_devices_held_are_bounded(mosquitto: Broker, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mqtt, "FOUND_PER_SCAN_MAX", 2)
    async with listening(mosquitto, topics=["announce/#"], sparkplug=False) as handler:
        await publish(mosquitto, *((f"announce/{i}", b'{"id": "d"}') for i in range(3)))
        await wait_until_async(lambda: handler.sightings.dropped, "one dropped", WITHIN)
        assert len(await handler.scan()) == 2


async def test_the_broker_restarted_and_a_new_birth_seen(mosquitto: Broker) -> None:
    async with listening(mosquitto) as handler:
        await publish(mosquitto, (sp.topic("NBIRTH", "plant1", "edge1"), NODE_BIRTH))
        await scan_until(handler, {NODE}, "the node")

        await asyncio.to_thread(mosquitto.stop)
        await wait_until_async(lambda: handler.last_error, "the handler to notice", WITHIN)
        # What it knew went with the connection: deaths while away would go unseen.
        assert await handler.scan() == []
        await asyncio.to_thread(mosquitto.start)
        await wait_until_async(
            lambda: handler.listening and handler.sessions == 2, "a reconnection", WITHIN
        )

        await publish(mosquitto, (sp.topic("NBIRTH", "plant1", "edge2"), NODE_BIRTH))
        await scan_until(handler, {"sparkplug:plant1/edge2"}, "the node born after the restart")


async def test_a_broker_away_at_first_is_waited_for(mosquitto: Broker) -> None:
    await asyncio.to_thread(mosquitto.stop)
    handler = mqtt.handler(MqttDiscovery(broker=mosquitto.url))
    try:
        assert await handler.scan() == []
        assert isinstance(handler, mqtt.MqttHandler)
        await wait_until_async(lambda: handler.last_error, "a failed connection", WITHIN)
        await asyncio.to_thread(mosquitto.start)
        await wait_until_async(lambda: handler.listening, "the handler to connect", WITHIN)
    finally:
        await handler.close()
