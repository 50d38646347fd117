"""Who is signed in to the dashboard: server-side sessions behind an opaque cookie.

A browser signs in with an API token (admin or any token the hub accepts); the hub
checks it (``web.fleet``) and the dashboard keeps it here, in memory, under a random
session id. The cookie holds only that id (HttpOnly, SameSite=Strict, Secure over
HTTPS, path ``/ui``): the token never reaches the page's JavaScript or the browser's
storage. Each session carries a CSRF token that every form and htmx request sends back.

Sessions end at logout, after ``IDLE_SECONDS`` unused, after ``MAX_SECONDS`` whatever
happens, or when the hub refuses their token (revoked, rotated). They live in this hub
process: a restarted hub signs everyone out. Every table is bounded.

Failed sign-ins are limited per browser address and in all (``LoginGate``): each one
costs the hub a refused token from the dashboard's loopback address, and the hub
answers a peer with too many of those 429 for everything, so the dashboard keeps its
own failures well under the hub's ``--auth-failure-rate``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

COOKIE = "edgeplane_session"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf"
IDLE_SECONDS = 8 * 3600.0
MAX_SECONDS = 24 * 3600.0
MAX_SESSIONS = 10_000
MAX_TOKEN_CHARS = 4096
"""Longer than any token the hub makes (they are about 50 characters)."""

Clock = Callable[[], float]


@dataclass
class Session:
    id: str
    token: str
    csrf: str
    started: float
    used: float
    key: str = field(init=False)
    """Sessions with one token share one view of the fleet (``web.fleet``)."""

    def __post_init__(self) -> None:
        self.key = token_key(self.token)

    def csrf_ok(self, sent: str | None) -> bool:
        return sent is not None and hmac.compare_digest(sent.encode(), self.csrf.encode())


def token_key(token: str) -> str:
    """A token's name in the dashboard's tables, never the token itself."""
    return hashlib.sha256(token.encode()).hexdigest()


class Sessions:
    """The signed-in browsers: bounded, least recently used first out."""

    def __init__(self, clock: Clock = time.monotonic, limit: int = MAX_SESSIONS) -> None:
        self._clock, self._limit = clock, limit
        self._by_id: OrderedDict[str, Session] = OrderedDict()

    def start(self, token: str) -> Session:
        now = self._clock()
        session = Session(secrets.token_urlsafe(32), token, secrets.token_urlsafe(32), now, now)
        self._by_id[session.id] = session
        while len(self._by_id) > self._limit:
            self._by_id.popitem(last=False)
        return session

    def get(self, session_id: str | None) -> Session | None:
        """The live session under this id (and marked used), else None."""
        if not session_id or len(session_id) > 64:
            return None
        session = self._by_id.get(session_id)
        if session is None:
            return None
        now = self._clock()
        if now - session.used > IDLE_SECONDS or now - session.started > MAX_SECONDS:
            del self._by_id[session_id]
            return None
        session.used = now
        self._by_id.move_to_end(session_id)
        return session

    def end(self, session_id: str | None) -> None:
        if session_id:
            self._by_id.pop(session_id, None)

    def end_token(self, key: str) -> int:
        """End every session signed in with the token named ``key`` (the hub refused it)."""
        ended = [sid for sid, s in self._by_id.items() if s.key == key]
        for sid in ended:
            del self._by_id[sid]
        return len(ended)

    def keys(self) -> set[str]:
        return {s.key for s in self._by_id.values()}

    def __len__(self) -> int:
        return len(self._by_id)


class _Bucket:
    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate, self.burst, self.level, self.at = rate, burst, float(burst), now

    def wait(self, now: float) -> float:
        """Seconds until one more failure may be spent (0: now)."""
        self.level = min(self.burst, self.level + (now - self.at) * self.rate)
        self.at = now
        return 0.0 if self.level >= 1 else (1 - self.level) / self.rate

    def take(self) -> None:
        self.level -= 1


class LoginGate:
    """Failed sign-ins per browser address (``rate``/s up to ``burst``) and in all."""

    MAX_PEERS = 10_000

    def __init__(
        self,
        rate: float = 0.2,
        burst: int = 5,
        total_rate: float = 1.0,
        total_burst: int = 10,
        clock: Clock = time.monotonic,
    ) -> None:
        self._rate, self._burst, self._clock = rate, burst, clock
        self._total = _Bucket(total_rate, total_burst, clock())
        self._peers: OrderedDict[str, _Bucket] = OrderedDict()

    def wait(self, peer: str) -> float:
        """Seconds this peer must wait before its next sign-in (0: go ahead)."""
        now = self._clock()
        return max(self._peer(peer, now).wait(now), self._total.wait(now))

    def failed(self, peer: str) -> None:
        self._peer(peer, self._clock()).take()
        self._total.take()

    def _peer(self, peer: str, now: float) -> _Bucket:
        bucket = self._peers.get(peer)
        if bucket is None:
            bucket = self._peers[peer] = _Bucket(self._rate, self._burst, now)
            while len(self._peers) > self.MAX_PEERS:
                self._peers.popitem(last=False)
        self._peers.move_to_end(peer)
        return bucket
