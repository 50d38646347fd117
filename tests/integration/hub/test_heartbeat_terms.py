"""The heartbeat route's terms, in process over a real store: the answer tells a site
its period and lease, and is 204 only when the site is Online, nothing is to rotate
and the query holds the very terms the hub would answer. A query the hub cannot read
counts as none (an older agent sends none), never as an error."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from edgeplane.hub.healthterms import HealthTerms
from tests.integration.hub.siteaccess import (
    API,
    MERGE_PATCH,
    app_of,
    as_site,
    joined,
    sqlite_admin_client,
)

TERMS = {"heartbeatSeconds": 10.0, "leaseSeconds": 30.0}
"""The default terms: a 10 s period and three of them as the lease."""


async def beat(site: httpx.AsyncClient, query: str = "") -> httpx.Response:
    return await site.post(f"{API}/sites/shop-1/heartbeat{query}")


@contextlib.asynccontextmanager
async def online_site(hub: httpx.AsyncClient) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the joined site ``shop-1``, which has reported itself Online."""
    async with as_site(hub, await joined(hub, "shop-1")) as site:
        answer = await site.patch(
            f"{API}/sites/shop-1/status", json={"status": {"phase": "Online"}}, headers=MERGE_PATCH
        )
        assert answer.status_code == 200, answer.text
        yield site


QUERIES = {
    "none": ("", 200),
    "the same terms": ("?heartbeatSeconds=10.0&leaseSeconds=30.0", 204),
    "the same, written as integers": ("?heartbeatSeconds=10&leaseSeconds=30", 204),
    "another period": ("?heartbeatSeconds=5.0&leaseSeconds=30.0", 200),
    "another lease": ("?heartbeatSeconds=10.0&leaseSeconds=15.0", 200),
    "the period alone": ("?heartbeatSeconds=10.0", 200),
    "not numbers": ("?heartbeatSeconds=ten&leaseSeconds=thirty", 200),
    "out of range": ("?heartbeatSeconds=1e9&leaseSeconds=-1", 200),
    "not a number at all": ("?heartbeatSeconds=nan&leaseSeconds=inf", 200),
    "garbage": ("?%ff%00=&&==&heartbeatSeconds", 200),
}


@pytest.mark.parametrize(("query", "status"), QUERIES.values(), ids=QUERIES.keys())
async def test_the_answer_is_204_only_for_the_terms_the_site_holds(
    tmp_path: Path, query: str, status: int
) -> None:
    async with sqlite_admin_client(tmp_path) as hub, online_site(hub) as site:
        answer = await beat(site, query)
    assert answer.status_code == status, answer.text
    if status == 200:
        assert answer.json() == {"phase": "Online", "rotation": None, **TERMS}
    else:
        assert answer.content == b""


async def test_an_offline_site_hears_its_phase_and_terms_whatever_it_holds(
    tmp_path: Path,
) -> None:
    async with sqlite_admin_client(tmp_path) as hub, online_site(hub) as site:
        marked = await hub.patch(
            f"{API}/sites/shop-1/status",
            json={"status": {"phase": "Offline"}},
            headers=MERGE_PATCH,
        )
        assert marked.status_code == 200, marked.text
        answer = await beat(site, "?heartbeatSeconds=10.0&leaseSeconds=30.0")
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"phase": "Offline", "rotation": None, **TERMS}


async def test_the_terms_are_the_hubs_for_the_site(tmp_path: Path) -> None:
    """A hub whose sites beat every 2 s answers that and a lease of three periods; the
    default terms no longer earn a 204."""
    async with sqlite_admin_client(tmp_path) as hub:
        app_of(hub).state.health_terms = HealthTerms(2.0)
        async with online_site(hub) as site:
            default = await beat(site, "?heartbeatSeconds=10.0&leaseSeconds=30.0")
            held = await beat(site, "?heartbeatSeconds=2.0&leaseSeconds=6.0")
    assert default.status_code == 200, default.text
    assert default.json() == {
        "phase": "Online",
        "rotation": None,
        "heartbeatSeconds": 2.0,
        "leaseSeconds": 6.0,
    }
    assert held.status_code == 204, held.text
