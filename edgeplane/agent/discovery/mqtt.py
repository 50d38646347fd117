"""MQTT discovery: devices that announce themselves at the site's broker.

The one handler that listens rather than asks. The first ``scan`` starts a listener
(an aiomqtt client, MQTT 3.1.1 as Sparkplug B specifies, clean session) that
subscribes to the Sparkplug births and deaths (when ``sparkplug``) and to each of
``topics``; every ``scan`` returns what is alive by then. A broker that is away is
tried again with a backoff (``RETRY_FIRST_SECONDS`` doubling to ``RETRY_MAX_SECONDS``);
nothing is raised to the runner.

What counts as alive (``Sightings``, pure, fed one message at a time):

* a Sparkplug edge node, ``sparkplug:<group>/<node>``, from its NBIRTH until its
  NDEATH (one whose ``bdSeq`` is not its birth's is a stale will, ignored). Its address
  is where its data comes: ``mqtt://host:port/spBv1.0/<group>/NDATA/<node>`` (the path
  is the topic, percent-encoded); attributes ``group`` and ``node`` name it.
* a Sparkplug device, ``sparkplug:<group>/<node>/<device>``, from its DBIRTH until its
  DDEATH, its node's NDEATH or its node's next NBIRTH (which its devices follow with
  births again); address ``mqtt://host:port/spBv1.0/<group>/DDATA/<node>/<device>``.
  Class, vendor, model and serial come from the birth's metrics (``FIELD_METRICS``,
  names compared without case); its other ``Properties/<x>`` metrics become attributes
  ``<x>``. Without a class metric the class is ``sensor``.
* a JSON announcement on one of ``topics``, ``mqtt:<topic>:<id>``: an object with
  ``id``, optional ``class``, ``vendor``, ``model``, ``serial``, ``address`` (else the
  topic's URL) and other string fields as attributes. ``{"id": ..., "gone": true}``
  removes it; an empty message (a retained one cleared) removes every announcement of
  its topic. Publish announcements retained: they then survive our reconnecting.

Births are not retained in Sparkplug, and we never ask for one (a rebirth NCMD is a
host application's act, and discovery only listens): a node born before the listener
connected appears at its next birth. When the connection drops, everything is
forgotten, as a Sparkplug host application marks all stale: deaths while we are away
go unseen, and the runner's grace period covers the gap.

Everything heard is untrusted: a message too large, not decodable, or naming an identity
too long or unprintable is ignored and counted (``malformed``, logged at debug); at most
``FOUND_PER_SCAN_MAX`` devices are held (the rest counted in ``dropped``); every text is
clipped. Neighbours: ``base`` (the contract), ``sparkplug`` (the payload decoder).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit

import aiomqtt
from paho.mqtt.client import topic_matches_sub
from paho.mqtt.reasoncodes import ReasonCode

from edgeplane.agent.discovery import sparkplug
from edgeplane.agent.discovery.base import (
    ATTRIBUTES_MAX,
    FOUND_PER_SCAN_MAX,
    IDENTITY_MAX_CHARS,
    Found,
    Handler,
    clip,
)

if TYPE_CHECKING:
    from edgeplane.api.discovery import MqttDiscovery

log = logging.getLogger("edgeplane.agent.discovery.mqtt")

NAMESPACE = "spBv1.0"
SPARKPLUG_FILTERS = (
    f"{NAMESPACE}/+/NBIRTH/+",
    f"{NAMESPACE}/+/DBIRTH/+/+",
    f"{NAMESPACE}/+/NDEATH/+",
    f"{NAMESPACE}/+/DDEATH/+/+",
)
RETRY_FIRST_SECONDS = 0.5
RETRY_MAX_SECONDS = 30.0
TIMEOUT_SECONDS = 10.0
QUEUE_MAX = 4096
"""Messages aiomqtt holds for us; past it a flood is dropped at the client."""
DEFAULT_CLASS = "sensor"
CLASS_MAX_CHARS = 63
"""The class is a label value."""
ATTRIBUTE_KEY_MAX_CHARS = 64
FIELD_METRICS: Mapping[str, tuple[str, ...]] = {
    "class": ("properties/class", "properties/device class", "class"),
    "vendor": (
        "properties/hardware make",
        "properties/manufacturer",
        "properties/vendor",
        "vendor",
        "manufacturer",
    ),
    "model": ("properties/hardware model", "properties/model", "model"),
    "serial": ("properties/serial number", "properties/serial", "serial number", "serial"),
}
"""Which birth metric (lower case) gives which field of Found; the first present wins.
``Properties/Hardware Make`` and ``Hardware Model`` are Ignition's (MQTT Transmission)."""
CLAIMED = frozenset(name for names in FIELD_METRICS.values() for name in names)
PROPERTIES = "properties/"
BDSEQ = "bdseq"
JSON_FIELDS = ("id", "class", "vendor", "model", "serial", "address", "gone")


