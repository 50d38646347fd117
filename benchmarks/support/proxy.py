"""A TCP proxy on loopback that counts the bytes it carries, both ways.

``idle_traffic.py`` puts it between real agents and a real hub: agents dial the proxy,
the proxy dials the hub, and every byte either way is counted (TLS passes through
untouched, so over HTTPS the count includes the records' overhead, as on a real link).
``running_proxy`` runs it on an event loop of its own thread, for synchronous callers.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass

CHUNK = 65536


@dataclass(frozen=True)
class Counts:
    up: int
    """Bytes from the clients to the server."""
    down: int
    """Bytes from the server to the clients."""
    connections: int
    """Connections accepted so far."""

    @property
    def total(self) -> int:
        return self.up + self.down

    def __sub__(self, other: Counts) -> Counts:
        return Counts(
            self.up - other.up, self.down - other.down, self.connections - other.connections
        )


class CountingProxy:
    """Listens on 127.0.0.1 (a free port) and forwards every connection to ``target``."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = 0
        self._up = self._down = self._connections = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def counts(self) -> Counts:
        return Counts(self._up, self._down, self._connections)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._connections += 1
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            self._tasks.discard(task)
            return
        try:
            await asyncio.gather(
                self._pump(reader, up_writer, up=True), self._pump(up_reader, writer, up=False)
            )
        finally:
            for w in (writer, up_writer):
                w.close()
            self._tasks.discard(task)

    async def _pump(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, up: bool
    ) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while data := await reader.read(CHUNK):
                if up:
                    self._up += len(data)
                else:
                    self._down += len(data)
                writer.write(data)
                await writer.drain()
        with contextlib.suppress(OSError):
            if writer.can_write_eof():
                writer.write_eof()  # half-close: the other direction may still talk


class ProxyThread:
    """A ``CountingProxy`` on its own thread's event loop; ``counts()`` from any thread
    (ints read whole under the GIL)."""

    def __init__(self, host: str, port: int) -> None:
        self.proxy = CountingProxy(host, port)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    @property
    def port(self) -> int:
        return self.proxy.port

    def counts(self) -> Counts:
        return self.proxy.counts()

    def start(self) -> None:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.proxy.start(), self._loop).result(10)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.proxy.close(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


@contextlib.contextmanager
def running_proxy(host: str, port: int) -> Iterator[ProxyThread]:
    """A counting proxy to ``host:port`` for the duration of the block."""
    proxy = ProxyThread(host, port)
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()
