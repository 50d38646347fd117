"""The query of a list or a watch, read strictly: what ``GET /{plural}`` may be asked.

* ``resourceVersion`` and ``limit`` are ASCII digits, at most 20 of them: ``str.isdigit``
  accepts '١٢' and '²', and ``int`` of 5,000 digits raises; both are a 400 here.
* A version newer than the store's is refused as Kubernetes does (504 "Too large
  resource version"), instead of a watch that silently waits past events or a list
  that claims a version it does not hold; clients list again from scratch.
* A site's narrowing (``authz.site_requirement``, put in the ASGI scope by the auth
  middleware) is ANDed to the parsed selector as an object.
* A ``continue`` token is bounded; the store checks its signature, and one from before
  the compaction watermark is 410 Expired.

Neighbours: ``resources`` (the route), ``watch`` (the stream), ``authz`` (narrowing).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from fastapi import Request

from edgeplane.api.selectors import Requirement, Selector, parse_selector
from edgeplane.hub.authz import NARROWING, narrowed
from edgeplane.hub.errors import ApiError, bad_request
from edgeplane.hub.roles import USER_ROLES
from edgeplane.store.protocol import ListResult, Store

MAX_RESOURCE_VERSION = 2**63 - 1
"""The store keeps versions in a signed 64-bit column."""
MAX_LIMIT = 1000
MAX_CONTINUE = 1024
"""A token the hub issues is under 200 characters; anything far longer is not one."""
_DIGITS = re.compile(r"[0-9]{1,20}")


@dataclass(frozen=True)
class ListQuery:
    selector: Selector
    limit: int | None
    continue_token: str | None
    resource_version: int | None


def parse_list_query(
    request: Request,
    label_selector: str | None,
    limit: str | None,
    continue_token: str | None,
    resource_version: str | None,
) -> ListQuery:
    """The query of ``request``, checked, with the caller's narrowing ANDed in."""
    requirement: Requirement | None = getattr(request.state, NARROWING, None)
    principal = getattr(request.state, "principal", None)
    if requirement is None and principal is not None and principal.role not in USER_ROLES:
        # Fail closed: a site's list must never run un-narrowed, whatever routed it here.
        raise ApiError(403, "Forbidden", "this credential may list only its own assignments")
    selector = narrowed(parse_selector(label_selector), requirement)
    return ListQuery(
        selector,
        _limit(limit),
        _continue(continue_token),
        parse_resource_version(resource_version),
    )


def parse_resource_version(value: str | None) -> int | None:
    """None when absent; else ASCII digits within int64, or a 400 naming the field."""
    if value is None or value == "":
        return None
    number = _whole_number(value)
    if number is None or number > MAX_RESOURCE_VERSION:
        raise bad_request(
            f"resourceVersion {value[:40]!r} is not one the hub issues: pass the "
            "metadata.resourceVersion of a list or an object unchanged (ASCII digits), "
            "or leave it out to start from now",
            "resourceVersion",
        )
    return number


def _limit(value: str | None) -> int | None:
    if value is None or value == "":
        return None
    number = _whole_number(value)
    if number is None or not 1 <= number <= MAX_LIMIT:
        raise bad_request(
            f"limit {value[:40]!r} is not a whole number from 1 to {MAX_LIMIT} (ASCII "
            "digits): ask for fewer items per page and follow metadata.continue",
            "limit",
        )
    return number


def _continue(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    if len(value) > MAX_CONTINUE:
        raise bad_request(
            f"continue is {len(value)} characters, longer than any token the hub issues: "
            "pass the previous page's metadata.continue unchanged",
            "continue",
        )
    return value


def _whole_number(value: str) -> int | None:
    return int(value) if _DIGITS.fullmatch(value) else None


def too_large(requested: int, current: int) -> ApiError:
    """Kubernetes' answer to a version the store has not reached."""
    return ApiError(
        504,
        "TooLargeResourceVersion",
        f"Too large resource version: {requested}, current: {current}; the hub's store "
        "is older than that version (restored from a backup, or another hub's store): "
        "list again without resourceVersion and watch from the list's version",
        "resourceVersion",
    )


async def check_not_future(store: Store, requested: int | None) -> None:
    """504 when ``requested`` is newer than anything the store has written."""
    if requested is None:
        return
    current = await store.current_resource_version()
    if requested > current:
        raise too_large(requested, current)


async def list_page(store: Store, kind: str, query: ListQuery) -> ListResult:
    """One page of a list, with Kubernetes' answers to bad versions and tokens."""
    await check_not_future(store, query.resource_version)
    try:
        page = await store.list(kind, query.selector, query.limit, query.continue_token)
    except ValueError as e:  # the store did not issue this token, or not for this kind
        raise bad_request(str(e), "continue") from e
    if query.continue_token and page.resource_version < await store.compacted_resource_version():
        raise expired()
    return page


def expired() -> ApiError:
    return ApiError(
        410,
        "Expired",
        "the continue token is too old: the store compacted the history since its list "
        "began; start the list again without continue",
        "continue",
    )
