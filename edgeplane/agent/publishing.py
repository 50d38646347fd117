"""The agent's publishing endpoint: workloads at the site POST records to it on loopback.

A small HTTP/1.1 server (h11, over asyncio streams: the agent stays without a web
framework), bound to 127.0.0.1 only. Workloads find it in their environment
(``EDGEPLANE_DATA_URL``, with their own ``EDGEPLANE_DATA_TOKEN``: ``agent.data``):

* ``POST /v1/streams/<stream>`` with ``Authorization: Bearer <token>``: the body is
  JSON lines (``Content-Type: application/x-ndjson``, one record a line, empty lines
  skipped) or one record of any bytes (any other type). 201 once every record is on
  disk; 429 when the spool has no room (``reason`` and ``message`` say why and what to
  change); 400/401/403/404/413 for a bad request, which changes nothing.
* ``GET /v1/streams``: the streams this token may publish to.
* ``POST /metrics`` with the same token: the custom metrics a workload reports
  (``agent.metrics``); 204 once kept, 400 naming the field at fault.

Bounded against a workload gone wrong: a body of at most ``MAX_BODY_BYTES``, a header
block of at most 16 KiB, ``MAX_CONNECTIONS`` connections at once, and
``REQUEST_SECONDS`` for a whole request (head and body) or between two. Neighbours:
``agent.data`` (what a request does).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import h11

log = logging.getLogger("edgeplane.agent.publishing")
MAX_BODY_BYTES = 1024 * 1024
MAX_HEADER_BYTES = 16 * 1024
MAX_CONNECTIONS = 64
REQUEST_SECONDS = 10.0
"""A request's head and body, whole; and how long a connection may idle between two."""
READ_BYTES = 64 * 1024


@dataclass(frozen=True)
class Publish:
    """One request as the data plane sees it."""

    method: str
    path: str
    token: str | None
    content_type: str
    body: bytes


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]


Handler = Callable[[Publish], Awaitable[Answer]]


def refusal(status: int, reason: str, message: str) -> Answer:
    return Answer(status, {"reason": reason, "message": message})


class PublishServer:
    def __init__(self, handler: Handler, host: str = "127.0.0.1", port: int = 0) -> None:
        self.handler, self.host, self.port = handler, host, port
        self._server: asyncio.Server | None = None
        self._slots = asyncio.Semaphore(MAX_CONNECTIONS)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._connection, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._slots.locked():
            writer.close()  # over the limit: refused before anything is read
            return
        async with self._slots:
            try:
                await self._serve(h11.Connection(h11.SERVER, MAX_HEADER_BYTES), reader, writer)
            except (TimeoutError, ConnectionError, h11.ProtocolError) as e:
                log.debug("publishing connection ended: %r", e)
            finally:
                writer.close()
                with contextlib.suppress(Exception):
                    await writer.wait_closed()

    async def _serve(
        self, conn: h11.Connection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        while True:
            # The whole request, head and body, within one deadline: a workload that
            # drips a byte at a time holds a connection slot no longer than that.
            async with asyncio.timeout(REQUEST_SECONDS):
                request = await _next(conn, reader)
                if not isinstance(request, h11.Request):
                    return
                publish = await self._read(conn, reader, request)
            answer = publish if isinstance(publish, Answer) else await self._handled(publish)
            _send(conn, writer, answer)
            await writer.drain()
            if conn.our_state is h11.MUST_CLOSE or conn.their_state is h11.MUST_CLOSE:
                return
            try:
                conn.start_next_cycle()
            except h11.ProtocolError:
                return

    async def _read(
        self, conn: h11.Connection, reader: asyncio.StreamReader, request: h11.Request
    ) -> Publish | Answer:
        headers = {k.decode().lower(): v.decode("latin-1") for k, v in request.headers}
        declared = headers.get("content-length", "0")
        if not declared.isdigit() or int(declared) > MAX_BODY_BYTES:
            return refusal(
                413,
                "TooLarge",
                f"a request body is at most {MAX_BODY_BYTES} bytes: send less at once",
            )
        body = bytearray()
        while isinstance(event := await _next(conn, reader), h11.Data):
            body += event.data
            if len(body) > MAX_BODY_BYTES:
                return refusal(413, "TooLarge", f"a request body is at most {MAX_BODY_BYTES} bytes")
        auth = headers.get("authorization", "")
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else None
        return Publish(
            request.method.decode(),
            request.target.decode("latin-1"),
            token,
            headers.get("content-type", "application/octet-stream"),
            bytes(body),
        )

    async def _handled(self, publish: Publish) -> Answer:
        try:
            return await self.handler(publish)
        except Exception:  # one bad request must not end the server
            log.exception("publishing: %s %s failed", publish.method, publish.path)
            return refusal(500, "InternalError", "the agent failed to take the records")


async def _next(conn: h11.Connection, reader: asyncio.StreamReader) -> Any:
    while True:
        event = conn.next_event()
        if event is not h11.NEED_DATA:
            return event
        data = await reader.read(READ_BYTES)  # the caller's deadline bounds it
        conn.receive_data(data)


def _send(conn: h11.Connection, writer: asyncio.StreamWriter, answer: Answer) -> None:
    content = b""
    headers: list[tuple[str, str]] = []
    if answer.status != 204:  # 204 No Content: HTTP allows it no body, h11 none sent
        content = json.dumps(answer.body, separators=(",", ":")).encode()
        headers = [("content-type", "application/json"), ("content-length", str(len(content)))]
    if conn.their_state not in (h11.DONE, h11.IDLE):
        headers.append(("connection", "close"))  # the body was not read to its end
    writer.write(conn.send(h11.Response(status_code=answer.status, headers=headers)) or b"")
    if content:
        writer.write(conn.send(h11.Data(data=content)) or b"")
    writer.write(conn.send(h11.EndOfMessage()) or b"")
