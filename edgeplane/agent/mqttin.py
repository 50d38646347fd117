"""Publishing over MQTT at the site: devices and workloads that speak MQTT publish to
the site's own broker, and the agent takes what a DataStream asks for.

For each DataStream with ``spec.mqtt.topic`` the agent subscribes at QoS 1 to that
topic filter at the broker named by its ``--mqtt-broker`` (``mqtt://host:port``), in a
persistent session (MQTT v5, no clean start, a day's session expiry): what is
published while the agent is down waits at the broker. Each message is a record of the
stream whose filter matches its topic (the first, by name), and is acknowledged
(PUBACK, paho's manual acknowledgement) only once it is spooled: a message the agent
did not take is delivered again when it reconnects. A message there is no room for is
not acknowledged; the agent drops the connection and comes back after
``RETRY_SECONDS`` to be given it again (the broker holds it, and holds back the rest:
no message is lost or passed over).

Who may publish to a topic is the broker's business (its ACLs); the agent trusts its
site's broker. From the broker to the spool it is at least once: a message spooled
just before the agent is killed, and not yet acknowledged, is spooled again when the
broker delivers it again (records published over HTTP are taken exactly once).

aiomqtt is imported only when the agent has a broker. Neighbours: ``agent.data``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    import aiomqtt

log = logging.getLogger("edgeplane.agent.mqttin")
RETRY_SECONDS = 2.0
IDLE_SECONDS = 5.0
SESSION_EXPIRY_SECONDS = 24 * 3600
Take = Callable[[str, bytes], Awaitable[bool]]
"""Spool one record of a stream: True once it is on disk, False when there is no room."""


class MqttIngress:
    def __init__(
        self,
        url: str,
        client_id: str,
        filters: Callable[[], Mapping[str, str]],
        take: Take,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme != "mqtt" or not parts.hostname:
            raise ValueError(
                f"--mqtt-broker {url!r}: give mqtt://host:port, e.g. mqtt://127.0.0.1:1883"
            )
        self.host, self.port = parts.hostname, parts.port or 1883
        self.client_id, self.filters, self.take = client_id, filters, take
        self.taken = 0
        self.last_error: str | None = None

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            wanted = dict(self.filters())
            if not wanted:
                await _pause(stop, IDLE_SECONDS)
                continue
            try:
                await self._session(stop, wanted)
            except Exception as e:  # the broker gone, refused, or anything: come back later
                self.last_error = str(e) or type(e).__name__
                log.warning("mqtt: %s; again in %.0f s", self.last_error, RETRY_SECONDS)
            await _pause(stop, RETRY_SECONDS)

    async def _session(self, stop: asyncio.Event, wanted: Mapping[str, str]) -> None:
        import aiomqtt  # only with a broker: the agent stays small without one
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        connect = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        connect.SessionExpiryInterval = SESSION_EXPIRY_SECONDS
        client = aiomqtt.Client(
            self.host,
            self.port,
            identifier=self.client_id,
            protocol=aiomqtt.ProtocolVersion.V5,
            clean_start=False,
            properties=connect,
        )
        # Acknowledged once spooled, not on receipt (aiomqtt has no option for it).
        client._client.manual_ack_set(True)
        async with client:
            for topic in sorted(set(wanted.values())):
                await client.subscribe(topic, qos=1)
            self.last_error = None
            await self._messages(client, wanted, stop)

    async def _messages(
        self, client: aiomqtt.Client, wanted: Mapping[str, str], stop: asyncio.Event
    ) -> None:
        from paho.mqtt.client import topic_matches_sub

        messages = client.messages
        while not stop.is_set():
            try:
                async with asyncio.timeout(IDLE_SECONDS):
                    message = await anext(messages)
            except TimeoutError:
                if dict(self.filters()) != dict(wanted):
                    return  # the streams changed: subscribe again
                continue
            topic = str(message.topic)
            streams = sorted(s for s, f in wanted.items() if topic_matches_sub(f, topic))
            payload = message.payload
            body = payload if isinstance(payload, bytes) else str(payload).encode()
            if streams and not await self.take(streams[0], body):
                return  # no room: unacknowledged, the broker gives it again later
            # A topic no stream asks for any more (an older subscription of the
            # session) is acknowledged and dropped.
            client._client.ack(message.mid, message.qos)
            self.taken += bool(streams)
            if dict(self.filters()) != dict(wanted):
                return  # the streams changed: subscribe again


async def _pause(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await stop.wait()
