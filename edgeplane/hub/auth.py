"""Bearer tokens: minting, the admin bootstrap, and constant-time verification.

A token reads ``ep_<id>_<secret>``. The store keeps the id and a SHA-256 of the
secret, never the secret; verification looks the id up and compares hashes with
``hmac.compare_digest``. Verified tokens are cached for a few seconds so that a busy
client does not cost a store read per request.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from edgeplane.store.protocol import Store, TokenRecord

ADMIN_TOKEN_FILE = "admin.token"
CACHE_SECONDS = 5.0


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


class Authenticator:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._cache: dict[str, tuple[float, Principal]] = {}

    def forget(self, subject: str, role: str) -> None:
        """Drop cached verifications of a revoked principal, so revocation is immediate."""
        for token, (_, principal) in list(self._cache.items()):
            if (principal.subject, principal.role) == (subject, role):
                del self._cache[token]

    async def verify(self, authorization: str | None) -> Principal | None:
        """The principal of a valid ``Bearer`` header, or None."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not (parts := split(token.strip())):
            return None
        cached = self._cache.get(token)
        if cached and cached[0] > time.monotonic():
            return cached[1]
        token_id, secret = parts
        record = await self._store.get_token(token_id)
        expected = record.secret_hash if record else hash_secret("")
        valid = hmac.compare_digest(hash_secret(secret), expected) and record is not None
        if not valid or record is None or (record.expires_at and record.expires_at < time.time()):
            return None
        if record.role == "join":
            return None  # a join token is good for POST /join only, in the body
        principal = Principal(record.subject, record.role)
        self._cache[token] = (time.monotonic() + CACHE_SECONDS, principal)
        return principal


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
