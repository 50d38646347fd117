"""Secrets: written from a manifest's ``stringData`` (text) or ``data`` (base64), kept
sealed apart from the objects (``hub.sealing``, ``store.sealed_sql``), and shown by
every route (get, list, watch, the answer to a write) as keys and version only.

* ``POST /secrets`` and ``PUT /secrets/{name}``: seal the values under a new row, then
  write the Secret naming it (``spec.keys``, ``spec.version``, ``spec.sealed``); the
  rows of earlier versions are removed after, a row whose write failed at once.
* ``PATCH /secrets/{name}`` and ``/status``: 405 (values are replaced whole).
* ``DELETE /secrets/{name}``: the Secret, then its rows.
* ``POST /secrets/rotate-key``: a new primary key; every row sealed again under it.

Only admins reach these (``hub.roles``); no site reads a Secret yet.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from fastapi import APIRouter, Request, Response

from edgeplane.api.kinds import API_VERSION
from edgeplane.api.secrets import MAX_KEYS, MAX_TOTAL_BYTES, MAX_VALUE_BYTES, check_secret_key
from edgeplane.api.validation import to_wire, validate_object
from edgeplane.api.wire import Object
from edgeplane.hub.errors import ApiError, bad_request
from edgeplane.hub.resources import ObjectResponse, json_body
from edgeplane.hub.sealing import KEYRING_FILE, Keyring, SealingError
from edgeplane.store.protocol import Store

router = APIRouter(prefix="/api/v1alpha1")
_FIELDS = frozenset({"apiVersion", "kind", "metadata", "stringData", "data"})
ROTATION_PAGE = 200


def keyring(request: Request) -> Keyring:
    """The hub's keyring, read (or made) on first use."""
    state = request.app.state
    ring: Keyring | None = getattr(state, "keyring", None)
    if ring is None:
        settings = state.settings
        try:
            ring = Keyring.load(settings.secret_keys or settings.data_dir / KEYRING_FILE)
        except SealingError as e:
            raise ApiError(503, "KeyringUnavailable", str(e), "keyring") from None
        state.keyring = ring
    return ring


def _values(body: dict[str, Any]) -> dict[str, bytes]:
    """``data`` (base64) with ``stringData`` over it, as Kubernetes merges them."""
    values: dict[str, bytes] = {}
    for field, decode in (("data", _base64), ("stringData", _text)):
        given = body.get(field)
        if given is None:
            continue
        if not isinstance(given, dict):
            raise bad_request(f"{field} must be an object of key: value", field)
        for key, value in given.items():
            if problem := check_secret_key(str(key)):
                raise bad_request(f"{field}[{str(key)[:80]}]: the key {problem}", f"{field}")
            if not isinstance(value, str):
                raise bad_request(f"{field}[{key}] must be a string", f"{field}[{key}]")
            values[key] = decode(value, f"{field}[{key}]")
            if len(values[key]) > MAX_VALUE_BYTES:
                raise bad_request(
                    f"{field}[{key}] is over {MAX_VALUE_BYTES} bytes: keep large files in "
                    "an artifact and only their key here",
                    f"{field}[{key}]",
                )
    if not values:
        raise bad_request("a Secret needs stringData or data with at least one key", "stringData")
    if len(values) > MAX_KEYS:
        raise bad_request(f"a Secret holds at most {MAX_KEYS} keys", "stringData")
    if sum(map(len, values.values())) > MAX_TOTAL_BYTES:
        raise bad_request(f"a Secret holds at most {MAX_TOTAL_BYTES} bytes", "stringData")
    return values


