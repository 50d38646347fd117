"""Per-principal request rates and watch counts: 429 with Retry-After, not exhaustion.

Token buckets (``rate`` per second, up to ``burst``) are kept per principal (an admin
token's subject, a site), per peer address for requests without a token, and per site
for status writes, which grow the event log. A watch holds its slot from its request
until its stream ends. The tables are bounded: the least recently used bucket goes
first, so endless peer addresses cannot grow them.

Runs after ``AuthMiddleware`` (the principal is known) and before the body is read.
"""

from __future__ import annotations

import functools
import math
import re
import time
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from edgeplane.hub.auth import Principal
from edgeplane.hub.connections import peer_key
from edgeplane.hub.errors import ApiError
from edgeplane.hub.limits import Limits, flag
from edgeplane.hub.metrics import HubMetrics
from edgeplane.hub.roles import USER_ROLES

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_BUCKETS = 100_000
# A liveness probe costs nothing (no store, no hashing): load balancers may poll it.
UNTHROTTLED = frozenset({"/healthz"})
STATUS_PATH = re.compile(r"/api/v1alpha1/[^/]+/[^/]+/status")
DATA_PATH = re.compile(r"/api/v1alpha1/sites/[^/]+/data")
DEVICES_PATH = re.compile(r"/api/v1alpha1/sites/[^/]+/devices")
WATCH_VALUES = frozenset({"1", "on", "t", "true", "y", "yes"})  # what pydantic reads as True


@dataclass
class TokenBucket:
    rate: float
    burst: int
    tokens: float
    stamp: float

    def take(self, now: float) -> float:
        """0 when a request may go now, else the seconds until it may."""
        wait = self.peek(now)
        if not wait:
            self.tokens -= 1
        return wait

    def peek(self, now: float) -> float:
        """What ``take`` would answer, taking nothing."""
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            return 0.0
        return (1 - self.tokens) / self.rate


