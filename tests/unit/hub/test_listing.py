"""Lists by Kubernetes' rules over the in-memory store: a continue token that outlived
the compaction watermark is 410 Expired, a future version 504, a foreign token 400."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.requests import Request

from edgeplane.api.selectors import Selector
from edgeplane.api.wire import Object
from edgeplane.hub.auth import Principal
from edgeplane.hub.authz import site_requirement
from edgeplane.hub.errors import ApiError
from edgeplane.hub.listing import ListQuery, list_page, parse_list_query, parse_resource_version
from edgeplane.store.memory import MemoryStore


def site(name: str) -> Object:
    return {"apiVersion": "edgeplane.io/v1alpha1", "kind": "Site", "metadata": {"name": name}}


def query(continue_token: str | None = None, rv: int | None = None) -> ListQuery:
    return ListQuery(Selector(), 1, continue_token, rv)


async def test_a_token_from_before_compaction_is_expired() -> None:
    store = MemoryStore(event_retention=1)
    for name in ("a", "b", "c"):
        await store.create(site(name))
    first = await list_page(store, "Site", query())
    assert first.continue_token
    assert (await list_page(store, "Site", query(first.continue_token))).items  # still good
    for name in ("d", "e"):
        await store.create(site(name))
    await store.compact()
    with pytest.raises(ApiError) as caught:
        await list_page(store, "Site", query(first.continue_token))
    assert (caught.value.status, caught.value.reason, caught.value.field) == (
        410,
        "Expired",
        "continue",
    )


async def test_a_future_version_and_a_foreign_token() -> None:
    store = MemoryStore()
    await store.create(site("a"))
    with pytest.raises(ApiError) as caught:
        await list_page(store, "Site", query(rv=99))
    assert (caught.value.status, caught.value.reason) == (504, "TooLargeResourceVersion")
    other = MemoryStore()
    for name in ("a", "b"):
        await other.create(site(name))
    foreign = (await list_page(other, "Site", query())).continue_token
    assert foreign
    with pytest.raises(ApiError) as caught:
        await list_page(store, "Site", query(foreign))
    assert (caught.value.status, caught.value.field) == (400, "continue")


@pytest.mark.parametrize(
    "value", ["\u0661", "\u00b2", "9" * 20, "1" * 5000, "+1", "1_000"], ids=repr
)
def test_resource_versions_outside_ascii_int64_are_refused(value: str) -> None:
    with pytest.raises(ApiError) as caught:
        parse_resource_version(value)
    assert (caught.value.status, caught.value.field) == (400, "resourceVersion")


def test_resource_versions_in_range() -> None:
    assert parse_resource_version(None) is None
    assert parse_resource_version("") is None
    assert parse_resource_version("0") == 0
    assert parse_resource_version(str(2**63 - 1)) == 2**63 - 1


def _request(**state: Any) -> Request:
    return Request({"type": "http", "method": "GET", "path": "/", "headers": [], "state": state})


def test_a_site_list_without_its_narrowing_fails_closed() -> None:
    with pytest.raises(ApiError) as caught:
        parse_list_query(_request(principal=Principal("s1", "site")), None, None, None, None)
    assert caught.value.status == 403
    narrowed = _request(principal=Principal("s1", "site"), narrowing=site_requirement("s1"))
    query = parse_list_query(narrowed, "app=x", "5", None, None)
    assert [str(r) for r in query.selector.requirements] == ["app=x", "edgeplane.io/site=s1"]
    admin = parse_list_query(
        _request(principal=Principal("admin", "admin")), None, None, None, None
    )
    assert admin.selector.empty
