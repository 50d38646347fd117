"""The simulator's HTTP/1.1 client against a tiny scripted server on loopback: answers
by Content-Length, chunked and to the end; keep-alive; NDJSON lines; every bound."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest

from edgeplane.sim.wire import (
    MAX_HEAD_BYTES,
    Connection,
    Endpoint,
    Pool,
    TooLarge,
    WireError,
    encode_request,
)

Answer = Callable[[bytes], bytes]


@dataclass
class Server:
    """Answers each request with ``answer(request head)``; counts connections; closes
    a connection after ``close_after`` answers."""

    answer: Answer
    close_after: int = 1000
    connections: int = 0
    heads: list[bytes] = field(default_factory=list)
    port: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            for _ in range(self.close_after):
                head = await reader.readuntil(b"\r\n\r\n")
                await reader.readexactly(content_length(head))
                self.heads.append(head)
                writer.write(self.answer(head))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


Serve = Callable[..., Awaitable[Server]]


def content_length(head: bytes) -> int:
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":")[1])
    return 0


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    servers: list[asyncio.Server] = []

    async def start(answer: Answer, close_after: int = 1000) -> Server:
        state = Server(answer, close_after)
        server = await asyncio.start_server(state.handle, "127.0.0.1", 0)
        servers.append(server)
        state.port = server.sockets[0].getsockname()[1]
        return state

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


def fixed(body: bytes, status: str = "200 OK", extra: str = "") -> Answer:
    return lambda _: (
        f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode() + body
    )


def chunked(*chunks: bytes) -> Answer:
    data = b"".join(b"%x;ext=1\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\nX-T: 1\r\n\r\n"
    return lambda _: b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + data


async def test_content_length_answers_keep_one_connection(serve: Serve) -> None:
    server = await serve(fixed(b'{"ok":true}'))
    conn = await Connection.open(Endpoint("127.0.0.1", server.port))
    for _ in range(3):
        answer = await conn.request("POST", "/x", [("A", "b")], b"{}")
        assert (answer.status, answer.json()) == (200, {"ok": True})
    assert server.connections == 1
    assert b"Content-Length: 2" in server.heads[0] and b"A: b" in server.heads[0]
    conn.close()


async def test_chunked_answer_with_extensions_and_trailers(serve: Serve) -> None:
    server = await serve(chunked(b"hello ", b"world"))
    conn = await Connection.open(Endpoint("127.0.0.1", server.port))
    assert (await conn.request("GET", "/")).body == b"hello world"
    assert (await conn.request("GET", "/")).body == b"hello world"  # still usable after
    assert server.connections == 1
    conn.close()


async def test_ndjson_lines_across_chunks(serve: Serve) -> None:
    server = await serve(chunked(b'{"a":1}\n{"b"', b":2}\n\n", b'{"c":3}'))
    conn = await Connection.open(Endpoint("127.0.0.1", server.port))
    status, headers = await conn.start("GET", "/watch")
    lines = [line async for line in conn.lines(headers)]
    assert status == 200
    assert lines == [b'{"a":1}', b'{"b":2}', b'{"c":3}']
    conn.close()


async def test_no_content_has_no_body(serve: Serve) -> None:
    server = await serve(lambda _: b"HTTP/1.1 204 No Content\r\n\r\n")
    conn = await Connection.open(Endpoint("127.0.0.1", server.port))
    assert (await conn.request("POST", "/answer", body=b"text")).status == 204
    assert (await conn.request("POST", "/answer", body=b"text")).status == 204
    assert conn.reusable and server.connections == 1
    conn.close()


async def test_body_to_the_end_is_not_kept(serve: Serve) -> None:
    server = await serve(lambda _: b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of it", 1)
    conn = await Connection.open(Endpoint("127.0.0.1", server.port))
    assert (await conn.request("GET", "/")).body == b"all of it"
    assert not conn.reusable


async def test_oversize_head_is_refused(serve: Serve) -> None:
    huge = "X-Big: " + "a" * MAX_HEAD_BYTES + "\r\n"
    server = await serve(fixed(b"", extra=huge))
    conn = await Connection.open(Endpoint("127.0.0.1", server.port))
    with pytest.raises(TooLarge, match="head"):
        await conn.request("GET", "/")
    assert not conn.reusable


async def test_oversize_body_and_line_are_refused(serve: Serve) -> None:
    server = await serve(fixed(b"x" * 5000))
    conn = await Connection.open(Endpoint("127.0.0.1", server.port))
    with pytest.raises(TooLarge, match="body over 4096"):
        await conn.request("GET", "/", max_body=4096)
    assert not conn.reusable
    conn = await Connection.open(Endpoint("127.0.0.1", server.port))
    _, headers = await conn.start("GET", "/")
    with pytest.raises(TooLarge, match="line over 100"):
        _ = [line async for line in conn.lines(headers, max_line=100)]
    assert not conn.reusable


async def test_garbage_is_not_http(serve: Serve) -> None:
    server = await serve(lambda _: b"SSH-2.0-OpenSSH\r\n\r\n")
    conn = await Connection.open(Endpoint("127.0.0.1", server.port))
    with pytest.raises(WireError, match="status line"):
        await conn.request("GET", "/")


async def test_bad_chunk_size_is_refused(serve: Serve) -> None:
    server = await serve(lambda _: b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
    conn = await Connection.open(Endpoint("127.0.0.1", server.port))
    with pytest.raises(WireError, match="chunk size"):
        await conn.request("GET", "/")


def test_header_injection_is_refused() -> None:
    with pytest.raises(ValueError, match="line break"):
        encode_request("GET", "/", "h", [("X", "a\r\nEvil: 1")], b"")
    with pytest.raises(ValueError, match="line break"):
        encode_request("GET", "/a\r\nb", "h", [], b"")


async def test_pool_replaces_a_connection_the_server_closed(serve: Serve) -> None:
    server = await serve(fixed(b"{}"), close_after=1)
    pool = Pool(Endpoint("127.0.0.1", server.port), "127.0.0.1", size=2)
    for _ in range(3):
        assert (await pool.request("GET", "/")).status == 200
    assert server.connections == 3
    pool.close()


async def test_pool_keeps_connections_alive(serve: Serve) -> None:
    server = await serve(fixed(b"{}"))
    pool = Pool(Endpoint("127.0.0.1", server.port), "127.0.0.2", size=4)
    await asyncio.gather(*(pool.request("GET", "/") for _ in range(20)))
    assert 1 <= server.connections <= 4
    assert len(server.heads) == 20
    pool.close()


def test_endpoint_from_url() -> None:
    assert Endpoint.from_url("http://127.0.0.1:8080") == Endpoint("127.0.0.1", 8080)
    assert Endpoint.from_url("https://127.0.0.1:9").tls is not None
    with pytest.raises(ValueError, match="http://HOST:PORT"):
        Endpoint.from_url("ftp://x")
