"""A site's one stream (``GET /sites/{site}/stream``) against a real hub process: its
Assignments only, bookmarks, relay requests, 410 as an ERROR line, one stream a site,
and who may open it.

The sites here are joined over the public protocol and report themselves Online with a
site credential, as an agent would, but no agent holds their stream: the test reads it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from tests.support.hub import HubProcess, running_hub
from tests.support.waiting import wait_until_async

T = TypeVar("T")

pytestmark = pytest.mark.timeout(120)
API = "/api/v1alpha1"


class Hub:
    """A real hub process and the admin calls these tests make of it."""

    def __init__(self, process: HubProcess) -> None:
        self.url, self.token = process.url, process.token
        self.process = process

    def api(self, method: str, path: str, body: Any = None, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}"}
        url = f"{self.url}{API}{path}"
        return httpx.request(method, url, json=body, headers=headers, timeout=30, **kwargs)

    def ok(self, method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
        response = self.api(method, path, body, **kwargs)
        assert response.status_code < 300, f"{method} {path}: {response.text}"
        return response.json() if response.content else None

    def join_token(self, labels: dict[str, str]) -> str:
        return str(self.ok("POST", "/jointokens", {"labels": labels})["token"])


@contextlib.contextmanager
def hub_at(root: Path, *flags: str) -> Iterator[Hub]:
    data = root / "hub"
    data.mkdir()
    with running_hub(data, *flags) as process:
        yield Hub(process)


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Hub]:
    with hub_at(tmp_path) as hub:
        yield hub


def online_site(fleet: Hub, name: str) -> str:
    """Join ``name`` and report it Online with room for work; its credential."""
    token = fleet.join_token({"stream-test": name}).split("@", 1)[0]
    inventory = {"arch": "x86_64", "os": "Linux", "cpus": 2, "runtime": "process"}
    joined = httpx.post(
        f"{fleet.url}{API}/join",
        json={"token": token, "site": name, "inventory": inventory},
        timeout=30,
    )
    assert joined.status_code == 201, joined.text
    credential = str(joined.json()["credential"])
    heartbeat(fleet, name, credential)
    return credential


def heartbeat(fleet: Hub, name: str, credential: str) -> None:
    status = {
        "phase": "Online",
        "capacity": {"cpu": "2", "memory": "1Gi"},
        "lastHeartbeat": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    answer = httpx.patch(
        f"{fleet.url}{API}/sites/{name}/status",
        json={"status": status},
        headers={
            "Authorization": f"Bearer {credential}",
            "Content-Type": "application/merge-patch+json",
        },
        timeout=30,
    )
    assert answer.status_code == 200, answer.text


def app_at(name: str, site: str) -> dict[str, Any]:
    return {
        "apiVersion": "edgeplane.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": name},
        "spec": {
            "workload": {"process": {"command": "true"}},
            "resources": {"cpu": "100m"},
            "placement": {
                "mode": "EverySite",
                "selector": {"matchLabels": {"stream-test": site}},
            },
        },
    }


class Reader:
    """The lines of one stream, read in the background as they come."""

    def __init__(self) -> None:
        self.lines: list[dict[str, Any]] = []
        self.status: int | None = None
        self.ended = asyncio.Event()

    async def read(self, response: httpx.Response) -> None:
        try:
            async for text in response.aiter_lines():
                if text.strip():
                    self.lines.append(json.loads(text))
        finally:
            self.ended.set()

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [line for line in self.lines if line["type"] == kind]

    def names(self, kind: str) -> list[str]:
        return [line["object"]["metadata"]["name"] for line in self.of(kind)]

    async def until(self, check: Callable[[], T | None], what: str, within: float = 30.0) -> T:
        async def lines() -> str:
            return f"lines: {self.lines}"

        return await wait_until_async(check, what, within, seen=lines)


@asynccontextmanager
async def stream(
    fleet: Hub, site: str, credential: str | None = None, **params: str
) -> AsyncIterator[Reader]:
    """The site's stream, read in the background; admin's unless ``credential``."""
    headers = {"Authorization": f"Bearer {credential or fleet.token}"}
    reader = Reader()
    timeout = httpx.Timeout(30, read=60)
    path = f"{API}/sites/{site}/stream"
    async with (
        httpx.AsyncClient(base_url=fleet.url, headers=headers, timeout=timeout) as client,
        client.stream("GET", path, params=params) as response,
    ):
        reader.status = response.status_code
        if response.status_code != 200:
            await response.aread()
            reader.lines.append(response.json())
            yield reader
            return
        task = asyncio.create_task(reader.read(response))
        try:
            yield reader
        finally:
            task.cancel()
            await asyncio.wait([task])


def assignment_of(fleet: Hub, app: str) -> dict[str, Any] | None:
    items = fleet.ok(
        "GET", "/assignments", params={"labelSelector": f"edgeplane.io/application={app}"}
    )["items"]
    return items[0] if items else None


async def test_the_stream_carries_the_sites_assignments_only(fleet: Hub) -> None:
    online_site(fleet, "north")
    online_site(fleet, "south")
    fleet.ok("POST", "/applications", app_at("first", "north"))
    await Reader().until(lambda: assignment_of(fleet, "first"), "first placed")
    async with stream(fleet, "north", bookmarkSeconds="1") as north:
        assert north.status == 200
        await north.until(lambda: north.names("ADDED"), "the initial ADDED")
        fleet.ok("POST", "/applications", app_at("other", "south"))
        fleet.ok("POST", "/applications", app_at("second", "north"))
        added = await north.until(lambda: len(north.names("ADDED")) == 2, "second ADDED")
        assert added
        fleet.ok("DELETE", "/applications/first")
        await north.until(lambda: north.of("DELETED"), "first DELETED")
        await north.until(lambda: north.of("BOOKMARK"), "a bookmark")
        await Reader().until(lambda: assignment_of(fleet, "other"), "other placed at south")
    sites = {line["object"]["spec"]["site"] for line in north.lines if line["type"] == "ADDED"}
    assert sites == {"north"}
    assert all(not n.startswith("other.") for n in north.names("ADDED") + north.names("DELETED"))
    assert [n.split(".")[0] for n in north.names("DELETED")] == ["first"]
    mark = north.of("BOOKMARK")[-1]["object"]
    assert (mark["kind"], mark["apiVersion"]) == ("Assignment", "edgeplane.io/v1alpha1")
    assert int(mark["metadata"]["resourceVersion"]) > 0


async def test_a_stream_from_a_version_sends_only_what_came_after(fleet: Hub) -> None:
    online_site(fleet, "north")
    fleet.ok("POST", "/applications", app_at("before", "north"))
    placed = await Reader().until(lambda: assignment_of(fleet, "before"), "before placed")
    version = placed["metadata"]["resourceVersion"]
    async with stream(fleet, "north", resourceVersion=version) as north:
        fleet.ok("POST", "/applications", app_at("after", "north"))
        await north.until(lambda: north.names("ADDED"), "after ADDED")
    assert [n.split(".")[0] for n in north.names("ADDED")] == ["after"]


async def test_a_relay_request_comes_down_the_stream(fleet: Hub) -> None:
    credential = online_site(fleet, "north")
    fleet.ok("POST", "/applications", app_at("web", "north"))
    await Reader().until(lambda: assignment_of(fleet, "web"), "web placed")
    async with stream(fleet, "north", credential) as north:
        await north.until(lambda: north.names("ADDED"), "the initial ADDED")
        asked = asyncio.create_task(
            asyncio.to_thread(
                fleet.api, "GET", "/sites/north/logs", params={"application": "web", "tail": 7}
            )
        )
        line = await north.until(lambda: north.of("REQUEST"), "the REQUEST line")
        request = line[0]["request"]
        assert (request["type"], request["tail"]) == ("logs", 7)
        assert request["assignment"].startswith("web.north.")
        answered = await asyncio.to_thread(
            httpx.post,
            f"{fleet.url}{API}/sites/north/requests/{request['id']}",
            content=b"line 1\nline 2\n",
            headers={"Authorization": f"Bearer {credential}", "Content-Type": "text/plain"},
        )
        assert answered.status_code == 204, answered.text
        logs = await asked
    assert (logs.status_code, logs.text) == (200, "line 1\nline 2\n")


async def test_a_second_stream_of_a_site_ends_the_first(fleet: Hub) -> None:
    credential = online_site(fleet, "north")
    online_site(fleet, "south")
    async with stream(fleet, "north", credential, bookmarkSeconds="1") as first:
        await first.until(lambda: first.of("BOOKMARK"), "the first stream's bookmark")
        async with (
            stream(fleet, "south", bookmarkSeconds="1") as other,
            stream(fleet, "north", credential, bookmarkSeconds="1") as second,
        ):
            await first.until(first.ended.is_set, "the first stream's end")
            await second.until(lambda: second.of("BOOKMARK"), "the second's bookmark")
            assert not second.ended.is_set()
            await other.until(lambda: other.of("BOOKMARK"), "south's bookmark")
            assert not other.ended.is_set(), "another site's stream is its own"


async def test_who_may_open_a_stream(fleet: Hub) -> None:
    north = online_site(fleet, "north")
    online_site(fleet, "south")
    async with stream(fleet, "south", north) as refused:
        assert refused.status == 403
        assert refused.lines[0]["reason"] == "Forbidden"
    async with stream(fleet, "nowhere") as unknown:
        assert unknown.status == 404
        assert (unknown.lines[0]["reason"], unknown.lines[0]["field"]) == ("NotFound", "site")
    for bad in ("0", "301", "soon", "nan", "1e400"):
        async with stream(fleet, "north", bookmarkSeconds=bad) as invalid:
            assert invalid.status == 400, bad
            assert invalid.lines[0]["field"] == "bookmarkSeconds"
    async with stream(fleet, "north", resourceVersion="x1") as invalid:
        assert (invalid.status, invalid.lines[0]["field"]) == (400, "resourceVersion")


async def test_a_compacted_version_is_an_error_line_and_the_end(tmp_path: Path) -> None:
    with hub_at(tmp_path, "--event-retention", "1", "--event-retention-bytes", "2048") as fleet:
        online_site(fleet, "north")
        for i in range(4):
            fleet.ok("POST", "/applications", app_at(f"app{i}", "north"))
        compacted = f"{fleet.url}{API}/sites?watch=true&resourceVersion=1"
        await Reader().until(lambda: gone(compacted, fleet.token), "the log compacted")
        async with stream(fleet, "north", resourceVersion="1") as north:
            await north.until(north.ended.is_set, "the stream's end")
        (error,) = north.lines
        assert error["type"] == "ERROR"
        assert (error["object"]["code"], error["object"]["reason"]) == (410, "Gone")


def gone(url: str, token: str) -> bool:
    with httpx.stream("GET", url, headers={"Authorization": f"Bearer {token}"}) as answer:
        return answer.status_code == 410


async def test_every_stream_ends_when_the_hub_stops(fleet: Hub) -> None:
    north = online_site(fleet, "north")
    online_site(fleet, "south")
    async with (
        stream(fleet, "north", north, bookmarkSeconds="300") as first,
        stream(fleet, "south", bookmarkSeconds="300") as second,
    ):
        fleet.ok("POST", "/applications", app_at("web", "north"))
        await first.until(lambda: first.of("ADDED"), "the stream open and following")
        code = await asyncio.to_thread(fleet.process.stop)
        await first.until(first.ended.is_set, "north's stream ended")
        await second.until(second.ended.is_set, "south's stream ended")
    assert code == 0, "the hub stopped on SIGTERM, streams and all"
