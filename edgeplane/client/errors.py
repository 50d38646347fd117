"""Errors of the client, translated from the hub's JSON errors and from httpx."""

from __future__ import annotations

from typing import Any

import httpx


class ClientError(Exception):
    """The hub answered with an error; ``reason`` and ``field`` are machine-readable."""

    def __init__(self, status: int, reason: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.reason, self.message, self.field = status, reason, message, field

    @property
    def unauthorized(self) -> bool:
        return self.status in (401, 403)


class HubUnreachable(Exception):
    """The hub could not be reached at all."""

    def __init__(self, server: str, cause: Exception) -> None:
        super().__init__(
            f"cannot reach the hub at {server} ({type(cause).__name__}: {cause}); "
            "is it running? start one with 'edgeplane hub' or pick another with --server/--context"
        )
        self.server = server


def malformed_answer(status: int, what: str) -> ClientError:
    """A hub answer that is not what the API promises (a proxy's page, a cut stream)."""
    return ClientError(status, "BadAnswer", f"the hub's answer is malformed: {what}")


def from_response(response: httpx.Response) -> ClientError:
    try:
        body: Any = response.json()
    except (ValueError, RecursionError):
        body = None
    if isinstance(body, dict) and "reason" in body:
        return ClientError(
            response.status_code,
            str(body["reason"]),
            str(body.get("message", "")),
            str(body["field"]) if body.get("field") is not None else None,
        )
    text = response.text[:200] or response.reason_phrase
    return ClientError(response.status_code, "Unknown", f"HTTP {response.status_code}: {text}")