def handler(params: MqttDiscovery) -> Handler:
    return MqttHandler(params)


class MqttHandler:
    def __init__(self, params: MqttDiscovery) -> None:
        self.host, self.port = _host_port(params.broker)
        netloc = f"[{self.host}]" if ":" in self.host else self.host
        self.broker = f"mqtt://{netloc}:{self.port}"
        topics = tuple(dict.fromkeys(params.topics))
        self.filters = (SPARKPLUG_FILTERS if params.sparkplug else ()) + topics
        self.sightings = Sightings(self.broker, params.sparkplug, params.topics)
        # Our own id: two profiles at one broker must not push each other off.
        self.client_id = f"edgeplane-discovery-{uuid.uuid4().hex[:12]}"
        self.listening = False
        self.sessions = 0
        """Connections that got as far as subscribing: a test waits on a reconnection."""
        self.last_error: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    async def scan(self) -> list[Found]:
        if self._task is None and not self._closed and self.filters:
            self._task = asyncio.create_task(self._listen(), name=f"discovery {self.broker}")
        return self.sightings.found()

    async def close(self) -> None:
        self._closed = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.wait([task])  # not ``await task``: our own cancellation stays ours

    async def _listen(self) -> None:
        pause = RETRY_FIRST_SECONDS
        while True:
            sessions = self.sessions
            try:
                await self._session()
            except Exception as e:  # the broker away, refusing, or gone: come back later
                self._failed(e)
            finally:
                self.listening = False
                self.sightings.forget()
            if self.sessions > sessions:
                pause = RETRY_FIRST_SECONDS  # it was up: the next try may well work
            # Jitter: a site's agents that lost one broker do not all return at once.
            await asyncio.sleep(pause * random.uniform(1.0, 1.25))
            pause = min(pause * 2, RETRY_MAX_SECONDS)

    async def _session(self) -> None:
        client = aiomqtt.Client(
            self.host,
            self.port,
            identifier=self.client_id,
            protocol=aiomqtt.ProtocolVersion.V311,
            timeout=TIMEOUT_SECONDS,
            max_queued_incoming_messages=QUEUE_MAX,
        )
        async with client:
            granted = await client.subscribe([(f, 1) for f in self.filters])
            refused = [f for f, g in zip(self.filters, granted, strict=False) if _refused(g)]
            if refused:
                log.warning("mqtt discovery at %s: refused %s (its ACL?)", self.broker, refused)
            self.sessions += 1
            self.listening, self.last_error = True, None
            async for message in client.messages:
                self.sightings.take(str(message.topic), _payload(message.payload))

    def _failed(self, error: Exception) -> None:
        text = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
        # Said once at warning; the same again while the broker stays away, at debug.
        level = logging.DEBUG if text == self.last_error else logging.WARNING
        ours = not isinstance(error, aiomqtt.MqttError | OSError)  # a bug: show where
        log.log(level, "mqtt discovery at %s: %s; trying again", self.broker, text, exc_info=ours)
        self.last_error = text


