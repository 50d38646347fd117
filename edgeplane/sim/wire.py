"""A small, strict HTTP/1.1 client on asyncio streams, for the simulator and benchmarks.

httpx spends about a millisecond of CPU per request; a simulator of 10,000 sites sends
1,000 heartbeats a second, so it speaks HTTP itself: keep-alive connections, answers
with Content-Length, chunked or read to the end, NDJSON read line by line, optional TLS
verified against a CA, and a chosen local (source) address. Everything read is bounded:
the head (status line and headers), the number of headers, a body, a line.

Neighbours: ``sim.fleet`` and ``sim.site`` (its users), ``benchmarks/`` (the
kube-apiserver baseline sends its Lease renewals with ``Connection.request``).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson

MAX_HEAD_BYTES = 64 * 1024
MAX_HEADERS = 100
MAX_BODY_BYTES = 16 * 1024 * 1024
MAX_LINE_BYTES = 1024 * 1024
MAX_CHUNK_LINE = 1024
"""A chunk-size line (hex size and extensions); more is not HTTP."""
CONNECT_SECONDS = 10.0


class WireError(Exception):
    """The connection broke, or the peer broke HTTP/1.1; the connection is unusable."""


class Stale(WireError):
    """A kept connection was closed by the peer before any byte of the answer came:
    the request may be sent again on a new connection."""


class TooLarge(WireError):
    """A head, body or line passed its bound."""


@dataclass(frozen=True)
class Endpoint:
    """Where the server is: host, port, and TLS (a verifying context) or None."""

    host: str
    port: int
    tls: ssl.SSLContext | None = None

    @classmethod
    def from_url(cls, url: str, ca_file: str | None = None) -> Endpoint:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{url!r}: give http://HOST:PORT or https://HOST:PORT")
        tls = None
        if parts.scheme == "https":
            tls = ssl.create_default_context(cafile=ca_file)
        return cls(parts.hostname, parts.port or (443 if tls else 80), tls)


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    """Names lower-cased; a repeated header keeps its last value."""
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body) if self.body else None


def _check(text: str, what: str) -> str:
    if any(c in text for c in "\r\n\0"):
        raise ValueError(f"{what} {text[:80]!r} holds a line break or NUL")
    return text


def encode_request(
    method: str, path: str, host: str, headers: Iterable[tuple[str, str]], body: bytes
) -> bytes:
    """The bytes of one request; a header or path holding a line break is refused."""
    lines = [f"{_check(method, 'method')} {_check(path, 'path')} HTTP/1.1", f"Host: {host}"]
    lines += [f"{_check(k, 'header')}: {_check(v, 'header value')}" for k, v in headers]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    """Status and headers of an answer's head (without its final blank line)."""
    lines = head.decode("latin-1").split("\r\n")
    status_line = lines[0].split(" ", 2)
    if len(status_line) < 2 or not status_line[0].startswith("HTTP/1."):
        raise WireError(f"not an HTTP/1.x status line: {lines[0][:80]!r}")
    if not (status_line[1].isdigit() and len(status_line[1]) == 3):
        raise WireError(f"not an HTTP status: {status_line[1][:20]!r}")
    if len(lines) - 1 > MAX_HEADERS:
        raise TooLarge(f"more than {MAX_HEADERS} headers")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise WireError(f"not a header line: {line[:80]!r}")
        headers[name.lower()] = value.strip()
    return int(status_line[1]), headers


