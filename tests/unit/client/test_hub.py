"""HubClient and AsyncHubClient against httpx.MockTransport: the requests they send and
how they read answers. The real hub is exercised in tests/integration/cli/."""

from __future__ import annotations

import asyncio
import gc
import io
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from edgeplane.client.errors import ClientError, HubUnreachable
from edgeplane.client.hub import AsyncHubClient, HubClient
from edgeplane.client.uploads import CHUNK_SIZE

SERVER = "http://hub.test"
SITE = {"apiVersion": "edgeplane.io/v1alpha1", "kind": "Site", "metadata": {"name": "s1"}}


class Recorder:
    """A MockTransport handler that remembers requests and answers ``{}`` with 200."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(200, json={})

    @property
    def last(self) -> httpx.Request:
        return self.requests[-1]


Call = Callable[[HubClient], Any]

CALLS: list[tuple[str, Call, str, str, Any, str | None]] = [
    ("discovery", lambda c: c.discovery(), "GET", "/api/v1alpha1", None, None),
    (
        "list",
        lambda c: c.list("sites", "tier=edge", 5, "tok"),
        "GET",
        "/api/v1alpha1/sites?labelSelector=tier%3Dedge&limit=5&continue=tok",
        None,
        None,
    ),
    ("list-bare", lambda c: c.list("sites"), "GET", "/api/v1alpha1/sites", None, None),
    ("get", lambda c: c.get("sites", "s1"), "GET", "/api/v1alpha1/sites/s1", None, None),
    (
        "create",
        lambda c: c.create("sites", SITE),
        "POST",
        "/api/v1alpha1/sites",
        SITE,
        "application/json",
    ),
    (
        "replace",
        lambda c: c.replace("sites", SITE),
        "PUT",
        "/api/v1alpha1/sites/s1",
        SITE,
        "application/json",
    ),
    (
        "patch",
        lambda c: c.patch("sites", "s1", {"spec": {"runtime": "process"}}),
        "PATCH",
        "/api/v1alpha1/sites/s1",
        {"spec": {"runtime": "process"}},
        "application/merge-patch+json",
    ),
    ("delete", lambda c: c.delete("sites", "s1"), "DELETE", "/api/v1alpha1/sites/s1", None, None),
    (
        "replace-status",
        lambda c: c.replace_status("sites", SITE),
        "PUT",
        "/api/v1alpha1/sites/s1/status",
        SITE,
        "application/json",
    ),
    (
        "patch-status",
        lambda c: c.patch_status("sites", "s1", {"status": {"phase": "Online"}}),
        "PATCH",
        "/api/v1alpha1/sites/s1/status",
        {"status": {"phase": "Online"}},
        "application/merge-patch+json",
    ),
]


@pytest.mark.parametrize(
    ("call", "method", "url", "body", "content_type"),
    [c[1:] for c in CALLS],
    ids=[c[0] for c in CALLS],
)
def test_requests_follow_the_api(
    call: Call, method: str, url: str, body: Any, content_type: str | None
) -> None:
    recorder = Recorder()
    with HubClient(SERVER, "ep_x_y", transport=httpx.MockTransport(recorder)) as client:
        assert call(client) == {}
    sent = recorder.last
    assert (sent.method, str(sent.url)) == (method, SERVER + url)
    assert sent.headers["Authorization"] == "Bearer ep_x_y"
    assert sent.headers.get("Content-Type") == content_type
    assert (json.loads(sent.content) if sent.content else None) == body


def test_no_token_sends_no_authorization_header() -> None:
    recorder = Recorder()
    with HubClient(SERVER, None, transport=httpx.MockTransport(recorder)) as client:
        client.discovery()
    assert "Authorization" not in recorder.last.headers


def pages(request: httpx.Request) -> httpx.Response:
    """Three pages of one site each, chained by continue tokens "2" and "3"."""
    page = int(request.url.params.get("continue", "1"))
    metadata: dict[str, str] = {"resourceVersion": "9"}
    if page < 3:
        metadata["continue"] = str(page + 1)
    items = [{"metadata": {"name": f"s{page}"}}]
    return httpx.Response(200, json={"kind": "SiteList", "metadata": metadata, "items": items})


def test_list_all_follows_continue() -> None:
    with HubClient(SERVER, "t", transport=httpx.MockTransport(pages)) as client:
        names = [o["metadata"]["name"] for o in client.list_all("sites", "a=b")]
    assert names == ["s1", "s2", "s3"]


async def test_async_list_all_follows_continue() -> None:
    async with AsyncHubClient(SERVER, "t", transport=httpx.MockTransport(pages)) as client:
        names = [o["metadata"]["name"] for o in await client.list_all("sites")]
    assert names == ["s1", "s2", "s3"]


async def test_async_sends_the_same_requests_as_sync() -> None:
    recorder = Recorder()
    async with AsyncHubClient(SERVER, "t", transport=httpx.MockTransport(recorder)) as client:
        await client.patch("sites", "s1", {"spec": {}})
    sent = recorder.last
    assert (sent.method, sent.url.path) == ("PATCH", "/api/v1alpha1/sites/s1")
    assert sent.headers["Content-Type"] == "application/merge-patch+json"


EVENTS = [
    {"type": "ADDED", "object": SITE},
    {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "7"}}},
]


def ndjson(request: httpx.Request) -> httpx.Response:
    assert request.url.params["watch"] == "true"
    assert request.url.params["resourceVersion"] == "5"
    body = "\n".join(json.dumps(e) for e in EVENTS) + "\n\n"
    return httpx.Response(200, text=body, headers={"Content-Type": "application/x-ndjson"})


def test_watch_yields_each_ndjson_line_and_skips_blank_ones() -> None:
    with HubClient(SERVER, "t", transport=httpx.MockTransport(ndjson)) as client:
        assert list(client.watch("sites", "5")) == EVENTS


async def test_async_watch_yields_each_ndjson_line() -> None:
    async with AsyncHubClient(SERVER, "t", transport=httpx.MockTransport(ndjson)) as client:
        assert [e async for e in client.watch("sites", "5")] == EVENTS


def gone(request: httpx.Request) -> httpx.Response:
    return httpx.Response(410, json={"reason": "Gone", "message": "too old", "field": None})


def test_watch_from_a_compacted_version_raises_gone() -> None:
    with (
        HubClient(SERVER, "t", transport=httpx.MockTransport(gone)) as client,
        pytest.raises(ClientError) as raised,
    ):
        list(client.watch("sites", "1"))
    assert (raised.value.status, raised.value.reason) == (410, "Gone")


def refused(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("Connection refused", request=request)


def test_connect_error_becomes_hub_unreachable() -> None:
    with (
        HubClient(SERVER, "t", transport=httpx.MockTransport(refused)) as client,
        pytest.raises(HubUnreachable, match=r"hub\.test"),
    ):
        client.get("sites", "s1")


async def test_async_connect_error_becomes_hub_unreachable() -> None:
    async with AsyncHubClient(SERVER, "t", transport=httpx.MockTransport(refused)) as client:
        with pytest.raises(HubUnreachable, match=r"hub\.test"):
            await client.get("sites", "s1")


def test_error_answer_becomes_client_error() -> None:
    def not_found(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, json={"reason": "NotFound", "message": "no site s1"})

    with (
        HubClient(SERVER, "t", transport=httpx.MockTransport(not_found)) as client,
        pytest.raises(ClientError, match="no site s1"),
    ):
        client.get("sites", "s1")


RECORD = {"name": "svc", "version": "1.0.0", "sha256": "ab" * 32, "size": 5, "createdAt": "t"}


class ArtifactHub:
    """Answers an artifact PUT like the hub: 201 the first time, 200 for the same bytes."""

    def __init__(self) -> None:
        self.stored: dict[str, bytes] = {}
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        body = request.read()
        status = 200 if self.stored.get(request.url.path) == body else 201
        self.stored[request.url.path] = body
        return httpx.Response(status, json={**RECORD, "size": len(body)})


def test_join_token_posts_labels_and_ttl() -> None:
    recorder = Recorder()
    with HubClient(SERVER, "t", transport=httpx.MockTransport(recorder)) as client:
        client.create_join_token({"region": "eu-west"}, 900)
    sent = recorder.last
    assert (sent.method, sent.url.path) == ("POST", "/api/v1alpha1/jointokens")
    assert json.loads(sent.content) == {"labels": {"region": "eu-west"}, "ttlSeconds": 900}


def test_push_streams_a_file_in_chunks_with_its_length(tmp_path: Path) -> None:
    tarball = tmp_path / "svc.tar.gz"
    tarball.write_bytes(b"x" * (CHUNK_SIZE * 2 + 7))
    hub, seen = ArtifactHub(), list[int]()
    with HubClient(SERVER, "t", transport=httpx.MockTransport(hub)) as client:
        with open(tarball, "rb") as data:
            record, created = client.push_artifact("svc", "1.0.0", data, seen.append)
        again = client.push_artifact("svc", "1.0.0", tarball.read_bytes())
    sent = hub.requests[0]
    assert (sent.method, sent.url.path) == ("PUT", "/api/v1alpha1/artifacts/svc/1.0.0")
    assert sent.headers["Content-Type"] == "application/gzip"
    assert sent.headers["Content-Length"] == str(tarball.stat().st_size)
    assert seen == [CHUNK_SIZE, CHUNK_SIZE, 7]
    assert (record["size"], created) == (tarball.stat().st_size, True)
    assert again[1] is False


def test_push_of_other_bytes_under_a_version_raises_the_hub_conflict() -> None:
    conflict = {"reason": "AlreadyExists", "message": "svc:1.0.0 holds other bytes"}
    answer = httpx.MockTransport(lambda r: httpx.Response(409, json=conflict))
    with HubClient(SERVER, "t", transport=answer) as client, pytest.raises(ClientError) as raised:
        client.push_artifact("svc", "1.0.0", b"other")
    assert (raised.value.status, raised.value.message) == (409, conflict["message"])


async def test_async_push_list_token_and_logs_send_the_same_requests() -> None:
    def hub(request: httpx.Request) -> httpx.Response:
        if request.method == "PUT":
            # A stream of unknown length (a pipe, BytesIO) goes chunked.
            assert request.headers["Transfer-Encoding"] == "chunked"
            return ArtifactHub()(request)
        if request.url.path.endswith("/logs"):
            return httpx.Response(200, text="line\n")
        return httpx.Response(200, json={"items": [RECORD], "token": "ep_x"})

    async with AsyncHubClient(SERVER, "t", transport=httpx.MockTransport(hub)) as client:
        record, created = await client.push_artifact("svc", "1.0.0", io.BytesIO(b"gzipped"))
        assert (record["size"], created) == (7, True)
        assert await client.list_artifacts() == [RECORD]
        assert (await client.create_join_token({}, 60))["token"] == "ep_x"
        assert await client.site_logs("shop-1", "web", 5) == "line\n"


def test_logs_ask_for_the_application_and_tail() -> None:
    def logs(request: httpx.Request) -> httpx.Response:
        assert str(request.url) == f"{SERVER}/api/v1alpha1/sites/s1/logs?application=web&tail=3"
        return httpx.Response(200, text="a\nb\nc\n")

    with HubClient(SERVER, "t", transport=httpx.MockTransport(logs)) as client:
        assert client.site_logs("s1", "web", 3) == "a\nb\nc\n"


def test_unreachable_site_raises_the_hub_message() -> None:
    gateway = {"reason": "SiteUnreachable", "message": "site 's1' did not answer within 10 s"}
    answer = httpx.MockTransport(lambda r: httpx.Response(504, json=gateway))
    with HubClient(SERVER, "t", transport=answer) as client, pytest.raises(ClientError) as raised:
        client.site_logs("s1", "web", 3)
    assert (raised.value.status, raised.value.reason) == (504, "SiteUnreachable")


async def endless_events() -> AsyncIterator[bytes]:
    """One event, then a stream that stays open (a hub with nothing more to say)."""
    yield (json.dumps(EVENTS[0]) + "\n").encode()
    await asyncio.Event().wait()


@pytest.mark.parametrize("closed", [True, False], ids=["watch-closed", "watch-left-open"])
def test_closing_the_client_leaves_nothing_pending(
    caplog: pytest.LogCaptureFixture, closed: bool
) -> None:
    """A watch ended mid-stream (``get -w`` and Ctrl-C), closed or left open: closing
    the client finishes it and what it read through on the client's loop, so nothing
    is left as a task pending on a closed loop (asyncio would log it)."""
    answer = httpx.MockTransport(lambda r: httpx.Response(200, content=endless_events()))
    client = HubClient(SERVER, "t", transport=answer)
    events = client.watch("sites")
    assert next(events) == EVENTS[0]
    if closed:
        events.close()
    client.close()
    del events, client
    gc.collect()
    assert [r.getMessage() for r in caplog.records if r.name == "asyncio"] == []


async def test_the_blocking_client_works_inside_a_running_loop() -> None:
    """It runs its own loop in a thread, so code on an event loop may call it too."""
    with HubClient(SERVER, "t", transport=httpx.MockTransport(Recorder())) as client:
        assert client.get("sites", "s1") == {}
