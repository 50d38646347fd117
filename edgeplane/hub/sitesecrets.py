"""A site's Secrets: ``GET /sites/{site}/secrets/{name}`` gives the values of a Secret
to the site whose Assignments name it (``spec.workload.process.secrets``), over the
site's own channel, and to nobody else.

``hub.authz`` lets a site's credential through only for its own site and a Secret one
of its Assignments names (the check reads the Assignments, never a name parsed
again); this route refuses every other caller, admins included: values leave the hub
only for the sites that run what needs them. The answer is
``{"name", "version", "data": {key: base64}}``; the audit log records each read.
"""

from __future__ import annotations

import base64

from fastapi import APIRouter, Request, Response

from edgeplane.hub.errors import ApiError
from edgeplane.hub.resources import ObjectResponse
from edgeplane.hub.sealing import SealingError
from edgeplane.hub.secrets import keyring
from edgeplane.store.errors import NotFound
from edgeplane.store.protocol import Store

router = APIRouter(prefix="/api/v1alpha1")


def _only_sites(request: Request, site: str) -> None:
    principal = request.scope.get("state", {}).get("principal")
    if principal is None or principal.role != "site" or principal.subject != site:
        raise ApiError(
            403,
            "Forbidden",
            f"only site {site!r} reads the Secrets its assignments use: values are given "
            "to no user, admins included (get the Secret to see its keys and version)",
            "role",
        )


@router.get("/sites/{site}/secrets/{name}", response_model=None)
async def site_secret(request: Request, site: str, name: str) -> Response:
    _only_sites(request, site)
    store: Store = request.app.state.store
    missing = ApiError(
        404, "NotFound", f"Secret {name!r} is not stored: create it on the hub", "name"
    )
    try:
        secret = await store.get("Secret", name)
    except NotFound:
        raise missing from None
    row = await store.get_sealed(str(secret["spec"]["sealed"]))
    if row is None:  # replaced meanwhile: the site asks again
        raise ApiError(409, "Conflict", f"Secret {name!r} changed meanwhile: ask again", "name")
    ring = keyring(request)
    try:
        values = ring.unseal(row)
    except SealingError as e:
        raise ApiError(503, "KeyringUnavailable", str(e), "keyring") from None
    data = {k: base64.b64encode(v).decode() for k, v in sorted(values.items())}
    return ObjectResponse({"name": name, "version": secret["spec"]["version"], "data": data})
