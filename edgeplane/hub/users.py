"""User tokens and what they may do.

* ``POST /tokens`` (admin): a token for a person or a service account, with a role
  (``viewer``, ``operator``, ``admin``: ``hub.roles``) and an optional lifetime; the
  secret is in this answer only, the store keeps its hash. ``DELETE /tokens/{id}``
  revokes it (``hub.tokens``).
* ``GET /auth/whoami``: the caller's subject and role.
* ``GET /auth/can-i?verb=&kind=[&name=]``: whether the caller may, from the table the
  middleware checks (``edgeplane auth can-i``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from edgeplane.api.labels import check_dns1123_label
from edgeplane.hub.auth import Principal, mint
from edgeplane.hub.errors import ApiError, bad_request
from edgeplane.hub.joining import rfc3339
from edgeplane.hub.resources import ObjectResponse, json_body
from edgeplane.hub.roles import USER_ROLES, BadQuestion, can_i
from edgeplane.store.protocol import Store

router = APIRouter(prefix="/api/v1alpha1")
MIN_TTL, MAX_TTL = 60, 366 * 24 * 3600
RESERVED_SUBJECTS = frozenset({"admin"})
"""The hub's own admin token's subject (``token rotate-admin`` replaces its tokens)."""
_FIELDS = frozenset({"subject", "role", "ttlSeconds"})


def _principal(request: Request) -> Principal:
    principal: Principal = request.state.principal
    return principal


def _subject(body: dict[str, Any]) -> str:
    subject = body.get("subject")
    problem = check_dns1123_label(subject) if isinstance(subject, str) else "must be a string"
    if problem:
        raise bad_request(f"subject {problem}: name the person or service", "subject")
    if subject in RESERVED_SUBJECTS:
        raise bad_request(
            f"subject {subject!r} is the hub's own admin token's: choose another name",
            "subject",
        )
    return str(subject)


def _ttl(body: dict[str, Any]) -> int | None:
    ttl = body.get("ttlSeconds")
    if ttl is None:
        return None
    if isinstance(ttl, bool) or not isinstance(ttl, int) or not MIN_TTL <= ttl <= MAX_TTL:
        raise bad_request(
            f"ttlSeconds must be a whole number of seconds from {MIN_TTL} to {MAX_TTL}, "
            "or left out for a token that does not expire",
            "ttlSeconds",
        )
    return ttl


@router.post("/tokens", response_model=None)
async def create_token(request: Request) -> Response:
    body = await json_body(request)
    if unknown := sorted(set(body) - _FIELDS):
        raise bad_request(
            f"unknown field {unknown[0]!r}: a token takes subject, role and ttlSeconds",
            unknown[0],
        )
    subject, ttl = _subject(body), _ttl(body)
    role = body.get("role")
    if not isinstance(role, str) or role not in USER_ROLES:
        raise bad_request(f"role must be one of {', '.join(USER_ROLES)}", "role")
    token, record = mint(subject, role, ttl)
    store: Store = request.app.state.store
    await store.put_token(record)
    answer = {
        "token": token,
        "id": record.token_id,
        "subject": subject,
        "role": role,
        "createdAt": rfc3339(record.created_at),
        "expiresAt": rfc3339(record.expires_at) if record.expires_at else None,
    }
    return ObjectResponse(answer, status_code=201)


@router.get("/auth/whoami", response_model=None)
async def whoami(request: Request) -> Response:
    principal = _principal(request)
    return ObjectResponse({"subject": principal.subject, "role": principal.role})


@router.get("/auth/can-i", response_model=None)
async def may_i(request: Request, verb: str = "", kind: str = "", name: str = "") -> Response:
    principal = _principal(request)
    if len(verb) > 32 or len(kind) > 64 or len(name) > 253:
        raise bad_request("verb, kind or name is too long", "verb")
    try:
        answer = can_i(principal.role, verb, kind, name)
    except BadQuestion as e:
        raise ApiError(400, "BadRequest", str(e), e.field) from None
    return ObjectResponse(
        {
            "allowed": answer.allowed,
            "subject": principal.subject,
            "role": answer.role,
            "needs": answer.needs,
            "request": f"{answer.method} {answer.path}",
        }
    )
