"""Publishing over MQTT at the site, with a real mosquitto, hub and agent: messages a
device publishes to the site's broker reach the hub's sink, also those published while
the agent was killed with -9 (its persistent session holds them), each at least once
and at most one twice (the one spooled but not yet acknowledged when it died)."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from tests.integration.dataplane.datahome import TEMPS, bodies_at, publisher_app
from tests.support.brokers import Broker
from tests.support.fleet import Fleet, wait_for

pytestmark = pytest.mark.timeout(240)
SENSORS = 5


async def publish(broker: Broker, numbers: range) -> None:
    """A device: ``{"n": i}`` for each number, at QoS 1 (the broker has each when this returns)."""
    async with aiomqtt.Client(broker.host, broker.port, identifier="device") as device:
        for n in numbers:
            topic = f"sensors/s{n % SENSORS}/temp"
            await device.publish(topic, json.dumps({"n": n}).encode(), qos=1)


def numbers_at(fleet: Fleet) -> Counter[int]:
    return Counter(json.loads(body)["n"] for body in bodies_at(fleet))


def test_messages_at_the_sites_broker_arrive_through_an_agent_kill_9(
    fleet: Fleet, mosquitto: Broker, tmp_path: Path
) -> None:
    spec: dict[str, Any] = {**TEMPS["spec"], "mqtt": {"topic": "sensors/+/temp"}}
    fleet.ok("POST", "/datastreams", {**TEMPS, "spec": spec})
    agent = fleet.add_agent("store-m", None, "--mqtt-broker", mosquitto.url)
    wait_for(lambda: fleet.site_phase("store-m") == "Online", "store-m online")
    # A gateway application makes the stream reach the site (its selector's team).
    fleet.ok("POST", "/applications", publisher_app("gateway", tmp_path / "ledger", 0))

    def subscribed() -> bool:
        asyncio.run(publish(mosquitto, range(-1, 0)))  # a probe, until one arrives
        return -1 in numbers_at(fleet)

    wait_for(subscribed, "the agent subscribed at the broker", 120)
    asyncio.run(publish(mosquitto, range(0, 300)))
    wait_for(lambda: len(numbers_at(fleet)) > 100, "messages home", 90)
    agent.kill9()
    asyncio.run(publish(mosquitto, range(300, 600)))  # held by the broker for the agent
    agent.start()

    def complete() -> Counter[int] | None:
        found = numbers_at(fleet)
        return found if set(range(600)) <= set(found) else None

    seen = wait_for(complete, "every message at the hub", 120)
    twice = [n for n, times in seen.items() if n >= 0 and times > 1]
    assert len(twice) <= 1, f"more than the one unacknowledged message came twice: {twice}"