class Buckets:
    """Token buckets by key, at most ``MAX_BUCKETS``, least recently used out first."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def take(self, key: str) -> float:
        return self._bucket(key).take(time.monotonic())

    def peek(self, key: str) -> float:
        return self._bucket(key).peek(time.monotonic())

    def _bucket(self, key: str) -> TokenBucket:
        now = time.monotonic()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(self.rate, self.burst, self.burst, now)
            if len(self._buckets) > MAX_BUCKETS:
                self._buckets.popitem(last=False)
        self._buckets.move_to_end(key)
        return bucket


@dataclass(frozen=True)
class _Rule:
    buckets: Buckets
    who: str
    setting: str


class TooMany(ApiError):
    def __init__(self, message: str, retry_after: float, setting: str) -> None:
        super().__init__(429, "TooManyRequests", message)
        self.retry_after = max(1, math.ceil(retry_after))
        self.setting = setting


def too_many(message: str, retry_after: float, setting: str) -> TooMany:
    return TooMany(message, retry_after, setting)


async def send_too_many(error: TooMany, send: Send) -> None:
    body = error.response()
    headers = [*body.raw_headers, (b"retry-after", str(error.retry_after).encode())]
    await send({"type": "http.response.start", "status": 429, "headers": headers})
    await send({"type": "http.response.body", "body": body.body})


class ThrottleMiddleware:
    def __init__(self, app: ASGIApp, limits: Limits, metrics: HubMetrics | None = None) -> None:
        self.app, self.limits, self.metrics = app, limits, metrics
        self._rates = {
            "admin": Buckets(limits.admin_rate, limits.admin_burst),
            "site": Buckets(limits.site_rate, limits.site_burst),
            None: Buckets(limits.anonymous_rate, limits.anonymous_burst),
        }
        self._status = Buckets(limits.status_rate, limits.status_burst)
        self._data = Buckets(limits.data_rate, limits.data_burst)
        self._devices = Buckets(limits.device_report_rate, limits.device_report_burst)
        self._watch_caps = {"admin": limits.admin_watches, "site": limits.site_watches}
        self.watches: Counter[tuple[str, str]] = Counter()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in UNTHROTTLED:
            return await self.app(scope, receive, send)
        principal: Principal | None = scope.get("state", {}).get("principal")
        try:
            self._check_rate(scope, principal)
        except TooMany as e:
            return await self._refuse(e, send)
        if principal is None or not _is_watch(scope):
            return await self.app(scope, receive, send)
        return await self._watch(principal, scope, receive, send)

    async def _refuse(self, error: TooMany, send: Send) -> None:
        if self.metrics is not None:
            self.metrics.limited.labels(error.setting).inc()
        await send_too_many(error, send)

    def _check_rate(self, scope: Scope, principal: Principal | None) -> None:
        role = principal.role if principal else None
        if role in USER_ROLES:
            role = "admin"  # users share the admin's limits, each under its own name
        key = principal.subject if principal else _peer(scope)
        if _is_data(scope, role):
            if wait := self._data.take(key):
                rule = _Rule(self._data, _who(principal, key), "data_rate")
                raise _refusal(rule, wait, "record batches")
            return
        buckets = self._rates.get(role, self._rates[None])
        # The rule and its words are made only for a refusal: this runs on every request.
        if wait := buckets.take(key):
            raise _refusal(
                _Rule(buckets, _who(principal, key), f"{role or 'anonymous'}_rate"),
                wait,
                "requests",
            )
        if _is_status_write(scope, role) and (wait := self._status.take(key)):
            raise _refusal(
                _Rule(self._status, _who(principal, key), "status_rate"), wait, "status writes"
            )
        if _is_device_report(scope, role) and (wait := self._devices.take(key)):
            rule = _Rule(self._devices, _who(principal, key), "device_report_rate")
            raise _refusal(rule, wait, "device reports")

    async def _watch(
        self, principal: Principal, scope: Scope, receive: Receive, send: Send
    ) -> None:
        key = (principal.role, principal.subject)
        cap = self._watch_caps.get(
            "admin" if principal.role in USER_ROLES else principal.role, self.limits.site_watches
        )
        if self.watches[key] >= cap:
            setting = f"{principal.role}_watches"
            error = too_many(
                f"{_who(principal, principal.subject)} holds {self.watches[key]} watches, "
                f"the limit: end one before opening another; the hub's operator can raise "
                f"{flag(setting)}",
                5,
                setting,
            )
            return await self._refuse(error, send)
        self.watches[key] += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.watches[key] -= 1
            if self.watches[key] <= 0:
                del self.watches[key]


def _refusal(rule: _Rule, wait: float, what: str) -> TooMany:
    return too_many(
        f"{rule.who} is over its limit of {rule.buckets.rate:g} {what} per second "
        f"(bursts of {rule.buckets.burst}): retry after the Retry-After seconds; "
        f"the hub's operator can raise {flag(rule.setting)}",
        wait,
        rule.setting,
    )


class FailedAuthGate:
    """Refused tokens cost a store read and a hash each: a peer that keeps sending bad
    ones is answered 429 before its next token is even looked at."""

    def __init__(self, rate: float, burst: int) -> None:
        self._buckets = Buckets(rate, burst)

    def check(self, scope: Scope) -> TooMany | None:
        peer = _peer(scope)
        wait = self._buckets.peek(peer)
        if not wait:
            return None
        return too_many(
            f"peer {peer} sent too many refused tokens (over "
            f"{self._buckets.rate:g} per second): fix the token, then retry after the "
            "Retry-After seconds; the hub's operator can raise --auth-failure-rate",
            wait,
            "auth_failure_rate",
        )

    def failed(self, scope: Scope) -> None:
        self._buckets.take(_peer(scope))


def _is_status_write(scope: Scope, role: str | None) -> bool:
    methods = ("PUT", "PATCH")
    return (
        role == "site" and scope["method"] in methods and bool(STATUS_PATH.fullmatch(scope["path"]))
    )


def _is_data(scope: Scope, role: str | None) -> bool:
    return role == "site" and scope["method"] == "POST" and bool(DATA_PATH.fullmatch(scope["path"]))


def _is_device_report(scope: Scope, role: str | None) -> bool:
    path = scope["path"]
    return role == "site" and scope["method"] == "POST" and bool(DEVICES_PATH.fullmatch(path))


def _is_watch(scope: Scope) -> bool:
    if scope["method"] != "GET":
        return False
    raw = scope.get("query_string", b"")
    if b"watch" not in raw and b"%" not in raw:
        return False  # most requests: no parse (a percent-encoded "watch" is parsed)
    # Read as Starlette reads it, however many fields: with a cap here (and none in the
    # route), 101 fields made a watch that was not counted against --site-watches. The
    # head limit bounds the query string.
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
    return any(v.lower() in WATCH_VALUES for v in query.get("watch", ()))


def _peer(scope: Scope) -> str:
    """The peer's key, as connections are counted: an IPv6 peer by its /64. By its whole
    address, a host with a /64 took a new address per request and a fresh bucket with it
    (the anonymous and refused-token limits did not hold)."""
    client = scope.get("client")
    return _peer_key(str(client[0])) if client else "unknown"


@functools.lru_cache(maxsize=4096)
def _peer_key(host: str) -> str:
    # Parsing an address costs more than the rest of the check: peers repeat.
    return peer_key(host)


def _who(principal: Principal | None, key: str) -> str:
    if principal is None:
        return f"peer {key} (no token)"
    return f'site "{key}"' if principal.role == "site" else f'{principal.role} "{key}"'
