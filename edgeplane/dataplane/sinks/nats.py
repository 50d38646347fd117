"""The NATS JetStream sink: each record a message on ``<prefix>.<site>.<stream>``.

``start`` connects and makes sure a stream (file storage) covers ``<prefix>.>``;
``store`` publishes a batch, up to ``IN_FLIGHT`` messages at once, and returns when
JetStream has acknowledged every one (a PubAck, which JetStream sends once the message
is stored). Each message carries ``Nats-Msg-Id: <site>:<epoch>:<seq>``, so a batch sent again
after a failure, or a message the client re-sent on reconnecting, is dropped by the
stream within its duplicate window, and its PubAck (marked duplicate) counts as stored.
The record's fields travel as ``Edgeplane-*`` headers, the body as the payload.

Every call is bounded by ``timeout``; every failure, nats-py's or a timeout, becomes
``SinkError``. The client reconnects by itself a few times (``RECONNECT_ATTEMPTS``)
and then gives up; the next ``store`` then connects afresh. While it is reconnecting,
``store`` fails at once rather than buffer messages until the timeout. Neighbours: the contract
in ``sinks`` (this package), the MQTT sink in ``sinks.mqtt``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from urllib.parse import urlsplit, urlunsplit

import nats.errors
import nats.js.errors
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from nats.js.api import PubAck, StorageType, StreamConfig

from edgeplane.dataplane.sinks import SinkError, SinkRecord

log = logging.getLogger("edgeplane.dataplane.sinks.nats")

DUPLICATE_WINDOW = 120.0
"""Seconds during which JetStream drops a message whose Nats-Msg-Id it has seen: longer
than a batch takes to time out and be sent again."""
IN_FLIGHT = 256
"""Messages awaiting their PubAck at once: enough to hide the round trip, few enough
not to flood the client's buffer when the server is slow."""
RECONNECT_ATTEMPTS = 5
RECONNECT_WAIT = 1
CONNECT_TIMEOUT = 2
UNSAFE = frozenset(".*>")
"""Characters a subject token may not hold (besides whitespace): the token separator and
the wildcards, which would publish to, or be read back as, other sites' subjects."""
_FAILURES = (nats.errors.Error, OSError)