class Sightings:
    """What the broker has said is alive now, by identity. Pure: fed messages by the
    listener, read by ``scan``."""

    def __init__(self, broker: str, sparkplug: bool, topics: Sequence[str]) -> None:
        self.broker, self.sparkplug, self.topics = broker, sparkplug, tuple(topics)
        self._found: dict[str, Found] = {}
        self._origin: dict[str, str] = {}
        """What removes an entry with others: its node's identity, or ``topic:<topic>``."""
        self._bdseq: dict[str, int] = {}
        self.malformed = 0
        self.dropped = 0

    def found(self) -> list[Found]:
        return [self._found[identity] for identity in sorted(self._found)]

    def forget(self) -> None:
        self._found.clear()
        self._origin.clear()
        self._bdseq.clear()

    def take(self, topic: str, payload: bytes) -> None:
        """Learn from one message; a malformed one is counted and otherwise ignored."""
        try:
            if len(payload) > sparkplug.MAX_PAYLOAD_BYTES:
                raise ValueError(f"{len(payload)} bytes")
            if self.sparkplug and topic.startswith(NAMESPACE + "/"):
                self._sparkplug(topic, payload)
            elif any(topic_matches_sub(f, topic) for f in self.topics):
                self._announcement(topic, payload)
        except (ValueError, RecursionError) as e:  # RecursionError: JSON nested too deep
            self.malformed += 1
            log.debug("mqtt discovery: ignored a message on %r: %s", clip(topic), e)

    def _sparkplug(self, topic: str, payload: bytes) -> None:
        levels = topic.split("/")
        kind = levels[2] if len(levels) > 2 else ""
        if kind not in ("NBIRTH", "NDEATH", "DBIRTH", "DDEATH"):
            return  # data, commands, STATE (under a filter of ``topics``): not ours
        if len(levels) != (4 if kind[0] == "N" else 5) or not all(levels):
            raise ValueError(f"not a Sparkplug {kind} topic")
        group, node = levels[1], levels[3]
        node_id = _identity(f"sparkplug:{group}/{node}")
        if kind == "NBIRTH":
            self._node_birth(node_id, group, node, sparkplug.decode(payload, keep=_wanted))
        elif kind == "NDEATH":
            self._node_death(node_id, sparkplug.decode(payload, keep=_wanted))
        elif kind == "DDEATH":
            self._remove(_identity(f"{node_id}/{levels[4]}"))
        else:
            identity, device = _identity(f"{node_id}/{levels[4]}"), levels[4]
            metrics = sparkplug.decode(payload, keep=_wanted).metrics
            where = f"{NAMESPACE}/{group}/DDATA/{node}/{device}"
            context = {"group": group, "node": node, "device": device}
            self._add(identity, node_id, self._sparkplug_found(identity, where, metrics, context))

    def _node_birth(self, node_id: str, group: str, node: str, birth: sparkplug.Payload) -> None:
        self._remove_origin(node_id)  # its devices are born again after it
        where = f"{NAMESPACE}/{group}/NDATA/{node}"
        found = self._sparkplug_found(node_id, where, birth.metrics, {"group": group, "node": node})
        if self._add(node_id, node_id, found):
            bdseq = _bdseq(birth.metrics)
            if bdseq is not None:
                self._bdseq[node_id] = bdseq

    def _node_death(self, node_id: str, death: sparkplug.Payload) -> None:
        born, dead = self._bdseq.get(node_id), _bdseq(death.metrics)
        if born is not None and dead is not None and born != dead:
            log.debug("mqtt discovery: %s: NDEATH bdSeq %d of an older birth", node_id, dead)
            return
        self._remove_origin(node_id)
        self._remove(node_id)

    def _sparkplug_found(
        self,
        identity: str,
        topic: str,
        metrics: Mapping[str, sparkplug.Value],
        context: dict[str, str],
    ) -> Found:
        lowered = {name.strip().lower(): value for name, value in metrics.items()}
        fields = {key: _field(lowered, names) for key, names in FIELD_METRICS.items()}
        attributes = dict(context)
        for name, value in metrics.items():
            key, text = name.strip(), _text(value)
            if key.lower().startswith(PROPERTIES) and key.lower() not in CLAIMED and text:
                _attribute(attributes, key[len(PROPERTIES) :], text)
        return Found(
            identity=identity,
            protocol="mqtt",
            address=f"{self.broker}/{quote(topic)}",
            device_class=clip(fields["class"], CLASS_MAX_CHARS) or DEFAULT_CLASS,
            vendor=clip(fields["vendor"]),
            model=clip(fields["model"]),
            serial=clip(fields["serial"]),
            attributes=attributes,
        )

    def _announcement(self, topic: str, payload: bytes) -> None:
        origin = f"topic:{topic}"
        if not payload:
            self._remove_origin(origin)  # the retained announcement was cleared
            return
        body = json.loads(payload)
        if not isinstance(body, dict):
            raise ValueError("not a JSON object")
        raw_id = body.get("id")
        if isinstance(raw_id, bool) or not isinstance(raw_id, str | int) or raw_id == "":
            raise ValueError('no "id" (a string or an integer)')
        identity = _identity(f"mqtt:{topic}:{raw_id}")
        if body.get("gone") is True:
            self._remove(identity)
            return
        attributes = {"topic": clip(topic)}
        for key, value in body.items():
            if key not in JSON_FIELDS and isinstance(value, str) and value:
                _attribute(attributes, key, clip(value))
        found = Found(
            identity=identity,
            protocol="mqtt",
            address=clip(_string(body, "address")) or f"{self.broker}/{quote(topic)}",
            device_class=clip(_string(body, "class"), CLASS_MAX_CHARS),
            vendor=clip(_string(body, "vendor")),
            model=clip(_string(body, "model")),
            serial=clip(_string(body, "serial")),
            attributes=attributes,
        )
        self._add(identity, origin, found)

    def _add(self, identity: str, origin: str, found: Found) -> bool:
        if identity not in self._found and len(self._found) >= FOUND_PER_SCAN_MAX:
            self.dropped += 1
            log.debug("mqtt discovery: %d held already, %s dropped", len(self._found), identity)
            return False
        self._found[identity] = found
        self._origin[identity] = origin
        return True

    def _remove(self, identity: str) -> None:
        self._found.pop(identity, None)
        self._origin.pop(identity, None)
        self._bdseq.pop(identity, None)

    def _remove_origin(self, origin: str) -> None:
        for identity in [i for i, o in self._origin.items() if o == origin and i != origin]:
            self._remove(identity)