class Connection:
    """One kept HTTP/1.1 connection; one request at a time."""

    def __init__(
        self, endpoint: Endpoint, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.endpoint, self._reader, self._writer = endpoint, reader, writer
        self.reusable = True
        self._bodiless = False
        self.used = 0
        """Requests answered on it (a stale reused one may be retried)."""

    @classmethod
    async def open(cls, endpoint: Endpoint, local_host: str | None = None) -> Connection:
        try:
            async with asyncio.timeout(CONNECT_SECONDS):
                reader, writer = await asyncio.open_connection(
                    endpoint.host,
                    endpoint.port,
                    ssl=endpoint.tls,
                    local_addr=(local_host, 0) if local_host else None,
                    limit=MAX_HEAD_BYTES,
                )
        except (OSError, TimeoutError) as e:
            raise WireError(f"cannot connect to {endpoint.host}:{endpoint.port}: {e!r}") from e
        return cls(endpoint, reader, writer)

    def close(self) -> None:
        self.reusable = False
        with contextlib.suppress(Exception):
            self._writer.close()

    async def request(
        self,
        method: str,
        path: str,
        headers: Iterable[tuple[str, str]] = (),
        body: bytes = b"",
        max_body: int = MAX_BODY_BYTES,
    ) -> Response:
        """Send one request and read the whole answer (at most ``max_body`` bytes)."""
        status, answer_headers = await self.start(method, path, headers, body)
        data = await self.read_body(answer_headers, max_body)
        return Response(status, answer_headers, data)

    async def start(
        self, method: str, path: str, headers: Iterable[tuple[str, str]] = (), body: bytes = b""
    ) -> tuple[int, dict[str, str]]:
        """Send one request and read the answer's head; read its body next."""
        if not self.reusable:
            raise WireError("this connection is closed")
        try:
            self._writer.write(encode_request(method, path, self.endpoint.host, headers, body))
            await self._writer.drain()
            head = await self._reader.readuntil(b"\r\n\r\n")
        except asyncio.LimitOverrunError as e:
            self.close()
            raise TooLarge(f"an answer's head over {MAX_HEAD_BYTES} bytes") from e
        except asyncio.IncompleteReadError as e:
            self.close()
            error = Stale if not e.partial and self.used else WireError
            raise error(f"the connection closed before the answer ({len(e.partial)} bytes)") from e
        except (OSError, ssl.SSLError) as e:
            self.close()
            raise (Stale if self.used else WireError)(f"connection failed: {e!r}") from e
        try:
            status, answer_headers = parse_head(head[:-4])
        except WireError:
            self.close()
            raise
        if answer_headers.get("connection", "").lower() == "close":
            self.reusable = False
        self._bodiless = status in (204, 304) or status < 200
        return status, answer_headers

    async def read_body(self, headers: dict[str, str], max_body: int = MAX_BODY_BYTES) -> bytes:
        parts, size = [], 0
        async for piece in self.pieces(headers):
            size += len(piece)
            if size > max_body:
                self.close()
                raise TooLarge(f"an answer's body over {max_body} bytes")
            parts.append(piece)
        return b"".join(parts)

    async def pieces(self, headers: dict[str, str]) -> AsyncIterator[bytes]:
        """The body as it arrives: by Content-Length, chunked, or to the end."""
        try:
            if self._bodiless:
                pass  # 204, 304 and 1xx have no body, whatever their headers say
            elif "chunked" in headers.get("transfer-encoding", "").lower():
                async for chunk in self._chunks():
                    yield chunk
            elif (length := headers.get("content-length")) is not None:
                if not length.isdigit():
                    raise WireError(f"Content-Length {length[:20]!r} is not a number")
                async for piece in self._exactly(int(length)):
                    yield piece
            else:
                self.reusable = False  # the body ends with the connection
                while piece := await self._reader.read(65536):
                    yield piece
            self.used += 1
            if not self.reusable:
                self.close()
        except (asyncio.IncompleteReadError, OSError, ssl.SSLError) as e:
            self.close()
            raise WireError(f"the answer was cut: {e!r}") from e
        except BaseException:
            self.close()  # a body not read to its end leaves the connection unusable
            raise

    async def _exactly(self, length: int) -> AsyncIterator[bytes]:
        while length > 0:
            piece = await self._reader.read(min(length, 65536))
            if not piece:
                raise asyncio.IncompleteReadError(b"", length)
            length -= len(piece)
            yield piece

    async def _chunks(self) -> AsyncIterator[bytes]:
        while True:
            line = await self._line(MAX_CHUNK_LINE)
            size_text = line.split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError as e:
                raise WireError(f"not a chunk size: {size_text[:20]!r}") from e
            if size == 0:
                while await self._line(MAX_CHUNK_LINE):  # trailers, then the blank line
                    pass
                return
            async for piece in self._exactly(size):
                yield piece
            if await self._reader.readexactly(2) != b"\r\n":
                raise WireError("a chunk not ended by CRLF")

    async def _line(self, limit: int) -> bytes:
        try:
            line = await self._reader.readuntil(b"\n")
        except asyncio.LimitOverrunError as e:
            raise TooLarge(f"a chunk line over {limit} bytes") from e
        if len(line) > limit:
            raise TooLarge(f"a chunk line over {limit} bytes")
        return line.rstrip(b"\r\n")

    async def lines(
        self, headers: dict[str, str], max_line: int = MAX_LINE_BYTES
    ) -> AsyncIterator[bytes]:
        """The body split at newlines (NDJSON), each line at most ``max_line`` bytes;
        blank lines are skipped. The connection is closed when the caller stops early."""
        buffer = b""
        async for piece in self.pieces(headers):
            buffer += piece
            *whole, buffer = buffer.split(b"\n")
            if len(buffer) > max_line:
                self.close()
                raise TooLarge(f"a line over {max_line} bytes")
            for line in whole:
                if len(line) > max_line:
                    self.close()
                    raise TooLarge(f"a line over {max_line} bytes")
                if line.strip():
                    yield line
        if buffer.strip():
            yield buffer


class Pool:
    """Kept connections to one endpoint from one local address, at most ``size`` open;
    a request waits for a free one. A kept connection the server closed meanwhile is
    replaced and the request sent again once."""

    def __init__(self, endpoint: Endpoint, local_host: str | None = None, size: int = 8) -> None:
        self.endpoint, self.local_host = endpoint, local_host
        self._free = asyncio.Semaphore(size)
        self._idle: list[Connection] = []

    async def request(
        self,
        method: str,
        path: str,
        headers: Iterable[tuple[str, str]] = (),
        body: bytes = b"",
        max_body: int = MAX_BODY_BYTES,
    ) -> Response:
        headers = tuple(headers)
        async with self._free:
            for _ in range(2):
                conn = self._idle.pop() if self._idle else await self._open()
                try:
                    answer = await conn.request(method, path, headers, body, max_body)
                except Stale:
                    continue
                except BaseException:
                    conn.close()  # cancelled or broken mid-way: its state is unknown
                    raise
                if conn.reusable:
                    self._idle.append(conn)
                return answer
            raise WireError(f"{self.endpoint.host}:{self.endpoint.port} closed two connections")

    async def _open(self) -> Connection:
        return await Connection.open(self.endpoint, self.local_host)

    def close(self) -> None:
        for conn in self._idle:
            conn.close()
        self._idle.clear()