def _base64(text: str, field: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise bad_request(f"{field} is not base64: use stringData for text", field) from None


def _text(text: str, _field: str) -> bytes:
    return text.encode()


def _envelope(body: dict[str, Any], name: str | None) -> dict[str, Any]:
    if unknown := sorted(set(body) - _FIELDS):
        hint = "spec is the hub's: write values in stringData or data"
        raise bad_request(f"unknown field {unknown[0]!r} ({hint})", unknown[0])
    if body.get("apiVersion") != API_VERSION or body.get("kind") != "Secret":
        raise bad_request(f"apiVersion must be {API_VERSION} and kind Secret", "kind")
    metadata = body.get("metadata")
    if not isinstance(metadata, dict):
        raise bad_request("metadata must be an object with a name", "metadata")
    if name is not None and metadata.get("name", name) != name:
        raise bad_request(f"metadata.name must be {name!r}, as in the URL", "metadata.name")
    kept = ("name", "labels", "annotations", "resourceVersion")
    found = {k: v for k, v in metadata.items() if k in kept}
    if name is not None:
        found.setdefault("name", name)
    return found


def _secret(metadata: dict[str, Any], keys: list[str], version: int, sealed: str) -> Object:
    raw = {
        "apiVersion": API_VERSION,
        "kind": "Secret",
        "metadata": metadata,
        "spec": {"keys": keys, "version": version, "sealed": sealed},
    }
    return to_wire(validate_object(raw, expected_kind="Secret"))


async def _write(request: Request, name: str | None) -> Response:
    body = await json_body(request)
    metadata = _envelope(body, name)
    values = _values(body)
    store: Store = request.app.state.store
    current = await store.get("Secret", name) if name is not None else None
    version = int(current["spec"]["version"]) + 1 if current else 1
    ring = keyring(request)
    shown = {k: v for k, v in metadata.items() if k != "resourceVersion"}
    # Checked before anything is sealed: a bad name or key stores nothing.
    _secret(shown, sorted(values), version, "0" * 32)
    row = ring.seal(str(metadata.get("name")), values)
    obj = _secret(shown, sorted(values), version, row.id)
    await store.put_sealed(row)
    try:
        if current is None:
            written = await store.create(obj)
        else:  # the writer's resourceVersion if it gave one: a stale one is a 409
            given = metadata.get("resourceVersion") or current["metadata"]["resourceVersion"]
            obj["metadata"]["resourceVersion"] = given
            written = await store.replace(obj)
    except BaseException:
        await store.delete_sealed(row.name, only=row.id)
        raise
    await store.delete_sealed(row.name, keep=row.id)
    return ObjectResponse(written, status_code=201 if current is None else 200)


@router.post("/secrets", response_model=None)
async def create_secret(request: Request) -> Response:
    return await _write(request, None)


@router.post("/secrets/rotate-key", response_model=None)
async def rotate_key(request: Request) -> Response:
    ring = keyring(request)
    store: Store = request.app.state.store
    try:
        primary = ring.add_key()
        after, resealed = "", 0
        while rows := await store.list_sealed(after, ROTATION_PAGE):
            for row in rows:
                if row.key_id != primary:
                    fresh = ring.seal(row.name, ring.unseal(row), sealed_id=row.id)
                    await store.replace_sealed(fresh)
                    resealed += 1
            after = rows[-1].id
    except SealingError as e:
        # The rows sealed again so far stay so; running the rotation again finishes it.
        raise ApiError(409, "SealingFailed", str(e), "keyring") from None
    return ObjectResponse({"primary": primary, "resealed": resealed})


@router.put("/secrets/{name}", response_model=None)
async def replace_secret(request: Request, name: str) -> Response:
    return await _write(request, name)


@router.patch("/secrets/{name}", response_model=None)
@router.put("/secrets/{name}/status", response_model=None)
@router.patch("/secrets/{name}/status", response_model=None)
async def patch_secret(request: Request, name: str) -> Response:
    raise ApiError(
        405,
        "MethodNotAllowed",
        f"Secret {name!r} is replaced whole: PUT it (or `edgeplane apply`) with all its "
        "stringData or data; it has no status",
        "method",
    )


@router.delete("/secrets/{name}", response_model=None)
async def delete_secret(request: Request, name: str) -> Response:
    store: Store = request.app.state.store
    resource_version = request.query_params.get("resourceVersion")
    gone = await store.delete("Secret", name, resource_version)
    await store.delete_sealed(name)
    return ObjectResponse(gone)
