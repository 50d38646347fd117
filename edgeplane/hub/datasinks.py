"""The hub's external data sinks: NATS JetStream and MQTT, when the hub was started
with ``--nats-url`` / ``--mqtt-url``. A DataStream names one with ``spec.sink``
(``type: nats`` and an optional ``subject`` prefix, ``type: mqtt`` and ``topic``);
admission refuses a stream whose sink this hub has not got (``check_stream``), so a
field the API accepts works.

A sink is made on first use for each (type, prefix) and kept; its modules (nats-py,
aiomqtt) are imported only then. ``store`` returns once the broker acknowledged every
record, and raises ``SinkUnavailable`` otherwise: the site keeps the records and sends
them again (JetStream drops the repeats by message id ``<site>:<epoch>:<seq>``; MQTT
consumers dedupe by the user properties each message carries).

Neighbours: ``dataplane.sinks`` (the sinks themselves), ``hub.data`` (ingest).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from edgeplane.api.wire import Object
from edgeplane.dataplane.sinks import Sink, SinkError, SinkRecord
from edgeplane.hub.errors import ApiError
from edgeplane.store.protocol import DataRecord

DEFAULT_PREFIX = {"nats": "edgeplane.data", "mqtt": "edgeplane/data"}
FLAGS = {"nats": "--nats-url", "mqtt": "--mqtt-url"}


class SinkUnavailable(Exception):
    """A sink did not store a batch: what failed, for the 503 the site gets."""


@dataclass(frozen=True)
class SinkUrls:
    nats: str | None = None
    mqtt: str | None = None

    def of(self, kind: str) -> str | None:
        return {"nats": self.nats, "mqtt": self.mqtt}.get(kind)


def check_stream(obj: Object, urls: SinkUrls) -> None:
    """422 for a DataStream whose sink this hub has not got."""
    kind = ((obj.get("spec") or {}).get("sink") or {}).get("type") or "hub"
    if kind != "hub" and urls.of(kind) is None:
        name = obj["metadata"]["name"]
        raise ApiError(
            422,
            "Invalid",
            f'DataStream "{name}": spec.sink.type: this hub has no {kind} sink: start the hub '
            f"with {FLAGS[kind]}, or use type: hub",
            "spec.sink.type",
        )


class Sinks:
    def __init__(self, urls: SinkUrls) -> None:
        self.urls = urls
        self._sinks: dict[str, Sink] = {}
        self._lock = asyncio.Lock()

    async def store(self, key: str, records: Sequence[DataRecord]) -> None:
        """Store ``records`` in the sink ``key`` names (``nats:<subject>``,
        ``mqtt:<topic>``; an empty prefix: the default)."""
        sink = await self._sink(key)
        try:
            await sink.store([_sink_record(r) for r in records])
        except SinkError as e:
            raise SinkUnavailable(f"the {sink.name} sink did not store the batch: {e}") from e

    async def close(self) -> None:
        sinks, self._sinks = list(self._sinks.values()), {}
        await asyncio.gather(*(s.close() for s in sinks), return_exceptions=True)

    async def _sink(self, key: str) -> Sink:
        async with self._lock:
            if (sink := self._sinks.get(key)) is not None:
                return sink
            kind, _, prefix = key.partition(":")
            url = self.urls.of(kind)
            if url is None:
                raise SinkUnavailable(f"this hub has no {kind} sink ({FLAGS.get(kind, kind)})")
            sink = _made(kind, url, prefix or DEFAULT_PREFIX[kind])
            try:
                await sink.start()
            except SinkError as e:
                raise SinkUnavailable(f"the {kind} sink at {url} did not start: {e}") from e
            self._sinks[key] = sink
            return sink


def _made(kind: str, url: str, prefix: str) -> Sink:
    if kind == "nats":
        from edgeplane.dataplane.sinks.nats import NatsSink

        return NatsSink(url, subject_prefix=prefix)
    from edgeplane.dataplane.sinks.mqtt import MqttSink

    parts = urlsplit(url)
    return MqttSink(parts.hostname or "127.0.0.1", parts.port or 1883, topic_prefix=prefix)


def _sink_record(r: DataRecord) -> SinkRecord:
    return SinkRecord(r.site, r.stream, r.seq, r.at, r.priority, r.body, r.epoch)
