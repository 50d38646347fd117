"""Connection limits of the hub's HTTP server: head and body read timeouts, a bound on
the request head's size, and a cap of open connections per peer address.

uvicorn arms its keep-alive timer only after a response. A connection that never
sends a request, or sends half a head and stops (slowloris), is never timed out: each
holds a file descriptor until the hub runs out and stops accepting anyone. The fix
belongs at the protocol layer, where bytes arrive before any ASGI app is involved, so
this module extends uvicorn's httptools protocol:

* a request head (request line and headers) must arrive whole within
  ``head_timeout`` seconds of its first byte, or of the connection's start;
* a request body must keep arriving: ``body_timeout`` seconds without a byte ends the
  connection (not while the hub itself has paused reading because the app is slow);
* a head over ``max_head_bytes`` is answered 431 and the connection closed;
* at most ``per_peer`` connections per peer address (an IPv6 peer by its /64, which
  one host usually holds whole); one more is closed at once, before it costs anything
  but the accept;
* at most ``total`` connections in all, and never so many that the hub has no file
  descriptors left for its store and artifacts (the soft RLIMIT_NOFILE less a reserve).

Idle keep-alive connections are left to uvicorn's keep-alive timeout.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import resource
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from edgeplane.hub.limits import Limits

log = logging.getLogger(__name__)

LINGER_SECONDS = 2.0
# Descriptors kept for everything but client connections: the store, artifacts,
# uploads in progress, the listening socket.
FD_RESERVE = 100


@dataclass(frozen=True)
class ConnectionLimits:
    head_timeout: float = 10.0
    body_timeout: float = 30.0
    max_head_bytes: int = 64 * 1024
    per_peer: int = 256
    total: int = 10_000


def connection_limits(limits: Limits) -> ConnectionLimits:
    return ConnectionLimits(
        limits.head_timeout,
        limits.body_timeout,
        limits.max_head_bytes,
        limits.connections_per_peer,
        min(limits.max_connections, _descriptors_for_connections()),
    )


def _descriptors_for_connections() -> int:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 1 << 30
    return max(16, soft - FD_RESERVE)


def peer_key(host: str) -> str:
    """The key a peer's connections are counted under: its IPv4 address, or its IPv6
    /64 (a host gets a whole /64 and could take a new address per connection)."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


@dataclass
class ConnectionGuard:
    """The limits and the open connections per peer, shared by one server's protocols."""

    limits: ConnectionLimits
    peers: Counter[str] = field(default_factory=Counter)
    open: int = 0
    refused: int = 0
    on_refused: Callable[[], None] | None = None

    def admit(self, peer: str) -> bool:
        if self.open >= self.limits.total:
            return self._refuse("all peers", self.open, "--max-connections")
        if self.peers[peer] >= self.limits.per_peer:
            return self._refuse(f"peer {peer}", self.peers[peer], "--connections-per-peer")
        self.peers[peer] += 1
        self.open += 1
        return True

    def release(self, peer: str) -> None:
        self.open -= 1
        self.peers[peer] -= 1
        if self.peers[peer] <= 0:
            del self.peers[peer]  # the table holds only peers with open connections

    def _refuse(self, who: str, held: int, setting: str) -> bool:
        self.refused += 1
        if self.on_refused is not None:
            self.on_refused()
        if self.refused % 1000 == 1:  # one line per burst, not one per attempt
            log.warning(
                "%s hold %d connections (%s): closing new ones (%d so far)",
                who,
                held,
                setting,
                self.refused,
            )
        return False


def protocol_class(guard: ConnectionGuard) -> type[asyncio.Protocol]:
    """A uvicorn HTTP protocol class bound to ``guard`` (for ``uvicorn.Config(http=...)``)."""
    return type("GuardedHttpProtocol", (GuardedHttpProtocol,), {"guard": guard})


