"""The agent's v2 heartbeat over ``HubLink`` against scripted hub answers (httpx's
MockTransport): a hub without the route (an older one: 403 to a site's credential, 404
without a field to an admin's) gets status writes instead; an unknown site is an error,
not a reason to fall back; a rotation in the answer makes the link take its new
credential. The real hub's side is in tests/integration/hub/test_heartbeats.py."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from edgeplane.agent.errors import HubRefused
from edgeplane.agent.hublink import HubLink
from edgeplane.agent.inventory import Capacity
from edgeplane.agent.reconciler import Reconciler
from edgeplane.agent.reporter import StatusReporter
from edgeplane.agent.runtimes.fake import FakeRuntime
from edgeplane.agent.state import LocalState

BEAT = "/api/v1alpha1/sites/s/heartbeat"
STATUS = "/api/v1alpha1/sites/s/status"
CREDENTIAL = "/api/v1alpha1/sites/s/credential"


class ScriptedHub:
    """Answers by method and path; records every request."""

    def __init__(self, answers: dict[tuple[str, str], tuple[int, Any]]) -> None:
        self.answers = answers
        self.seen: list[tuple[str, str, str | None]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        key = (request.method, request.url.path)
        self.seen.append((*key, request.headers.get("authorization")))
        status, body = self.answers[key]
        return httpx.Response(status, json=body)

    def count(self, method: str, path: str) -> int:
        return sum(1 for m, p, _ in self.seen if (m, p) == (method, path))


SITE = {"metadata": {"name": "s"}, "status": {"phase": "Online"}}
OLD_HUB_403 = (403, {"reason": "Forbidden", "message": "site 's' may not POST", "field": None})
OLD_HUB_404 = (404, {"reason": "NotFound", "message": "Not Found", "field": None})
UNKNOWN_SITE = (404, {"reason": "NotFound", "message": "gone", "field": "metadata.name"})


def reporter(tmp_path: Path, hub: ScriptedHub, **link: Any) -> tuple[StatusReporter, HubLink]:
    transport = httpx.MockTransport(hub)
    hub_link = HubLink("http://hub", "ep_a_old", transport=transport, **link)
    runtime, state = FakeRuntime(), LocalState(tmp_path / "state.db")
    rec = Reconciler(
        state, runtime, no_artifacts, Capacity.of("1", "1Gi"), asyncio.Event(), asyncio.Event()
    )
    made = StatusReporter(hub_link, state, "s", runtime, rec, dict, "h", asyncio.Event())
    return made, hub_link


async def no_artifacts(*_: Any) -> Path:
    raise AssertionError("no assignment here names an artifact")


@pytest.mark.parametrize("older", [OLD_HUB_403, OLD_HUB_404], ids=["403-site", "404-route"])
async def test_a_hub_without_the_route_gets_status_writes(
    tmp_path: Path, older: tuple[int, Any]
) -> None:
    hub = ScriptedHub({("POST", BEAT): older, ("PATCH", STATUS): (200, SITE)})
    made, link = reporter(tmp_path, hub)
    try:
        await made.heartbeat()
        await made.heartbeat()
    finally:
        await link.close()
    assert hub.count("POST", BEAT) == 1, "the route is not asked again at once"
    assert hub.count("PATCH", STATUS) == 2


async def test_an_unknown_site_is_an_error_not_a_fallback(tmp_path: Path) -> None:
    hub = ScriptedHub({("POST", BEAT): UNKNOWN_SITE, ("PATCH", STATUS): (200, SITE)})
    made, link = reporter(tmp_path, hub)
    try:
        with pytest.raises(HubRefused) as refused:
            await made.heartbeat()
    finally:
        await link.close()
    assert refused.value.status == 404 and hub.count("PATCH", STATUS) == 0


async def test_a_rotation_in_the_answer_takes_the_new_credential(tmp_path: Path) -> None:
    kept: list[str] = []
    hub = ScriptedHub(
        {
            ("POST", BEAT): (200, {"phase": "Online", "rotation": "2027-01-01T00:00:00Z"}),
            ("POST", CREDENTIAL): (201, {"credential": "ep_b_new"}),
        }
    )
    made, link = reporter(tmp_path, hub, on_rotated=kept.append)
    try:
        await made.heartbeat()
        await made.heartbeat()
    finally:
        await link.close()
    assert kept[0] == "ep_b_new"
    assert [auth for method, _, auth in hub.seen if method == "POST"][:3] == [
        "Bearer ep_a_old",
        "Bearer ep_a_old",
        "Bearer ep_b_new",
    ]
    assert hub.count("PATCH", STATUS) == 0, "a v2 heartbeat wrote the status"
