"""Credentials as operators see them: the hub's CA, and listing, revoking and rotating
tokens.

* ``GET /ca`` (anonymous): the CA a new agent checks against the fingerprint in its
  join token before it sends anything else;
* ``GET /tokens``, ``DELETE /tokens/{id}``: every credential without its secret; a
  revoked one fails at once (the authenticator's cache forgets it);
* ``POST /tokens/rotate-admin``: a new admin token, the hub's old ones revoked (users'
  tokens, ``hub.users``, stay);
* ``POST /sites/{site}/credential/rotate`` (admin) asks a site to switch: its current
  credentials expire after an overlap, and the Site is annotated with that deadline. The
  agent sees the annotation in the answer to its next heartbeat and calls
  ``POST /sites/{site}/credential`` with its current credential, which answers a new one.
  The new secret is only ever in that answer, never in the store. When the agent, by
  then on the new credential, calls again, the hub removes the annotation.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import time
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request, Response

from edgeplane.hub.auth import ADMIN_TOKEN_FILE, mint, split, verify_secret
from edgeplane.hub.errors import ApiError, bad_request
from edgeplane.hub.healthterms import HealthTerms
from edgeplane.hub.joining import rfc3339
from edgeplane.hub.resources import ObjectResponse, json_body
from edgeplane.store.errors import Conflict, NotFound
from edgeplane.store.objects import without_status
from edgeplane.store.protocol import Store, TokenRecord

router = APIRouter(prefix="/api/v1alpha1")
ROTATION_ANNOTATION = "edgeplane.io/credential-rotation"
"""On a Site: the deadline (RFC 3339) after which its previous credential fails."""
DEFAULT_OVERLAP, MIN_OVERLAP, MAX_OVERLAP = 600, 1, 7 * 24 * 3600
MAX_LISTED = 10_000


def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


@router.get("/ca", response_model=None)
async def certificate_authority(request: Request) -> Response:
    tls = getattr(request.app.state, "tls", None)
    if tls is None:
        raise ApiError(
            404,
            "NoCertificateAuthority",
            "this hub serves plain HTTP (--plain-http) and has no CA; start it without "
            "--plain-http to serve HTTPS",
        )
    return ObjectResponse({"caCertificate": tls.ca_pem, "fingerprint": tls.fingerprint})


def _listed(record: TokenRecord) -> dict[str, Any]:
    """A credential as ``token list`` shows it: never the secret nor its hash."""

    def at(value: float | None) -> str | None:
        return rfc3339(value) if value is not None else None

    expired = record.expires_at is not None and record.expires_at < time.time()
    return {
        "id": record.token_id,
        "role": record.role,
        "subject": record.subject,
        "createdAt": rfc3339(record.created_at),
        "expiresAt": at(record.expires_at),
        "expired": expired,
        "usedAt": at(record.used_at),
        "usedBy": record.used_by,
    }


@router.get("/tokens", response_model=None)
async def list_tokens(request: Request) -> Response:
    records = await _store(request).list_tokens(MAX_LISTED)
    return ObjectResponse({"items": [_listed(r) for r in records]})


@router.delete("/tokens/{token_id}", response_model=None)
async def revoke_token(request: Request, token_id: str) -> Response:
    store = _store(request)
    record = await store.get_token(token_id) if len(token_id) <= 64 else None
    if record is None:
        raise ApiError(
            404, "NotFound", f"no token with id {token_id!r}: see `edgeplane token list`", "id"
        )
    if record.role == "admin" and not await _other_admins(store, token_id):
        raise ApiError(
            409,
            "LastAdminToken",
            "this is the only admin token: revoking it would lock every admin out; "
            "use `edgeplane token rotate-admin` to replace it",
            "id",
        )
    await store.delete_token(token_id)
    request.app.state.authenticator.forget_token(token_id)
    return ObjectResponse(_listed(record))


async def _other_admins(store: Store, token_id: str) -> bool:
    records = await store.list_tokens(MAX_LISTED, role="admin")
    return any(r.role == "admin" and r.token_id != token_id for r in records)


@router.post("/tokens/rotate-admin", response_model=None)
async def rotate_admin(request: Request) -> Response:
    store = _store(request)
    token, record = mint("admin", "admin")
    await store.put_token(record)
    for old in await store.list_tokens(MAX_LISTED, role="admin"):
        # The hub's own admin tokens; users' admin tokens (``hub.users``) stay.
        if (old.role, old.subject) == ("admin", "admin") and old.token_id != record.token_id:
            await store.delete_token(old.token_id)
    request.app.state.authenticator.forget("admin", "admin")
    # The hub's own copy follows, so `<data-dir>/admin.token` stays the way in.
    _write_private(request.app.state.settings.data_dir / ADMIN_TOKEN_FILE, token + "\n")
    return ObjectResponse({"token": token, "id": record.token_id}, status_code=201)


def _write_private(path: Path, text: str) -> None:
    """Atomically, 0600 from the first byte whatever the umask (it is a secret)."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        os.fchmod(f.fileno(), 0o600)
        f.write(text)
    os.replace(tmp, path)


def _overlap(body: Any) -> int:
    raw = body.get("overlapSeconds", DEFAULT_OVERLAP) if isinstance(body, dict) else None
    if isinstance(raw, bool) or not isinstance(raw, int) or not MIN_OVERLAP <= raw <= MAX_OVERLAP:
        raise ApiError(
            422,
            "Invalid",
            f"overlapSeconds: a whole number of seconds from {MIN_OVERLAP} to {MAX_OVERLAP}",
            "overlapSeconds",
        )
    return raw


