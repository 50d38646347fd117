"""The log relay through the hub's API: an admin asks, the site's agent long-polls its
queue and answers; silence is 504, and a stopping hub ends every wait."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.hub.siteaccess import (
    API,
    app_of,
    as_site,
    assign,
    joined,
    sqlite_admin_client,
)


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """Site a runs application web; its credential is in header X-Site-A."""
    async with sqlite_admin_client(tmp_path) as client:
        client.headers["X-Site-A"] = await joined(client, "a")
        await assign(client, "web", "a")
        yield client


async def answer_once(
    hub: httpx.AsyncClient, body: bytes, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    """Be site a's agent for one request: poll, answer, and return the request."""
    async with as_site(hub, hub.headers["X-Site-A"]) as site:
        polled = await site.get(f"{API}/sites/a/requests", params={"waitSeconds": "10"})
        (request,) = polled.json()["items"]
        reply = await site.post(
            f"{API}/sites/a/requests/{request['id']}", content=body, headers=headers
        )
        assert reply.status_code == 204, reply.text
    return dict(request)


async def logs(hub: httpx.AsyncClient, **params: str) -> httpx.Response:
    return await hub.get(f"{API}/sites/a/logs", params={"application": "web", **params})


async def test_logs_are_relayed_through_the_site_queue(hub: httpx.AsyncClient) -> None:
    agent = asyncio.create_task(answer_once(hub, b"l1\nl2\n"))
    answer = await logs(hub, tail="3")
    assert (answer.status_code, answer.text) == (200, "l1\nl2\n")
    assert answer.headers["content-type"].startswith("text/plain")
    request = await agent
    assert (request["type"], request["assignment"], request["tail"]) == ("logs", "web.a", 3)


async def test_the_tail_defaults_to_100_lines(hub: httpx.AsyncClient) -> None:
    agent = asyncio.create_task(answer_once(hub, b""))
    assert (await logs(hub)).status_code == 200
    assert (await agent)["tail"] == 100


async def test_an_answer_over_the_body_limit_comes_through(hub: httpx.AsyncClient) -> None:
    text = b"".join(b"line %d of a long log, padded to be long enough\n" % i for i in range(40_000))
    assert len(text) > 1024 * 1024
    agent = asyncio.create_task(answer_once(hub, text))
    answer = await logs(hub, tail="10000")
    await agent
    assert answer.content == text


async def test_an_agent_error_is_the_answer(hub: httpx.AsyncClient) -> None:
    agent = asyncio.create_task(answer_once(hub, b"", {"X-Request-Error": "no log yet"}))
    answer = await logs(hub)
    await agent
    assert (answer.status_code, answer.json()["field"]) == (404, "application")
    assert "no log yet" in answer.json()["message"]


async def test_logs_of_a_silent_site_time_out(
    hub: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("edgeplane.hub.relay.ANSWER_SECONDS", 0.2)
    answer = await logs(hub)
    assert (answer.status_code, answer.json()["reason"]) == (504, "SiteUnreachable")
    assert "'a'" in answer.json()["message"]
    async with as_site(hub, hub.headers["X-Site-A"]) as site:  # nothing stale is handed out
        polled = await site.get(f"{API}/sites/a/requests", params={"waitSeconds": "0"})
    assert polled.json() == {"items": []}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"application": "nope"}, "application"),
        ({"application": ""}, "query.application"),
        ({"tail": "0"}, "query.tail"),
        ({"tail": "10001"}, "query.tail"),
        ({"tail": "many"}, "query.tail"),
    ],
    ids=["not-there", "empty-application", "zero-tail", "tail-over-10000", "text-tail"],
)
async def test_bad_log_requests_name_the_field(
    hub: httpx.AsyncClient, params: dict[str, str], field: str
) -> None:
    answer = await logs(hub, **params)
    assert answer.status_code in (404, 422), answer.text
    assert answer.json()["field"] == field
    async with as_site(hub, hub.headers["X-Site-A"]) as site:  # nothing was queued
        polled = await site.get(f"{API}/sites/a/requests", params={"waitSeconds": "0"})
    assert polled.json() == {"items": []}


async def test_answers_to_unknown_requests_are_refused_and_change_nothing(
    hub: httpx.AsyncClient,
) -> None:
    async with as_site(hub, hub.headers["X-Site-A"]) as site:
        reply = await site.post(f"{API}/sites/a/requests/unknown", content=b"x")
    assert (reply.status_code, reply.json()["reason"]) == (410, "Gone")
    assert reply.headers["connection"] == "close"  # its body is not read


async def test_a_stopping_hub_ends_polls_and_waiting_logs(hub: httpx.AsyncClient) -> None:
    """Whether the waits began before the stop or not (the unit tests of ``Relay`` stop
    waits in progress), they end at once."""
    await assign(hub, "web", "b")  # site b has no agent: its logs would wait 10 s
    async with as_site(hub, hub.headers["X-Site-A"]) as site:
        poll = asyncio.create_task(
            site.get(f"{API}/sites/a/requests", params={"waitSeconds": "60"})
        )
        waiting = asyncio.create_task(hub.get(f"{API}/sites/b/logs", params={"application": "web"}))
        app_of(hub).state.shutdown.set()
        async with asyncio.timeout(5):
            polled, stopped = await poll, await waiting
    assert polled.json() == {"items": []}
    assert (stopped.status_code, stopped.json()["reason"]) == (503, "ShuttingDown")
