"""OIDC bearer tokens: a JWT from the configured issuer, checked against its published
keys, taken as a user with the role its groups map to (``hub.roles``).

* ``--oidc-issuer URL`` (https, or http on a loopback address for a local issuer),
  ``--oidc-audience AUD``, ``--oidc-role GROUP=ROLE`` (repeated), ``--oidc-groups-claim``
  (``groups``) and ``--oidc-subject-claim`` (``sub``).
* Keys come from ``<issuer>/.well-known/openid-configuration``'s ``jwks_uri``, whose
  ``issuer`` must be the configured one; they are fetched again for an unknown ``kid``,
  at most every ``REFRESH_SECONDS`` (5 s while none are known), so a stream of forged
  ``kid``s costs the issuer nothing. Documents over ``MAX_DOCUMENT_BYTES`` are refused.
* A token is accepted only signed with an asymmetric algorithm (``ALGORITHMS``: never
  ``none``, never HMAC with a public key), with ``iss``, ``aud``, ``exp``, ``iat`` and the
  subject claim present and right (30 s of clock skew), and at least one group mapped
  to a role; the highest such role is its role. The subject is ``oidc:<subject>``, so it
  never stands for a local token's subject.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt

from edgeplane.hub.auth import Principal
from edgeplane.hub.roles import USER_ROLES

log = logging.getLogger("edgeplane.hub.oidc")
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384")
MAX_DOCUMENT_BYTES = 64 * 1024
MAX_KEYS = 32
MAX_TOKEN_BYTES = 16 * 1024
REFRESH_SECONDS, FIRST_REFRESH_SECONDS = 30.0, 5.0
LEEWAY_SECONDS = 30
FETCH_TIMEOUT = httpx.Timeout(5.0)


class OidcError(ValueError):
    """A bad setting: the message names the flag and the fix."""


@dataclass(frozen=True)
class OidcSettings:
    issuer: str
    audience: str
    roles: tuple[tuple[str, str], ...]
    """(group, role) pairs: a member of the group gets the role."""
    groups_claim: str = "groups"
    subject_claim: str = "sub"


def parse_settings(
    issuer: str, audience: str | None, roles: list[str], groups: str, subject: str
) -> OidcSettings:
    """The flags, checked; ``OidcError`` naming the flag at fault."""
    parts = urlsplit(issuer)
    if parts.scheme not in ("https", "http") or not parts.hostname or parts.query:
        raise OidcError(f"--oidc-issuer {issuer!r}: give the issuer's URL, https://...")
    if parts.scheme == "http" and not _loopback(parts.hostname):
        raise OidcError(f"--oidc-issuer {issuer!r}: use https (http only on loopback)")
    if not audience:
        raise OidcError("--oidc-audience is required with --oidc-issuer: the client id")
    pairs = []
    for text in roles:
        group, _, role = text.rpartition("=")
        if not group or role not in USER_ROLES:
            raise OidcError(
                f"--oidc-role {text!r}: use GROUP=ROLE, ROLE one of {', '.join(USER_ROLES)}"
            )
        pairs.append((group, role))
    if not pairs:
        raise OidcError("--oidc-role GROUP=ROLE is required: no group would have a role")
    return OidcSettings(issuer.rstrip("/"), audience, tuple(pairs), groups, subject)


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2 and len(token) <= MAX_TOKEN_BYTES


class OidcVerifier:
    def __init__(self, settings: OidcSettings, transport: httpx.AsyncBaseTransport | None = None):
        self.settings = settings
        self._transport = transport
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched = -1e9
        self._lock = asyncio.Lock()

    async def principal(self, token: str) -> tuple[Principal, float] | None:
        """The user a valid token stands for, and until when (its ``exp``)."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            return None
        algorithm, kid = header.get("alg"), header.get("kid")
        if algorithm not in ALGORITHMS or not isinstance(kid, str):
            return None
        key = await self._key(kid)
        if key is None:
            return None
        settings = self.settings
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=settings.audience,
                issuer=settings.issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iat", "iss", "aud", settings.subject_claim]},
            )
        except jwt.PyJWTError:
            return None
        subject = claims.get(settings.subject_claim)
        role = self._role(claims.get(settings.groups_claim))
        if not isinstance(subject, str) or not 0 < len(subject) <= 253 or role is None:
            return None
        return Principal(f"oidc:{subject}", role), float(claims["exp"])

    def _role(self, groups: object) -> str | None:
        held = {groups} if isinstance(groups, str) else groups
        if not isinstance(held, list | set):
            return None
        names = {g for g in held if isinstance(g, str)}
        roles = [USER_ROLES[role] for group, role in self.settings.roles if group in names]
        return max(roles).label if roles else None

    async def _key(self, kid: str) -> jwt.PyJWK | None:
        if kid in self._keys:
            return self._keys[kid]
        async with self._lock:
            gap = REFRESH_SECONDS if self._keys else FIRST_REFRESH_SECONDS
            if kid not in self._keys and time.monotonic() - self._fetched >= gap:
                self._fetched = time.monotonic()
                try:
                    self._keys = await self._fetch_keys()
                except (httpx.HTTPError, ValueError, jwt.PyJWTError) as e:
                    log.warning("OIDC keys of %s not fetched: %s", self.settings.issuer, e)
        return self._keys.get(kid)

    async def _fetch_keys(self) -> dict[str, jwt.PyJWK]:
        issuer = self.settings.issuer
        async with httpx.AsyncClient(timeout=FETCH_TIMEOUT, transport=self._transport) as client:
            discovery = await _document(client, f"{issuer}/.well-known/openid-configuration")
            named = discovery.get("issuer")
            if not isinstance(named, str) or named.rstrip("/") != issuer:
                raise ValueError(f"the discovery document names issuer {named!r}")
            jwks_uri = discovery.get("jwks_uri")
            scheme = urlsplit(issuer).scheme
            if not isinstance(jwks_uri, str) or urlsplit(jwks_uri).scheme != scheme:
                raise ValueError("the discovery document has no jwks_uri of the issuer's scheme")
            document = await _document(client, jwks_uri)
        keys = document.get("keys")
        if not isinstance(keys, list) or len(keys) > MAX_KEYS:
            raise ValueError(f"the key set must list at most {MAX_KEYS} keys")
        return {item["kid"]: jwt.PyJWK.from_dict(item) for item in keys if _signing_key(item)}


def _signing_key(item: object) -> bool:
    """An RSA or EC key for signatures, with an id and (if any) an algorithm we take."""
    return (
        isinstance(item, dict)
        and isinstance(item.get("kid"), str)
        and item.get("kty") in ("RSA", "EC")
        and item.get("use", "sig") == "sig"
        and item.get("alg", "RS256") in ALGORITHMS
    )


async def _document(client: httpx.AsyncClient, url: str) -> dict[str, Any]:
    """A JSON object of at most ``MAX_DOCUMENT_BYTES``, read without following redirects."""
    async with client.stream("GET", url) as answer:
        answer.raise_for_status()
        body = b""
        async for chunk in answer.aiter_bytes():
            body += chunk
            if len(body) > MAX_DOCUMENT_BYTES:
                raise ValueError(f"{url}: over {MAX_DOCUMENT_BYTES} bytes")
    document = json.loads(body)
    if not isinstance(document, dict):
        raise ValueError(f"{url}: not a JSON object")
    return document
