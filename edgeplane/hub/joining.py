"""Joining the fleet: admins mint single-use join tokens; an agent trades one for its
site's own credential, and the Site is created with the token's labels.

The token's labels are authoritative: the joining party may add labels the token did
not pin, never change one it did (the token's value wins), and never give itself one
under the hub's reserved ``edgeplane.io/`` prefix (422 naming the label). Admins may
pin such labels in the token.

Every refusal changes nothing and leaves the token usable, except a token that was
used already, which says by whom.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import time
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request, Response

from edgeplane.api.kinds import API_VERSION
from edgeplane.api.labels import check_label_key, check_label_value
from edgeplane.api.validation import InvalidObject, to_wire, validate_object
from edgeplane.api.wellknown import MAX_SITE_NAME, RESERVED_DOMAIN, reserved_label
from edgeplane.api.wire import Object
from edgeplane.hub.auth import mint, split, verify_secret
from edgeplane.hub.errors import ApiError, bad_request, unauthorized
from edgeplane.hub.resources import ObjectResponse, json_body
from edgeplane.store.errors import AlreadyExists, NotFound, StoreError
from edgeplane.store.objects import without_status
from edgeplane.store.protocol import Store, TokenRecord

router = APIRouter(prefix="/api/v1alpha1")
DEFAULT_TTL, MAX_TTL = 3600, 30 * 24 * 3600
JOIN_FIELDS = frozenset({"token", "site", "labels", "inventory"})


def rfc3339(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def invalid(field: str, message: str) -> ApiError:
    return ApiError(422, "Invalid", f"{field}: {message}", field)


def checked_labels(raw: Any, field: str) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise invalid(field, "must be a map of label keys to values")
    for key, value in raw.items():
        if not isinstance(value, str):
            raise invalid(f"{field}[{key}]", "label values are strings: quote it")
        if problem := check_label_key(key) or check_label_value(value):
            raise invalid(f"{field}[{key}]", problem)
    return dict(raw)


def joined_labels(asked: dict[str, str], pinned: dict[str, str]) -> dict[str, str]:
    """The Site's labels: what the joining party asked for, under the token's."""
    for key in asked:
        if reserved_label(key):
            raise invalid(
                f"labels[{key}]",
                f"labels under {RESERVED_DOMAIN}/ are the hub's: leave it out, or have an "
                "admin pin it in the join token (`edgeplane site token --labels k=v`)",
            )
    return {**asked, **pinned}  # the token's last: a pinned label keeps its value


def checked_ttl(raw: Any) -> int:
    if raw is None:
        return DEFAULT_TTL
    if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= MAX_TTL:
        raise invalid("ttlSeconds", f"must be a whole number of seconds from 1 to {MAX_TTL}")
    return raw


@router.post("/jointokens", status_code=201, response_model=None)
async def create_join_token(request: Request) -> Response:
    body = await json_body(request)
    if not isinstance(body, dict):
        raise bad_request('send a JSON object like {"labels": {...}, "ttlSeconds": 3600}')
    unknown = set(body) - {"labels", "ttlSeconds"}
    if unknown:
        raise invalid(sorted(unknown)[0], "unknown field; the fields are labels and ttlSeconds")
    labels, ttl = checked_labels(body.get("labels"), "labels"), checked_ttl(body.get("ttlSeconds"))
    token, record = mint("", "join", ttl)
    record = dataclasses.replace(record, attributes=json.dumps({"labels": labels}))
    await _store(request).put_token(record)
    assert record.expires_at is not None
    answer = {"token": token, "expiresAt": rfc3339(record.expires_at), "labels": labels}
    # The token carries the CA's fingerprint, so the agent pins it before it sends the
    # secret (hub/tls.py); a plain-HTTP hub has no CA to pin.
    if tls := getattr(request.app.state, "tls", None):
        answer |= {"token": f"{token}@{tls.fingerprint}", "caFingerprint": tls.fingerprint}
    return ObjectResponse(answer, status_code=201)


def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def _site_object(site: Any, labels: dict[str, str], inventory: Any) -> Object:
    """The Site a join creates, validated like any other write."""
    if not isinstance(site, str):
        raise invalid("site", 'is required: a string, the name of the new Site, e.g. "shop-1"')
    if len(site) > MAX_SITE_NAME:
        raise invalid("site", f"a site name is at most {MAX_SITE_NAME} characters (a label value)")
    raw = {
        "apiVersion": API_VERSION,
        "kind": "Site",
        "metadata": {"name": site, "labels": labels},
        "spec": _joined_spec(inventory),
        "status": {"phase": "Pending", "inventory": inventory or {}},
    }
    try:
        return to_wire(validate_object(raw, expected_kind="Site"))
    except InvalidObject as e:  # point at the join body's own fields
        field = e.field or ""
        field = field.replace("metadata.name", "site").replace("status.inventory", "inventory")
        field = field.replace("spec.runtime", "inventory.runtime")  # the Site's spec comes from it
        raise invalid(field.replace("metadata.labels", "labels"), str(e)) from e


def _joined_spec(inventory: Any) -> dict[str, Any]:
    """What the joining agent runs, declared as the Site's: ``runtimes`` when it runs
    two, else ``runtime`` (as before ``runtimes``)."""
    if not isinstance(inventory, dict):
        return {}
    runtime, runtimes = inventory.get("runtime"), inventory.get("runtimes")
    if isinstance(runtimes, list) and len(runtimes) > 1:
        return {"runtimes": runtimes}
    return {"runtime": runtime} if runtime else {}


async def _usable_token(store: Store, token: Any) -> TokenRecord:
    parts = split(token) if isinstance(token, str) else None
    record = await store.get_token(parts[0]) if parts else None
    if (
        parts is None
        or record is None
        or record.role != "join"
        or not verify_secret(parts[1], record)
    ):
        raise ApiError(
            401,
            "Unauthorized",
            "token: not a valid join token: send the `ep_<id>_<secret>` an admin made with "
            "`edgeplane site token` (without its @sha256:... suffix, which is the hub's CA)",
            "token",
        )
    if record.used_at is not None:
        raise ApiError(
            401,
            "JoinTokenUsed",
            f"this join token was already used by site {record.used_by!r} at "
            f"{rfc3339(record.used_at)}; make a new one with `edgeplane site token`",
            "token",
        )
    if record.expires_at is not None and record.expires_at < time.time():
        raise ApiError(
            401,
            "JoinTokenExpired",
            f"this join token expired at {rfc3339(record.expires_at)}; make a new one with "
            "`edgeplane site token --ttl 1h`",
            "token",
        )
    return record


@router.post("/join", status_code=201, response_model=None)
async def join(request: Request) -> Response:
    store, body = _store(request), await json_body(request)
    if not isinstance(body, dict):
        raise bad_request('send {"token": ..., "site": ..., "labels": {...}, "inventory": {...}}')
    # A misspelt field ("label") would join without what it meant to say.
    if unknown := sorted(set(body) - JOIN_FIELDS):
        raise invalid(unknown[0], "unknown field; the fields are token, site, labels, inventory")
    record = await _usable_token(store, body.get("token"))
    token_labels = json.loads(record.attributes or "{}").get("labels") or {}
    labels = joined_labels(checked_labels(body.get("labels"), "labels"), token_labels)
    site = _site_object(body.get("site"), labels, body.get("inventory"))
    name = site["metadata"]["name"]
    if await _exists(store, name):
        raise _taken(name)
    if not await store.use_token(record.token_id, name, time.time()):
        await _usable_token(store, body.get("token"))  # another join won: says by whom
        raise unauthorized()
    try:
        credential = await _create_site(store, site)
    except BaseException:
        # Whatever stopped the Site (a name taken meanwhile, the store failing, the
        # client gone) must not burn the token: the operator would need a new one.
        await store.release_token(record.token_id)
        raise
    return ObjectResponse({"site": name, "credential": credential}, status_code=201)


async def _create_site(store: Store, site: Object) -> str:
    """Create the Site and its credential, or neither; the credential's token."""
    name = site["metadata"]["name"]
    try:
        created = await store.create(without_status(site))
    except AlreadyExists:
        raise _taken(name) from None
    try:
        credential, site_token = mint(name, "site")
        await store.put_token(site_token)
        await store.replace_status({**created, "status": site["status"]})
    except BaseException:
        with contextlib.suppress(StoreError):
            await store.delete_tokens_of(name, "site")
        with contextlib.suppress(StoreError):
            await store.delete("Site", name)
        raise
    return credential


def _taken(name: str) -> ApiError:
    return ApiError(
        409,
        "AlreadyExists",
        f'Site "{name}" exists already: join under another name, or delete that Site first',
        "site",
    )


async def _exists(store: Store, name: str) -> bool:
    try:
        await store.get("Site", name)
    except NotFound:
        return False
    return True
