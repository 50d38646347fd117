"""The resource routes under /api/v1alpha1: list, watch, CRUD, merge-patch, /status.

Each write is validated against the resource model before it reaches the store, so
bad input is refused with a 4xx and changes nothing.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse

from edgeplane import __version__
from edgeplane.api.kinds import API_VERSION, KINDS, KindInfo, by_plural
from edgeplane.api.validation import to_wire, validate_object
from edgeplane.api.wire import Object
from edgeplane.hub import wire
from edgeplane.hub.admission import warning_headers
from edgeplane.hub.bodies import body_metadata, invalid, parse_object
from edgeplane.hub.errors import ApiError, bad_request
from edgeplane.hub.leases import with_leases
from edgeplane.hub.listing import (
    check_not_future,
    list_page,
    parse_list_query,
    parse_resource_version,
)
from edgeplane.hub.patch import merge_patch
from edgeplane.hub.sitewrites import site_written
from edgeplane.hub.watch import WatchRequest, stream
from edgeplane.store.objects import without_status
from edgeplane.store.protocol import Store

MERGE_PATCH = "application/merge-patch+json"
BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
}
PATCH_BODY = {
    "requestBody": {"required": True, "content": {MERGE_PATCH: {"schema": {"type": "object"}}}}
}

router = APIRouter(prefix="/api/v1alpha1")


class ObjectResponse(Response):
    """JSON straight from the dicts the store returns: they are JSON-shaped already, so
    FastAPI's per-field encoding (a tenth of a millisecond per object) is skipped, and
    orjson writes them (``wire``)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return wire.dumps(content)


def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


async def json_body(request: Request) -> dict[str, Any]:
    """The body as one strict JSON object (see ``bodies``), or a 400."""
    return parse_object(await request.body())


def _same_name(obj: Any, name: str) -> None:
    given = body_metadata(obj).get("name") if isinstance(obj, dict) else None
    if given is not None and given != name:
        raise bad_request(
            f"metadata.name {given!r} does not match {name!r} in the URL: they must be equal",
            "metadata.name",
        )


def _validated(raw: Any, info: KindInfo) -> Object:
    return to_wire(validate_object(raw, expected_kind=info.kind))


@router.get("", response_model=None)
async def discovery() -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "hubVersion": __version__,
        "resources": [
            {
                "kind": k.kind,
                "plural": k.plural,
                "singular": k.singular,
                "shortNames": list(k.short_names),
            }
            for k in KINDS
        ],
    }


@router.get("/{plural}", response_model=None)
async def list_or_watch(
    request: Request,
    plural: str,
    label_selector: str | None = Query(None, alias="labelSelector"),
    limit: str | None = Query(None, description="1 to 1000, ASCII digits"),
    continue_: str | None = Query(None, alias="continue"),
    watch: bool = False,
    resource_version: str | None = Query(None, alias="resourceVersion"),
) -> Response:
    info, store = by_plural(plural), _store(request)
    query = parse_list_query(request, label_selector, limit, continue_, resource_version)
    if watch:
        settings = request.app.state.settings
        since = query.resource_version
        return await _watch(
            request, store, WatchRequest(info, query.selector, since, settings.bookmark_seconds)
        )
    page = await list_page(store, info.kind, query)
    metadata: dict[str, str] = {"resourceVersion": str(page.resource_version)}
    if page.continue_token:
        metadata["continue"] = page.continue_token
    body = {"apiVersion": API_VERSION, "kind": f"{info.kind}List", "metadata": metadata}
    return ObjectResponse({**body, "items": _heard(request, info.kind, page.items)})


