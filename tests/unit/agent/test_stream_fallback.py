"""Protocol v2's sync against a hub without the site stream (an older hub), over
``httpx.MockTransport``: the stream's 404 or 403 turns to the v1 watch with the
request long poll beside it, and requests polled so are answered all the same. (The
stream itself, against a real hub and real agents: tests/integration/agent.)"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import httpx
import pytest

from edgeplane.agent.errors import HubRefused
from edgeplane.agent.hublink import HubLink
from edgeplane.agent.requests import Answerer
from edgeplane.agent.runtimes import Runtime
from edgeplane.agent.state import LocalState
from edgeplane.agent.sync import AssignmentSync, no_stream_route

API = "/api/v1alpha1"


def assignment(app: str, rv: int) -> dict[str, Any]:
    return {
        "kind": "Assignment",
        "metadata": {"name": f"{app}.a", "resourceVersion": str(rv)},
        "spec": {"site": "a"},
    }


class Logs:
    def log_tail(self, key: str, tail: int) -> str:
        return f"{tail} lines of {key}\n"


class OlderHub:
    """Lists, watches and long polls as a hub before the stream; the stream is
    ``refusal`` (404 unknown route, or 403 from its authorization table)."""

    def __init__(self, refusal: int) -> None:
        self.refusal = refusal
        self.answers: list[tuple[str, str]] = []
        self.answered = asyncio.Event()
        self.polls = 0

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == f"{API}/sites/a/stream":
            reason = "NotFound" if self.refusal == 404 else "Forbidden"
            return httpx.Response(self.refusal, json={"reason": reason, "message": "no"})
        if path == f"{API}/assignments" and "watch" in request.url.params:
            return httpx.Response(200, content=self._watch())
        if path == f"{API}/assignments":
            meta = {"resourceVersion": "5"}
            return httpx.Response(200, json={"items": [assignment("web", 5)], "metadata": meta})
        if path == f"{API}/sites/a/requests":
            return await self._poll()
        if path == f"{API}/sites/a/requests/r1":
            self.answers.append(("r1", request.content.decode()))
            self.answered.set()
            return httpx.Response(204)
        return httpx.Response(500, json={"reason": "Unexpected", "message": path})

    async def _watch(self) -> AsyncIterator[bytes]:
        yield json.dumps({"type": "ADDED", "object": assignment("api", 6)}).encode() + b"\n"
        await self.answered.wait()  # the watch stays open until the request is answered

    async def _poll(self) -> httpx.Response:
        self.polls += 1
        if self.polls > 1:
            await asyncio.sleep(60)  # a long poll with nothing queued
        item = {"id": "r1", "type": "logs", "assignment": "web.a", "tail": 3}
        return httpx.Response(200, json={"items": [item]})


@pytest.mark.parametrize("refusal", [404, 403], ids=["unknown-route", "older-authz"])
async def test_a_hub_without_the_stream_is_watched_and_polled(
    refusal: int, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="edgeplane.agent.sync")
    hub = OlderHub(refusal)
    link = HubLink("http://hub", "t", transport=httpx.MockTransport(hub))
    state = LocalState(tmp_path / "state.db")
    answerer = Answerer(link, "a", cast(Runtime, Logs()))
    changed = asyncio.Event()
    sync = AssignmentSync(link, state, "a", changed, answerer=answerer)
    task = asyncio.create_task(sync.run())
    try:
        async with asyncio.timeout(10):
            await hub.answered.wait()
            while set(state.assignments()) != {"web.a", "api.a"}:
                changed.clear()
                await changed.wait()
        version = state.resource_version()
    finally:
        task.cancel()
        await asyncio.wait([task])
        await link.close()
        state.close()
    assert hub.answers == [("r1", "3 lines of web.a\n")]
    assert version == "6", "the watch's event moved the stored version"
    assert "the hub has no site stream" in caplog.text


@pytest.mark.parametrize(
    ("status", "field", "older"),
    [
        (404, None, True),
        (403, None, True),
        (404, "site", False),
        (401, None, False),
        (500, None, False),
    ],
    ids=["unknown-route", "older-authz", "unknown-site", "unauthorized", "server-error"],
)
def test_no_stream_route(status: int, field: str | None, older: bool) -> None:
    assert no_stream_route(HubRefused(status, "", "", field)) is older
