"""The MQTT sink: each record a QoS 1 message on ``<prefix>/<site>/<stream>`` (MQTT v5).

``store`` publishes a batch, up to ``IN_FLIGHT`` messages at once, and returns when
the broker has sent a PUBACK for every one: aiomqtt's ``publish`` with ``qos=1`` waits
for paho's ``on_publish``, which paho calls on the PUBACK. A PUBACK may still refuse
(MQTT v5 reason code 0x80 or above, e.g. "not authorized"), which aiomqtt does not
report: ``_AckedClient`` notes those, and a batch with one fails as a whole.

A PUBACK means the broker took the message; whether it keeps it (persistence,
retained or queued for a persistent session) is the broker's and its subscribers'
affair. MQTT brokers drop no duplicates, so a batch sent again after a failure
arrives twice: every message carries user properties ``site``, ``stream``, ``seq``,
``at``, ``priority`` and ``epoch``, and consumers dedupe on (``site``, ``epoch``,
``seq``).

The connection stays open between batches. Every call is bounded by ``timeout``; any
failure, aiomqtt's or a timeout, drops the connection and becomes ``SinkError``, and
the next ``store`` connects afresh. Batches are stored one at a time (a lock), so a
refusal is pinned on the batch that drew it. Neighbours: the contract in ``sinks``
(this package), the NATS sink in ``sinks.nats``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from edgeplane.dataplane.sinks import SinkError, SinkRecord

log = logging.getLogger("edgeplane.dataplane.sinks.mqtt")

IN_FLIGHT = 256
"""Publishes awaiting their PUBACK at once (paho sends at most its own in-flight limit
and queues the rest): enough to hide the round trip."""
UNSAFE = frozenset("/+#\0")
"""Characters a topic level may not hold: the level separator and the wildcards, which
would publish to, or be read back as, other sites' topics (and NUL, which MQTT bans)."""
_FAILURES = (aiomqtt.MqttError, OSError)


class _AckedClient(aiomqtt.Client):
    """aiomqtt's client, also keeping the PUBACKs that refused a message.

    aiomqtt releases a waiting ``publish`` on any PUBACK, whatever its reason code;
    this hook (paho's ``on_publish``, which aiomqtt registers at construction) is the
    one place where the code is seen.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.refusals: list[ReasonCode] = []

    def _on_publish(
        self,
        client: Any,
        userdata: Any,
        mid: int,
        reason_code: ReasonCode,
        properties: Properties,
    ) -> None:
        if reason_code.is_failure:
            self.refusals.append(reason_code)
        super()._on_publish(client, userdata, mid, reason_code, properties)


class MqttSink:
    """Publishes records to the MQTT v5 broker at ``host``:``port``.

    ``client_id`` None lets the broker assign one; give a fixed one only to a single
    hub, since a broker disconnects the older of two clients with the same id.
    """

    def __init__(
        self,
        host: str,
        port: int,
        topic_prefix: str = "edgeplane/data",
        client_id: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        for level in topic_prefix.split("/"):
            if _unsafe(level):
                raise ValueError(
                    f"MqttSink: topic_prefix {topic_prefix!r} has an empty or unsafe "
                    "level: use slash-separated names without '+', '#' or NUL"
                )
        self.name = "mqtt"
        self.host, self.port, self.topic_prefix = host, port, topic_prefix
        self.client_id, self.timeout = client_id, timeout
        self._client: _AckedClient | None = None
        self._exits = contextlib.AsyncExitStack()
        self._one_batch = asyncio.Lock()

    async def start(self) -> None:
        async with self._one_batch, self._failing("connect"):
            await self._ready()

    async def store(self, records: Sequence[SinkRecord]) -> None:
        topics = [self.topic(record) for record in records]
        if not records:
            return
        async with self._one_batch, self._failing(f"store {len(records)} record(s)"):
            client = await self._ready()
            await self._publish_all(client, records, topics)

    async def close(self) -> None:
        async with self._one_batch:
            await self._drop()

    def topic(self, record: SinkRecord) -> str:
        """``<prefix>/<site>/<stream>``, or ``SinkError`` naming the unsafe field."""
        for field, level in (("site", record.site), ("stream", record.stream)):
            if _unsafe(level):
                raise SinkError(
                    f"{self._where}: record {record.site!r}:{record.seq} has {field} "
                    f"{level!r}, which is no safe topic level: it must be non-empty, "
                    "without '/', '+', '#' or NUL (a DNS-1123 label is)"
                )
        return f"{self.topic_prefix}/{record.site}/{record.stream}"

    @property
    def _where(self) -> str:
        return f"sink {self.name!r} (mqtt://{self.host}:{self.port})"

    @contextlib.asynccontextmanager
    async def _failing(self, doing: str) -> AsyncIterator[None]:
        """Bound the block by ``timeout``; on failure drop the connection (the next call
        connects afresh) and raise SinkError."""
        try:
            async with asyncio.timeout(self.timeout):
                yield
        except SinkError:
            await self._drop()
            raise
        except TimeoutError as e:
            await self._drop()
            raise SinkError(f"{self._where}: {doing}: no answer within {self.timeout} s") from e
        except _FAILURES as e:
            await self._drop()
            raise SinkError(f"{self._where}: {doing} failed: {_describe(e)}") from e

    async def _ready(self) -> _AckedClient:
        if self._client is None:
            client = _AckedClient(
                self.host,
                self.port,
                identifier=self.client_id,
                protocol=aiomqtt.ProtocolVersion.V5,
                timeout=self.timeout,
            )
            # aiomqtt warns past this many unanswered calls; IN_FLIGHT is by design.
            client.pending_calls_threshold = IN_FLIGHT
            await self._exits.enter_async_context(client)
            self._client = client
        return self._client

    async def _drop(self) -> None:
        self._client = None
        exits, self._exits = self._exits, contextlib.AsyncExitStack()
        # A broker that is gone cannot take our DISCONNECT: give up on it quietly.
        with contextlib.suppress(*_FAILURES, TimeoutError):
            async with asyncio.timeout(self.timeout):
                await exits.aclose()

    async def _publish_all(
        self, client: _AckedClient, records: Sequence[SinkRecord], topics: Sequence[str]
    ) -> None:
        slots = asyncio.Semaphore(IN_FLIGHT)
        refused_before = len(client.refusals)

        async def publish(record: SinkRecord, topic: str) -> None:
            async with slots:
                await client.publish(topic, record.body, qos=1, properties=properties(record))

        tries = (publish(r, t) for r, t in zip(records, topics, strict=True))
        results = await asyncio.gather(*tries, return_exceptions=True)
        failed = [r for r in results if isinstance(r, BaseException)]
        if failed:
            raise SinkError(
                f"{self._where}: {len(failed)} of {len(records)} record(s) got no PUBACK; "
                f"first: {_describe(failed[0])}"
            ) from failed[0]
        refused = client.refusals[refused_before:]
        if refused:
            raise SinkError(
                f"{self._where}: the broker refused {len(refused)} of {len(records)} "
                f"record(s): {refused[0]} (reason code {refused[0].value:#04x}); check "
                f"its ACL for {self.topic_prefix}/#"
            )


def properties(record: SinkRecord) -> Properties:
    """The PUBLISH properties of ``record``: its fields as user properties."""
    props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    props.UserProperty = [
        ("site", record.site),
        ("stream", record.stream),
        ("seq", str(record.seq)),
        ("at", repr(record.at)),
        ("priority", str(record.priority)),
        ("epoch", record.epoch),
    ]
    return props


def _unsafe(level: str) -> bool:
    return not level or any(c in UNSAFE for c in level)


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
