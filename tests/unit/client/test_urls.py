"""Names in the URLs the client builds are one percent-encoded path segment each."""

from __future__ import annotations

import json

import httpx
import pytest

from edgeplane.client.errors import ClientError
from edgeplane.client.hub import HubClient, segment


@pytest.mark.parametrize(
    ("name", "encoded"),
    [
        ("web", "web"),
        ("a/../b", "a%2F..%2Fb"),
        ("a?x=1", "a%3Fx%3D1"),
        ("a#f", "a%23f"),
        ("%2e", "%252e"),
        ("..", "%2E%2E"),
        (".", "%2E"),
        ("a b\n", "a%20b%0A"),
    ],
    ids=["plain", "traversal", "query", "fragment", "percent", "dotdot", "dot", "space-lf"],
)
def test_segment(name: str, encoded: str) -> None:
    assert segment(name) == encoded


def test_an_empty_name_is_refused_before_sending() -> None:
    with pytest.raises(ClientError) as refused:
        segment("")
    assert refused.value.status == 400


def test_every_named_call_sends_the_name_as_one_segment() -> None:
    seen: list[bytes] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.raw_path)
        return httpx.Response(200, json={"items": [], "metadata": {}})

    name = "x/../y?z"
    with HubClient("http://hub.test", None, transport=httpx.MockTransport(answer)) as client:
        client.get("sites", name)
        client.delete("sites", name)
        client.patch("sites", name, {})
        client.explain(name, "s?x")
        client.rollout_action(name, "pause")
        client.list_revisions(name, template=True)
    quoted = b"x%2F..%2Fy%3Fz"
    assert seen == [
        b"/api/v1alpha1/sites/" + quoted,
        b"/api/v1alpha1/sites/" + quoted,
        b"/api/v1alpha1/sites/" + quoted,
        b"/api/v1alpha1/applications/" + quoted + b"/explain?site=s%3Fx",
        b"/api/v1alpha1/applications/" + quoted + b"/rollout",
        b"/api/v1alpha1/applications/" + quoted + b"/revisions?template=true",
    ]


@pytest.mark.parametrize(
    ("args", "body"),
    [
        (("pause",), {"action": "pause"}),
        (("undo", 3), {"action": "undo", "toRevision": 3}),
        (("approve", None, "canary"), {"action": "approve", "wave": "canary"}),
        (("promote", None, 0), {"action": "promote", "wave": 0}),
    ],
    ids=["bare", "undo-to", "approve-by-name", "promote-first-wave"],
)
def test_a_rollout_action_sends_only_what_is_given(args: tuple[object, ...], body: object) -> None:
    sent: list[object] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content))
        return httpx.Response(202, json={"revision": 2})

    with HubClient("http://hub.test", None, transport=httpx.MockTransport(answer)) as client:
        assert client.rollout_action("web", *args) == {"revision": 2}  # type: ignore[arg-type]
    assert sent == [body]


def test_a_malformed_answer_is_a_client_error() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text="<html>proxy</html>")

    client = HubClient("http://hub.test", None, transport=httpx.MockTransport(answer))
    with client, pytest.raises(ClientError, match="malformed"):
        client.get("sites", "a")
