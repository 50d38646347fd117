"""benchmarks/support/proxy: every byte through the proxy is counted, each way once."""

from __future__ import annotations

import asyncio
import socket

from benchmarks.support.proxy import CountingProxy, Counts, running_proxy


async def echo_server() -> asyncio.Server:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            writer.write(data + data)  # answers twice what it got: up and down differ
            await writer.drain()
        writer.close()

    return await asyncio.start_server(echo, "127.0.0.1", 0)


async def exchange(port: int, payload: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(payload)
    await writer.drain()
    got = await reader.readexactly(2 * len(payload))
    writer.close()
    await writer.wait_closed()
    return got


async def test_bytes_are_counted_in_each_direction() -> None:
    server = await echo_server()
    proxy = CountingProxy("127.0.0.1", server.sockets[0].getsockname()[1])
    await proxy.start()
    try:
        payloads = [b"x" * 10, b"y" * 100_000, b"z" * 1]
        got = await asyncio.gather(*(exchange(proxy.port, p) for p in payloads))
        assert got == [p + p for p in payloads]
        assert proxy.counts() == Counts(up=100_011, down=200_022, connections=3)
    finally:
        await proxy.close()
        server.close()
        await server.wait_closed()


def test_the_threaded_proxy_counts_for_a_synchronous_client() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        with running_proxy("127.0.0.1", listener.getsockname()[1]) as proxy:
            before = proxy.counts()
            with socket.create_connection(("127.0.0.1", proxy.port)) as client:
                server, _ = listener.accept()
                with server:
                    client.sendall(b"hello")
                    assert server.recv(5) == b"hello"
                    server.sendall(b"hi!")
                    assert client.recv(3) == b"hi!"
            assert proxy.counts() - before == Counts(up=5, down=3, connections=1)
