"""The agent's publishing endpoint (``agent.publishing``) on a real loopback socket, with
a handler in place of the data plane: requests pass whole, bounds are kept, and a
client that drips its request loses its connection."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest

from edgeplane.agent import publishing
from edgeplane.agent.publishing import MAX_BODY_BYTES, Answer, Publish, PublishServer


@pytest.fixture
async def server() -> AsyncIterator[tuple[PublishServer, list[Publish]]]:
    seen: list[Publish] = []

    async def handler(publish: Publish) -> Answer:
        seen.append(publish)
        return Answer(201, {"accepted": 1})

    made = PublishServer(handler)
    await made.start()
    yield made, seen
    await made.close()


async def test_a_request_reaches_the_handler_whole_and_keep_alive_works(
    server: tuple[PublishServer, list[Publish]],
) -> None:
    made, seen = server
    async with httpx.AsyncClient(base_url=made.url) as client:
        for n in range(3):
            answer = await client.post(
                "/v1/streams/temps",
                content=b'{"n": %d}\n' % n,
                headers={"Authorization": "Bearer tok", "Content-Type": "application/x-ndjson"},
            )
            assert (answer.status_code, answer.json()) == (201, {"accepted": 1})
    assert [(p.method, p.path, p.token, p.content_type) for p in seen] == [
        ("POST", "/v1/streams/temps", "tok", "application/x-ndjson")
    ] * 3
    assert [p.body for p in seen] == [b'{"n": 0}\n', b'{"n": 1}\n', b'{"n": 2}\n']
    assert made.host == "127.0.0.1"


async def test_a_body_over_the_bound_is_413_and_never_reaches_the_handler(
    server: tuple[PublishServer, list[Publish]],
) -> None:
    made, seen = server
    async with httpx.AsyncClient(base_url=made.url) as client:
        answer = await client.post("/v1/streams/temps", content=b"x" * (MAX_BODY_BYTES + 1))
    assert answer.status_code == 413 and json.loads(answer.content)["reason"] == "TooLarge"
    assert seen == []


async def test_a_client_that_drips_its_request_loses_the_connection(
    server: tuple[PublishServer, list[Publish]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(publishing, "REQUEST_SECONDS", 0.3)
    made, seen = server
    reader, writer = await asyncio.open_connection(made.host, made.port)
    writer.write(b"POST /v1/streams/temps HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n")
    await writer.drain()
    assert await reader.read() == b""  # closed by the server, the body never came
    writer.close()
    assert seen == []


async def test_garbage_is_not_http_and_closes_the_connection(
    server: tuple[PublishServer, list[Publish]],
) -> None:
    made, seen = server
    reader, writer = await asyncio.open_connection(made.host, made.port)
    writer.write(b"\x16\x03\x01 hello, not http\r\n\r\n")
    await writer.drain()
    assert b"201" not in await reader.read()
    writer.close()
    assert seen == []
