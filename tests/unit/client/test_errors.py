"""Translating the hub's error answers and transport failures into client errors."""

from __future__ import annotations

import httpx
import pytest

from edgeplane.client.errors import ClientError, HubUnreachable, from_response

INVALID = {
    "reason": "Invalid",
    "message": 'Application "web" is invalid: spec.placement.replicas: must be >= 0',
    "field": "spec.placement.replicas",
}


@pytest.mark.parametrize(
    ("response", "expected", "unauthorized"),
    [
        (
            httpx.Response(422, json=INVALID),
            (422, "Invalid", INVALID["message"], "spec.placement.replicas"),
            False,
        ),
        (
            httpx.Response(404, json={"reason": "NotFound", "message": 'site "x" not found'}),
            (404, "NotFound", 'site "x" not found', None),
            False,
        ),
        (
            httpx.Response(401, json={"reason": "Unauthorized", "message": "token?"}),
            (401, "Unauthorized", "token?", None),
            True,
        ),
        (
            httpx.Response(403, json={"reason": "Forbidden", "message": "no"}),
            (403, "Forbidden", "no", None),
            True,
        ),
        (
            httpx.Response(502, text="Bad Gateway from proxy"),
            (502, "Unknown", "HTTP 502: Bad Gateway from proxy", None),
            False,
        ),
        (
            httpx.Response(500, json=["not", "an", "error"]),
            (500, "Unknown", 'HTTP 500: ["not","an","error"]', None),
            False,
        ),
    ],
    ids=["invalid-with-field", "not-found", "401", "403", "proxy-text", "json-not-error-shape"],
)
def test_from_response(
    response: httpx.Response, expected: tuple[object, ...], unauthorized: bool
) -> None:
    error = from_response(response)
    assert isinstance(error, ClientError)
    assert (error.status, error.reason, error.message, error.field) == expected
    assert str(error) == error.message
    assert error.unauthorized is unauthorized


def test_unreachable_names_the_server_the_cause_and_the_fix() -> None:
    error = HubUnreachable("http://127.0.0.1:1", httpx.ConnectError("Connection refused"))
    assert "http://127.0.0.1:1" in str(error)
    assert "ConnectError: Connection refused" in str(error)
    assert "edgeplane hub" in str(error)
    assert error.server == "http://127.0.0.1:1"
