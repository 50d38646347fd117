"""Bearer tokens: minting, the admin bootstrap, and constant-time verification.

A token reads ``ep_<id>_<secret>``. The store keeps the id and a SHA-256 of the
secret, never the secret; verification looks the id up and compares hashes with
``hmac.compare_digest``. Verified tokens are cached for a few seconds (a minute for
site credentials, ``SITE_CACHE_SECONDS``) so that a busy client does not cost a store
read per request: by token id (a header has endless spellings, an id one), with the
secret's hash checked on every hit, and at most ``CACHE_ENTRIES`` ids, least recently
used first out.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from edgeplane.store.protocol import Store, TokenRecord

ADMIN_TOKEN_FILE = "admin.token"
CACHE_SECONDS = 5.0
SITE_CACHE_SECONDS = 60.0
"""Site credentials are cached longer: a site heartbeats every 10 s, and at 5 s every
heartbeat read its token from the store (10,000 sites: 1,000 reads a second). Revoking
one on this hub is immediate all the same (``forget``, called by site deletion and
credential rotation); another hub on the same database honours it within this time."""
CACHE_ENTRIES = 10_000
EXTERNAL_TOKEN_MAX = 16 * 1024


@dataclass(frozen=True)
class Principal:
    subject: str
    role: str


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def mint(subject: str, role: str, ttl_seconds: float | None = None) -> tuple[str, TokenRecord]:
    """A new token and the record to store for it."""
    token_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    now = time.time()
    record = TokenRecord(
        token_id=token_id,
        secret_hash=hash_secret(secret),
        subject=subject,
        role=role,
        created_at=now,
        expires_at=now + ttl_seconds if ttl_seconds else None,
    )
    return f"ep_{token_id}_{secret}", record


def verify_secret(secret: str, record: TokenRecord) -> bool:
    """Whether ``secret`` is the one ``record`` holds the hash of (constant time)."""
    return hmac.compare_digest(hash_secret(secret), record.secret_hash)


def split(token: str) -> tuple[str, str] | None:
    prefix, _, rest = token.partition("_")
    token_id, _, secret = rest.partition("_")
    if prefix != "ep" or not token_id or not secret:
        return None
    return token_id, secret


@dataclass(frozen=True)
class _Cached:
    until: float
    secret_hash: str
    expires_at: float | None
    principal: Principal


class BearerVerifier(Protocol):
    """Another kind of bearer token (``hub.oidc``): its principal and until when."""

    async def principal(self, token: str) -> tuple[Principal, float] | None: ...


class Authenticator:
    def __init__(
        self,
        store: Store,
        max_entries: int = CACHE_ENTRIES,
        external: BearerVerifier | None = None,
    ) -> None:
        self._store = store
        self._max_entries = max_entries
        self._cache: OrderedDict[str, _Cached] = OrderedDict()
        self._external = external
        """OIDC: a token that is not ours is checked by it, cached by the token's hash."""

    def __len__(self) -> int:
        return len(self._cache)

    def forget(self, subject: str, role: str) -> None:
        """Drop cached verifications of a revoked principal, so revocation is immediate."""
        for token_id, cached in list(self._cache.items()):
            if (cached.principal.subject, cached.principal.role) == (subject, role):
                del self._cache[token_id]

    def forget_token(self, token_id: str) -> None:
        """Drop the cached verification of one revoked token."""
        self._cache.pop(token_id, None)

    async def verify(self, authorization: str | None) -> Principal | None:
        """The principal of a valid ``Bearer`` header, or None."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer":
            return None
        if not (parts := split(token.strip())):
            return await self._verify_external(token.strip())
        token_id, secret = parts
        cached = self._fresh(token_id)
        if cached is None:
            record = await self._store.get_token(token_id)
            if record is None or record.role == "join":
                # A join token is good for POST /join only, in the body. The hash is
                # computed anyway so an unknown id costs the same time as a known one.
                hmac.compare_digest(hash_secret(secret), hash_secret(""))
                return None
            cached = self._remember(record)
        if not hmac.compare_digest(hash_secret(secret), cached.secret_hash):
            return None
        if cached.expires_at and cached.expires_at < time.time():
            return None
        return cached.principal

    async def _verify_external(self, token: str) -> Principal | None:
        if self._external is None or not token or len(token) > EXTERNAL_TOKEN_MAX:
            return None
        key = "jwt:" + hash_secret(token)
        cached = self._fresh(key)
        if cached is None:
            found = await self._external.principal(token)
            if found is None:
                return None
            principal, expires_at = found
            cached = _Cached(
                time.monotonic() + CACHE_SECONDS, hash_secret(token), expires_at, principal
            )
            self._keep(key, cached)
        if cached.expires_at and cached.expires_at < time.time():
            return None
        return cached.principal

    def _fresh(self, token_id: str) -> _Cached | None:
        cached = self._cache.get(token_id)
        if cached is None or cached.until <= time.monotonic():
            return None
        self._cache.move_to_end(token_id)
        return cached

    def _remember(self, record: TokenRecord) -> _Cached:
        ttl = SITE_CACHE_SECONDS if record.role == "site" else CACHE_SECONDS
        cached = _Cached(
            time.monotonic() + ttl,
            record.secret_hash,
            record.expires_at,
            Principal(record.subject, record.role),
        )
        self._keep(record.token_id, cached)
        return cached

    def _keep(self, key: str, cached: _Cached) -> None:
        self._cache[key] = cached
        self._cache.move_to_end(key)
        while len(self._cache) > self._max_entries:
            self._cache.popitem(last=False)


async def bootstrap_admin(store: Store, data_dir: Path) -> str | None:
    """Create the admin token on first start; None when one exists already."""
    path = data_dir / ADMIN_TOKEN_FILE
    if path.exists():
        return None
    token, record = mint("admin", "admin")
    await store.put_token(record)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    return token