def _wanted(name: str) -> bool:
    """The birth metrics read here: the rest of a large birth is not held."""
    key = name.strip().lower()
    return key.startswith(PROPERTIES) or key == BDSEQ or key in CLAIMED


def _field(lowered: Mapping[str, sparkplug.Value], names: tuple[str, ...]) -> str:
    for name in names:
        text = _text(lowered.get(name))
        if text:
            return text
    return ""


def _bdseq(metrics: Mapping[str, sparkplug.Value]) -> int | None:
    for name, value in metrics.items():
        if name.strip().lower() == BDSEQ and isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def _text(value: sparkplug.Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return clip(value)
    return ""  # bytes, null: nothing to show


def _string(body: Mapping[str, object], key: str) -> str:
    value = body.get(key)
    return value if isinstance(value, str) else ""


def _attribute(attributes: dict[str, str], key: str, text: str) -> None:
    name = clip(key, ATTRIBUTE_KEY_MAX_CHARS)
    if name and name not in attributes and len(attributes) < ATTRIBUTES_MAX:
        attributes[name] = text


def _identity(text: str) -> str:
    """``text`` unchanged, or ValueError: an identity clipped would name another device."""
    if clip(text, IDENTITY_MAX_CHARS) != text:
        raise ValueError(f"identity of {len(text)} characters, or not printable")
    return text


def _refused(granted: object) -> bool:
    """A SUBACK's answer for one filter: paho gives a ReasonCode (0x80: refused)."""
    if isinstance(granted, ReasonCode):
        return bool(granted.is_failure)
    return isinstance(granted, int) and granted >= 0x80


def _payload(payload: object) -> bytes:
    if isinstance(payload, bytes | bytearray):
        return bytes(payload)
    return b"" if payload is None else str(payload).encode()


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    if parts.scheme != "mqtt" or not parts.hostname:
        raise ValueError(
            f"mqtt discovery: broker {url!r}: give mqtt://host:port, e.g. mqtt://127.0.0.1:1883"
        )
    return parts.hostname, parts.port or 1883
