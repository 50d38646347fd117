"""Opaque ``continue`` tokens of paginated lists, shared by every backend.

A token carries the kind listed, the last name of the page and the resourceVersion of
the first page, so every page of one list reports the same version. It is signed with
HMAC-SHA256 under a secret the store keeps (``load_secret``: one row of the ``meta``
table, so several hubs on one PostgreSQL accept each other's tokens): a client cannot
forge a version or a position, nor carry a token over to another kind. Anything else
is refused with a ValueError that says what to do instead.

Format: ``<url-safe base64 of compact JSON>.<url-safe base64 of the first 16 bytes of
the HMAC>``, without padding.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from edgeplane.store.schema import meta

SECRET_KEY = "continue_secret"
"""The ``meta`` row that holds the signing secret, hex."""
_MAC_BYTES = 16


class ContinueTokens:
    """Signs and checks the continue tokens of one store."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("a continue-token secret needs at least 16 bytes")
        self._secret = secret

    def encode(self, kind: str, after: str, resource_version: int) -> str:
        raw = json.dumps({"k": kind, "after": after, "rv": resource_version}, separators=(",", ":"))
        payload = _b64(raw.encode())
        return f"{payload}.{_b64(self._mac(payload))}"

    def decode(self, token: str, kind: str) -> tuple[str, int]:
        """``(last name of the previous page, list resourceVersion)``; ValueError if this
        store did not issue ``token`` for a list of ``kind``."""
        payload, _, mac = token.partition(".")
        try:
            given = _unb64(mac)
        except (ValueError, binascii.Error) as e:
            raise ValueError(_refusal(token)) from e
        if not hmac.compare_digest(given, self._mac(payload)):
            raise ValueError(_refusal(token))
        raw = json.loads(_unb64(payload))  # signed by us: well-formed
        if raw.get("k") != kind:
            raise ValueError(
                f"this continue token belongs to a list of {raw.get('k')}, not of {kind}: "
                "pass each list's own metadata.continue"
            )
        return str(raw["after"]), int(raw["rv"])

    def _mac(self, payload: str) -> bytes:
        return hmac.new(self._secret, payload.encode(), hashlib.sha256).digest()[:_MAC_BYTES]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    if not text.isascii():
        raise ValueError("not base64")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _refusal(token: str) -> str:
    return (
        f"continue token {token[:20]!r} is not one this hub issued: pass the previous "
        "page's metadata.continue unchanged, or start the list again without continue"
    )


def new_secret() -> bytes:
    return secrets.token_bytes(32)


async def load_secret(conn: AsyncConnection) -> bytes:
    """The store's signing secret, made on first use. Call it inside the transaction
    that holds the migration lock, so two hubs opening one store agree on one secret."""
    query = sa.select(meta.c.value).where(meta.c.key == SECRET_KEY)
    found = (await conn.execute(query)).scalar_one_or_none()
    if found is None:
        found = new_secret().hex()
        await conn.execute(meta.insert().values(key=SECRET_KEY, value=found))
    return bytes.fromhex(found)