async def _watch(request: Request, store: Store, watch: WatchRequest) -> StreamingResponse:
    await check_not_future(store, watch.since)
    if watch.since and watch.since < await store.compacted_resource_version():
        oldest = await store.compacted_resource_version()
        raise ApiError(
            410,
            "Gone",
            f"resourceVersion {watch.since} is too old: the event log starts after {oldest}; "
            "list again and watch from the list's resourceVersion",
            "resourceVersion",
        )
    metrics, shutdown = request.app.state.metrics, request.app.state.shutdown

    async def body() -> Any:
        metrics.watches.inc()
        try:
            async for chunk in stream(store, watch, shutdown):
                yield chunk
        finally:
            metrics.watches.dec()

    return StreamingResponse(
        body(),
        media_type="application/x-ndjson",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.post("/{plural}", status_code=201, openapi_extra=BODY, response_model=None)
async def create(request: Request, plural: str) -> Response:
    info = by_plural(plural)
    raw = await json_body(request)
    obj = _validated(raw, info)
    obj.pop("status", None)  # status is written through /status only
    headers = warning_headers(await request.app.state.admission.admit(obj))
    return ObjectResponse(await _store(request).create(obj), status_code=201, headers=headers)


@router.get("/{plural}/{name}", response_model=None)
async def get(request: Request, plural: str, name: str) -> Response:
    kind = by_plural(plural).kind
    return ObjectResponse(_heard(request, kind, [await _store(request).get(kind, name)])[0])


def _heard(request: Request, kind: str, items: list[Object]) -> list[Object]:
    """Sites show ``status.lastHeartbeat`` from their lease when it is newer: heartbeats
    renew leases, not the stored object (``hub.leases``)."""
    leases = getattr(request.app.state, "leases", None)
    return with_leases(items, leases) if kind == "Site" and leases is not None else items


@router.put("/{plural}/{name}", openapi_extra=BODY, response_model=None)
async def replace(request: Request, plural: str, name: str) -> Response:
    info = by_plural(plural)
    raw = await json_body(request)
    _same_name(raw, name)
    obj = _validated(raw, info)
    headers = warning_headers(await request.app.state.admission.admit(obj))
    return ObjectResponse(await _store(request).replace(obj), headers=headers)


async def _merge_patch_body(request: Request) -> Any:
    content_type = request.headers.get("content-type", "").split(";")[0].strip()
    if content_type != MERGE_PATCH:
        raise ApiError(
            415,
            "UnsupportedMediaType",
            f"PATCH needs Content-Type {MERGE_PATCH} (got {content_type or 'none'!r})",
        )
    patch = await json_body(request)
    if not isinstance(patch, dict):
        raise bad_request("a merge patch must be a JSON object")
    return patch


@router.patch("/{plural}/{name}", openapi_extra=PATCH_BODY, response_model=None)
async def patch(request: Request, plural: str, name: str) -> Response:
    info, store = by_plural(plural), _store(request)
    body = await _merge_patch_body(request)
    current = await store.get(info.kind, name)
    merged = merge_patch(current, body)
    _same_name(merged, name)
    obj = _validated(merged, info)
    obj["metadata"]["resourceVersion"] = (
        body_metadata(body).get("resourceVersion") or current["metadata"]["resourceVersion"]
    )
    headers = warning_headers(await request.app.state.admission.admit(obj))
    return ObjectResponse(await store.replace(obj), headers=headers)


@router.delete("/{plural}/{name}", response_model=None)
async def delete(
    request: Request,
    plural: str,
    name: str,
    resource_version: str | None = Query(None, alias="resourceVersion"),
) -> Response:
    info, store = by_plural(plural), _store(request)
    # '٣', 'abc' or 5,000 digits were a 409 "stale" echoing the whole value: a 400 names it.
    version = parse_resource_version(resource_version)
    deleted = await store.delete(info.kind, name, None if version is None else str(version))
    if info.kind == "Site":
        # A deleted site's credential dies with it: a site joined again under the
        # same name gets a new one, and the old agent cannot act for it.
        await store.delete_tokens_of(name, "site")
        request.app.state.authenticator.forget(name, "site")
        await _forget_lease(request, store, name)
    return ObjectResponse(deleted)


async def _forget_lease(request: Request, store: Store, site: str) -> None:
    """A Site joined again under the same name starts without the old one's lease."""
    if (leases := getattr(request.app.state, "leases", None)) is not None:
        leases.forget(site)
    await store.delete_lease(site)


@router.put("/{plural}/{name}/status", openapi_extra=BODY, response_model=None)
async def replace_status(request: Request, plural: str, name: str) -> Response:
    info, store = by_plural(plural), _store(request)
    raw = await json_body(request)
    _same_name(raw, name)
    version = body_metadata(raw).get("resourceVersion")
    status = raw.get("status")
    if not isinstance(status, dict):
        # Without this, [1] or a body missing "status" erased the stored status.
        raise invalid(
            "status",
            f"must be an object (got {type(status).__name__}): send the whole status, "
            'e.g. {"status": {"phase": "Online"}}, or {"status": {}} to clear it',
        )
    current = await store.get(info.kind, name)
    obj = _validated({**without_status(current), "status": status}, info)
    if version is None:  # no version sent: the store checks none
        obj["metadata"].pop("resourceVersion", None)
    else:
        obj["metadata"]["resourceVersion"] = version
    return ObjectResponse(await store.replace_status(site_written(request, obj)))


@router.patch("/{plural}/{name}/status", openapi_extra=PATCH_BODY, response_model=None)
async def patch_status(request: Request, plural: str, name: str) -> Response:
    info, store = by_plural(plural), _store(request)
    body = await _merge_patch_body(request)
    version = body_metadata(body).get("resourceVersion")
    status_patch = body.get("status")
    if status_patch is not None and not isinstance(status_patch, dict):
        raise invalid(
            "status",
            f"must be an object of the fields to change (got {type(status_patch).__name__}), "
            'e.g. {"status": {"phase": "Online"}}',
        )
    current = await store.get(info.kind, name)
    candidate = dict(current)
    candidate["status"] = merge_patch(current.get("status") or {}, status_patch or {})
    obj = _validated(candidate, info)
    obj["metadata"]["resourceVersion"] = version or current["metadata"]["resourceVersion"]
    return ObjectResponse(await store.replace_status(site_written(request, obj)))