def _answer(status: int, reason: str, message: str) -> bytes:
    body = json.dumps({"reason": reason, "message": message, "field": None}).encode()
    phrase = {
        400: "Bad Request",
        408: "Request Timeout",
        431: "Request Header Fields Too Large",
    }[status]
    head = (
        f"HTTP/1.1 {status} {phrase}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode() + body


class _HeadTooLarge(Exception):
    """Raised from a parser callback to stop parsing a head answered 431 already."""


class GuardedHttpProtocol(HttpToolsProtocol):
    guard: ConnectionGuard

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._peer: str | None = None
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._head_bytes = 0
        self._refused = False

    # --- connection ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        peer = peer_key(str(self.client[0])) if self.client else "unknown"
        if not self.guard.admit(peer):
            transport.abort()  # no answer: the point is to spend nothing on it
            return
        self._peer = peer
        self._start_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        if self._peer is not None:
            self.guard.release(self._peer)
            self._peer = None
        super().connection_lost(exc)

    # --- reading ---------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # answered already: what still comes is read and dropped until closed
        if self._between_requests() and self._head_timer is None:
            self._start_head()
        reading_head = self._head_timer is not None
        if reading_head:
            self._head_bytes += len(data)
        elif self._body_timer is not None:
            self._arm_body()
        super().data_received(data)
        if self._head_timer is not None and self._head_bytes > self.guard.limits.max_head_bytes:
            self._refuse(
                431,
                "RequestHeaderFieldsTooLarge",
                f"the request head is over {self.guard.limits.max_head_bytes} bytes: "
                "send shorter headers and URLs",
            )

    def send_400_response(self, msg: str) -> None:
        # uvicorn answers a request the parser refuses in plain text; the hub's
        # answers are JSON, this one too.
        self._refuse(400, "BadRequest", f"{msg.rstrip('.')}: send a well-formed HTTP/1.1 request")

    def on_headers_complete(self) -> None:
        self._cancel(self._head_timer)
        self._head_timer = None
        # Counted here too: a head that arrives whole in one read (up to 256 KiB) is
        # parsed before data_received can compare what it counted with the limit.
        if self._head_size() > self.guard.limits.max_head_bytes:
            self._refuse(
                431,
                "RequestHeaderFieldsTooLarge",
                f"the request head is over {self.guard.limits.max_head_bytes} bytes: "
                "send shorter headers and URLs",
            )
            raise _HeadTooLarge  # the parser stops: no request is started
        self._arm_body()
        super().on_headers_complete()

    def _head_size(self) -> int:
        """The head's size as parsed (request line and headers, without their framing
        whitespace beyond one CRLF a line)."""
        return len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)

    def on_message_complete(self) -> None:
        self._cancel(self._body_timer)
        self._body_timer = None
        super().on_message_complete()

    # --- timers ----------------------------------------------------------------------

    def _between_requests(self) -> bool:
        return (self.cycle is None or self.cycle.response_complete) and not self.pipeline

    def _start_head(self) -> None:
        self._head_bytes = 0
        self._head_timer = self.loop.call_later(self.guard.limits.head_timeout, self._head_late)

    def _arm_body(self) -> None:
        self._cancel(self._body_timer)
        self._body_timer = self.loop.call_later(self.guard.limits.body_timeout, self._body_late)

    def _head_late(self) -> None:
        self._head_timer = None
        self._refuse(
            408,
            "RequestTimeout",
            f"no complete request head within {self.guard.limits.head_timeout:g} s: "
            "send the request line and headers at once",
        )

    def _body_late(self) -> None:
        self._body_timer = None
        if self.transport.is_closing():
            return
        if self.flow.read_paused:
            self._arm_body()  # the hub is the slow one, not the client
            return
        # The app is reading this body: closing makes its receive() a disconnect.
        self.transport.close()

    def _refuse(self, status: int, reason: str, message: str) -> None:
        if self.transport.is_closing() or self._refused:
            return
        self._cancel_timers()
        self._refused = True
        self.transport.write(_answer(status, reason, message))
        # A close with unread bytes pending makes the kernel send a reset, which can
        # destroy the answer before the client reads it: half-close, drop what still
        # arrives, and close for good after a short linger.
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(LINGER_SECONDS, self.transport.close)

    def _cancel_timers(self) -> None:
        self._cancel(self._head_timer)
        self._cancel(self._body_timer)
        self._head_timer = self._body_timer = None

    @staticmethod
    def _cancel(timer: asyncio.TimerHandle | None) -> None:
        if timer is not None:
            timer.cancel()