class NatsSink:
    """Stores records in a JetStream stream on the server at ``url``."""

    def __init__(
        self,
        url: str,
        subject_prefix: str = "edgeplane.data",
        stream_name: str = "EDGEPLANE_DATA",
        timeout: float = 10.0,
    ) -> None:
        for token in subject_prefix.split("."):
            if _unsafe(token):
                raise ValueError(
                    f"NatsSink: subject_prefix {subject_prefix!r} has an empty or unsafe "
                    "token: use dot-separated names without '*', '>' or whitespace"
                )
        self.name = "nats"
        self.url, self.subject_prefix, self.stream_name = url, subject_prefix, stream_name
        self.timeout = timeout
        self._client: NatsClient | None = None
        self._js: JetStreamContext | None = None
        self._connecting = asyncio.Lock()

    async def start(self) -> None:
        async with self._failing("connect and ensure the stream"):
            await self._ready()

    async def store(self, records: Sequence[SinkRecord]) -> None:
        subjects = [self.subject(record) for record in records]
        if not records:
            return
        async with self._failing(f"store {len(records)} record(s)"):
            js = await self._ready()
            await self._publish_all(js, records, subjects)

    async def close(self) -> None:
        client, self._client, self._js = self._client, None, None
        if client is not None:
            await self._quietly_close(client)

    def subject(self, record: SinkRecord) -> str:
        """``<prefix>.<site>.<stream>``, each name's dots as ``_`` (object names may hold
        dots, never ``_``: no two names share a token; the headers carry the names as
        they are), or ``SinkError`` naming the unsafe field."""
        tokens = []
        for field, name in (("site", record.site), ("stream", record.stream)):
            token = name.replace(".", "_")
            tokens.append(token)
            if _unsafe(token):
                raise SinkError(
                    f"{self._where}: record {record.site!r}:{record.seq} has {field} "
                    f"{name!r}, which is no safe subject token: it must be non-empty, "
                    "without '*', '>' or whitespace (an object name is)"
                )
        return f"{self.subject_prefix}.{tokens[0]}.{tokens[1]}"

    @property
    def _where(self) -> str:
        return f"sink {self.name!r} ({_without_secrets(self.url)}, stream {self.stream_name})"

    @contextlib.asynccontextmanager
    async def _failing(self, doing: str) -> AsyncIterator[None]:
        """Bound the block by ``timeout`` and turn whatever went wrong into SinkError."""
        try:
            async with asyncio.timeout(self.timeout):
                yield
        except TimeoutError as e:
            # nats-py's own timeouts are TimeoutErrors too: either way, no answer in time.
            raise SinkError(f"{self._where}: {doing}: no answer within {self.timeout} s") from e
        except _FAILURES as e:
            raise SinkError(f"{self._where}: {doing} failed: {_describe(e)}") from e

    async def _ready(self) -> JetStreamContext:
        if self._client is not None and self._client.is_reconnecting:
            # Messages published now would wait in the client's buffer until the
            # timeout; failing at once lets the caller back off sooner.
            raise SinkError(f"{self._where}: the server is unreachable (reconnecting to it)")
        async with self._connecting:  # one connection, however many batches wait on it
            if self._client is None or self._js is None or self._client.is_closed:
                await self.close()
                self._client, self._js = await self._connect()
            return self._js

    async def _connect(self) -> tuple[NatsClient, JetStreamContext]:
        client = NatsClient()
        try:
            await client.connect(
                servers=[self.url],
                name="edgeplane-sink",
                connect_timeout=CONNECT_TIMEOUT,
                reconnect_time_wait=RECONNECT_WAIT,
                max_reconnect_attempts=RECONNECT_ATTEMPTS,
                error_cb=self._on_error,
            )
            js = client.jetstream(timeout=self.timeout)
            await self._ensure_stream(js)
        except BaseException:
            # Also when the timeout cancelled us: a client left connecting would go on
            # trying in the background.
            await self._quietly_close(client)
            raise
        return client, js

    async def _ensure_stream(self, js: JetStreamContext) -> None:
        ours = f"{self.subject_prefix}.>"
        try:
            config = (await js.stream_info(self.stream_name)).config
        except nats.js.errors.NotFoundError:
            config = StreamConfig(
                name=self.stream_name,
                subjects=[ours],
                storage=StorageType.FILE,
                duplicate_window=DUPLICATE_WINDOW,
            )
            # Another hub may add it meanwhile: JetStream accepts an identical config.
            await js.add_stream(config)
            log.info("%s: created the stream for %s", self._where, ours)
            return
        subjects = list(config.subjects or [])
        if not any(covers(pattern, ours) for pattern in subjects):
            # A sink of another prefix made the stream: it takes our subjects too.
            await js.update_stream(config.evolve(subjects=[*subjects, ours]))
            log.info("%s: added %s to the stream's subjects", self._where, ours)

    async def _publish_all(
        self, js: JetStreamContext, records: Sequence[SinkRecord], subjects: Sequence[str]
    ) -> None:
        slots = asyncio.Semaphore(IN_FLIGHT)

        async def publish(record: SinkRecord, subject: str) -> PubAck:
            async with slots:
                return await js.publish(
                    subject, record.body, stream=self.stream_name, headers=headers(record)
                )

        tries = (publish(r, s) for r, s in zip(records, subjects, strict=True))
        results = await asyncio.gather(*tries, return_exceptions=True)
        failed = [r for r in results if isinstance(r, BaseException)]
        if failed:
            raise SinkError(
                f"{self._where}: {len(failed)} of {len(records)} record(s) got no PubAck; "
                f"first: {_describe(failed[0])}"
            ) from failed[0]
        duplicates = sum(1 for r in results if isinstance(r, PubAck) and r.duplicate)
        if duplicates:
            log.debug("%s: %d duplicate(s) dropped by the stream", self._where, duplicates)

    async def _on_error(self, error: Exception) -> None:
        # nats-py reports each failed (re)connect here; the caller hears of it as a
        # SinkError from store(), so this only leaves a trace.
        log.debug("%s: %s", self._where, _describe(error))

    async def _quietly_close(self, client: NatsClient) -> None:
        with contextlib.suppress(*_FAILURES, TimeoutError):
            async with asyncio.timeout(self.timeout):
                await client.close()


def headers(record: SinkRecord) -> dict[str, str]:
    """The message headers of ``record``: its id for JetStream, its fields for readers."""
    return {
        "Nats-Msg-Id": f"{record.site}:{record.epoch}:{record.seq}",
        "Edgeplane-Site": record.site,
        "Edgeplane-Stream": record.stream,
        "Edgeplane-Seq": str(record.seq),
        "Edgeplane-At": repr(record.at),
        "Edgeplane-Priority": str(record.priority),
        "Edgeplane-Epoch": record.epoch,
    }


def covers(pattern: str, subject: str) -> bool:
    """Whether every subject that ``subject`` (which may hold wildcards) matches is
    also matched by ``pattern``: ``edgeplane.>`` covers ``edgeplane.data.>``."""
    wanted = subject.split(".")
    for i, token in enumerate(pattern.split(".")):
        if token == ">":
            return i < len(wanted)
        if i >= len(wanted) or wanted[i] == ">" or token not in ("*", wanted[i]):
            return False
    return len(pattern.split(".")) == len(wanted)


def _without_secrets(url: str) -> str:
    """``url`` without its user and password, fit for an error message."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def _unsafe(token: str) -> bool:
    return not token or any(c in UNSAFE or c.isspace() for c in token)


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