@router.post("/sites/{site}/credential/rotate", response_model=None)
async def request_rotation(request: Request, site: str) -> Response:
    store = _store(request)
    body = await json_body(request) if await request.body() else {}
    if not isinstance(body, dict):
        raise bad_request('send a JSON object like {"overlapSeconds": 600}')
    overlap = _overlap(body)
    current = [r for r in await _site_tokens(store, site) if not _expired(r)]
    if not current:
        raise ApiError(
            409,
            "NoCredential",
            f"site {site!r} holds no valid credential to rotate: it has not joined, or its "
            "credential expired; make a join token with `edgeplane site token`",
            "site",
        )
    await _check_overlap_covers_lease(request, store, site, overlap)
    deadline = time.time() + overlap
    for record in current:
        expires = min(deadline, record.expires_at or deadline)
        pending = _attributes(record) | {"rotating": True}
        await store.put_token(
            dataclasses.replace(record, expires_at=expires, attributes=json.dumps(pending))
        )
    await _annotate(store, site, rfc3339(deadline))
    request.app.state.authenticator.forget(site, "site")
    return ObjectResponse(
        {
            "site": site,
            "previousCredentialExpiresAt": rfc3339(deadline),
            "message": f"the agent switches at its next heartbeat; its previous credential "
            f"stops working at {rfc3339(deadline)}",
        },
        status_code=202,
    )


async def _check_overlap_covers_lease(
    request: Request, store: Store, site: str, overlap: int
) -> None:
    """Refuse an overlap shorter than the site's lease: its agent switches at a heartbeat,
    and one that misses a few of them (a lossy link) would be locked out for good."""
    with contextlib.suppress(NotFound):  # a credential without a Site: nothing to judge by
        terms: HealthTerms = getattr(request.app.state, "health_terms", None) or HealthTerms()
        lease = terms.of(await store.get("Site", site)).lease_seconds
        if overlap < lease:
            raise ApiError(
                422,
                "Invalid",
                f"overlapSeconds: {overlap} s is shorter than site {site!r}'s lease of "
                f"{lease:g} s (its agent switches at a heartbeat and may miss a few); give at "
                f"least {math.ceil(lease)}",
                "overlapSeconds",
            )


@router.post("/sites/{site}/credential", response_model=None)
async def take_new_credential(request: Request, site: str) -> Response:
    """A site trades its credential under rotation for a new one (site auth only)."""
    store = _store(request)
    caller = await _caller(request, store)
    if caller is None or caller.subject != site or caller.role != "site":
        raise ApiError(403, "Forbidden", "only the site itself takes its new credential")
    if not _attributes(caller).get("rotating"):
        # The agent runs on a credential no rotation is pending for: it has switched.
        await _annotate(store, site, None)
        raise ApiError(
            409, "NoRotationPending", "no rotation is pending for this credential", "credential"
        )
    for record in await _site_tokens(store, site):
        if _attributes(record).get("rotatedFrom") == caller.token_id:
            await store.delete_token(record.token_id)  # an earlier answer that was lost
    token, record = mint(site, "site")
    record = dataclasses.replace(record, attributes=json.dumps({"rotatedFrom": caller.token_id}))
    await store.put_token(record)
    expires = rfc3339(caller.expires_at) if caller.expires_at else None
    return ObjectResponse(
        {"credential": token, "previousCredentialExpiresAt": expires}, status_code=201
    )


async def _caller(request: Request, store: Store) -> TokenRecord | None:
    """The record of the token this request is authenticated with. Its secret is checked
    again here: the id alone (listed by `token list`) must not select whose credential
    is rotated."""
    header = request.headers.get("authorization", "")
    parts = split(header.partition(" ")[2].strip())
    record = await store.get_token(parts[0]) if parts else None
    if parts is None or record is None or not verify_secret(parts[1], record):
        return None
    return None if _expired(record) else record


async def _site_tokens(store: Store, site: str) -> tuple[TokenRecord, ...]:
    # Asked of the store by subject: past MAX_LISTED tokens in all (used join tokens
    # stay), a site that joined late was not in the first page and could not be rotated.
    records = await store.list_tokens(MAX_LISTED, role="site", subject=site)
    return tuple(r for r in records if r.role == "site" and r.subject == site)


def _expired(record: TokenRecord) -> bool:
    return record.expires_at is not None and record.expires_at < time.time()


def _attributes(record: TokenRecord) -> dict[str, Any]:
    with contextlib.suppress(ValueError):
        found = json.loads(record.attributes or "{}")
        if isinstance(found, dict):
            return found
    return {}


async def _annotate(store: Store, site: str, deadline: str | None) -> None:
    """Set (or, with None, remove) the rotation notice on the Site; retried on a race."""
    for _ in range(5):
        try:
            obj = await store.get("Site", site)
        except NotFound:
            return
        annotations = dict(obj["metadata"].get("annotations") or {})
        if annotations.get(ROTATION_ANNOTATION) == deadline:
            return
        if deadline is None:
            annotations.pop(ROTATION_ANNOTATION, None)
        else:
            annotations[ROTATION_ANNOTATION] = deadline
        obj["metadata"]["annotations"] = annotations
        with contextlib.suppress(Conflict):
            await store.replace(without_status(obj))
            return
