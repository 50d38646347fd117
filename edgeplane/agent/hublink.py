"""The agent's one connection to the hub: JSON calls, NDJSON watches and the site's stream,
and downloads over httpx, with every failure translated into ``edgeplane.agent.errors``.

The agent always dials out; nothing here listens. TLS is verified against the CA the
agent pinned when it joined (``agent.pinning``). When the hub asks for a credential
rotation (``rotation`` in a heartbeat's answer, or an annotation on the Site it answers
a status write with), the link takes the new credential over its current, authenticated
channel, hands it to ``on_rotated`` to keep, and uses it from the next request on.
"""

from __future__ import annotations

import json
import logging
import ssl
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import httpx

from edgeplane.agent.errors import Gone, HubRefused, HubUnreachable

API = "/api/v1alpha1"
MERGE_PATCH = "application/merge-patch+json"
# A watch is idle between bookmarks (10 s on the hub); three missed ones mean the
# connection is dead even when TCP has not noticed.
WATCH_READ_TIMEOUT = 35.0
KEEPALIVE_SECONDS = 60.0
UNSENT_HEADERS = ("accept", "accept-encoding", "connection")
STREAM_BOOKMARK = 60
"""Seconds between the stream's bookmarks: what an idle site costs is mostly these."""
STREAM_READ_TIMEOUT = 2.5 * STREAM_BOOKMARK
"""Two missed bookmarks and a half: the stream is dead even when TCP has not noticed."""
ROTATION_ANNOTATION = "edgeplane.io/credential-rotation"
"""Set on the Site by ``edgeplane site rotate-credential`` (hub/tokens.py)."""

log = logging.getLogger("edgeplane.agent.hublink")


def _refused(response: httpx.Response) -> HubRefused:
    try:
        body = json.loads(response.content)
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    message = body.get("message") or response.text[:200] or response.reason_phrase
    return HubRefused(response.status_code, body.get("reason") or "", message, body.get("field"))


def no_heartbeat_route(error: HubRefused) -> bool:
    """Whether a refused heartbeat says the hub predates the heartbeat route: an unknown
    route is 404 without a field (an unknown site is 404 naming ``metadata.name``), and
    an older hub's authorization table has no such entry for a site (403)."""
    return (error.status == 404 and error.field is None) or error.status == 403


def _rotation_asked(answer: Any) -> bool:
    metadata = answer.get("metadata") if isinstance(answer, dict) else None
    annotations = metadata.get("annotations") if isinstance(metadata, dict) else None
    return isinstance(annotations, dict) and bool(annotations.get(ROTATION_ANNOTATION))


class HubLink:
    def __init__(
        self,
        server: str,
        token: str | None = None,
        timeout: float = 15.0,
        transport: httpx.AsyncBaseTransport | None = None,
        verify: ssl.SSLContext | bool = True,
        on_rotated: Callable[[str], None] | None = None,
    ) -> None:
        headers = {"User-Agent": "edgeplane-agent"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.server = server.rstrip("/")
        self._on_rotated = on_rotated
        self._client = httpx.AsyncClient(
            base_url=self.server,
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=5.0),
            # Kept past a heartbeat period and under the hub's 75 s keep-alive: with
            # httpx's 5 s, every 10 s heartbeat opened a connection (a TLS handshake, a
            # few kB, on an idle site's uplink).
            limits=httpx.Limits(keepalive_expiry=KEEPALIVE_SECONDS),
            transport=transport,
            verify=verify,
        )
        # httpx's defaults say nothing the hub uses (HTTP/1.1 keeps connections alive;
        # no answer is compressed): 70 bytes of every heartbeat an idle site sends.
        for name in UNSENT_HEADERS:
            self._client.headers.pop(name, None)

    async def close(self) -> None:
        await self._client.aclose()

    async def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        params: Mapping[str, str] | None = None,
        content_type: str = "application/json",
        wait_seconds: float | None = None,
    ) -> Any:
        """One API call; the decoded JSON answer (None for an empty one)."""
        response = await self._send(method, path, body, params, content_type, wait_seconds)
        return self._answer(response, f"{method} {path}")

    def _answer(self, response: httpx.Response, what: str) -> Any:
        """The decoded JSON answer (None for an empty one); HubRefused for an error."""
        if response.status_code >= 400:
            raise _refused(response)
        try:
            return json.loads(response.content) if response.content else None
        except ValueError as e:
            raise self._not_the_hub(what, response) from e

    def _not_the_hub(self, what: str, response: httpx.Response) -> HubUnreachable:
        """An answer that is not the API's (a captive portal's page, a proxy's error):
        as if the hub were unreachable, so every loop backs off and tries again."""
        kind = response.headers.get("content-type", "no content type")[:64]
        return HubUnreachable(f"{self.server}: the answer to {what} is not JSON ({kind})")

    async def patch_status(self, plural: str, name: str, status: Mapping[str, Any]) -> Any:
        answer = await self.call(
            "PATCH", f"{API}/{plural}/{name}/status", {"status": status}, content_type=MERGE_PATCH
        )
        if plural == "sites" and self._on_rotated is not None and _rotation_asked(answer):
            await self._rotate(name)
        return answer

    async def heartbeat(self, site: str, held: Mapping[str, str] | None = None) -> dict[str, Any]:
        """``POST /sites/{site}/heartbeat`` (no body; the terms the agent holds, ``held``,
        in the query): the hub renews the site's lease and answers ``{"phase",
        "rotation", "heartbeatSeconds", "leaseSeconds"}``, or 204 (no body) for Online
        with nothing to rotate and the terms held; a rotation notice is acted on here, as
        on a Site answer. HubRefused when the hub has no such route
        (``no_heartbeat_route``)."""
        answer = await self.call("POST", f"{API}/sites/{site}/heartbeat", params=held)
        if answer is None:  # 204
            return {"phase": "Online", "rotation": None}
        if not isinstance(answer, dict):
            raise HubUnreachable(f"{self.server}: the heartbeat's answer is not an object")
        if answer.get("rotation") and self._on_rotated is not None:
            await self._rotate(site)
        return answer

    async def _rotate(self, site: str) -> None:
        """Take the new credential; any failure is retried at the next heartbeat."""
        try:
            taken = await self.call("POST", f"{API}/sites/{site}/credential", {})
            token = str(taken["credential"])
        except HubRefused as e:
            if e.status != 409:  # 409: we switched already, and the hub clears the notice
                log.warning("credential rotation refused, retrying later: %s", e.message)
            return
        except (HubUnreachable, KeyError, TypeError) as e:
            log.warning("credential rotation failed, retrying later: %r", e)
            return
        assert self._on_rotated is not None
        self._on_rotated(token)  # kept first: a crash now still restarts with the new one
        self._client.headers["Authorization"] = f"Bearer {token}"
        log.info("site credential rotated; the previous one stops working at the deadline")

    async def post_bytes(self, path: str, content: bytes, content_type: str) -> Any:
        """POST ``content`` as it is (a record batch); the decoded JSON answer."""
        try:
            response = await self._client.post(
                path, content=content, headers={"Content-Type": content_type}
            )
        except httpx.TransportError as e:
            raise HubUnreachable(f"{self.server}: {e!r}") from e
        return self._answer(response, f"POST {path}")

    async def post_text(self, path: str, text: str, headers: Mapping[str, str]) -> None:
        try:
            response = await self._client.post(
                path, content=text.encode(), headers={"Content-Type": "text/plain", **headers}
            )
        except httpx.TransportError as e:
            raise HubUnreachable(f"{self.server}: {e!r}") from e
        if response.status_code >= 400:
            raise _refused(response)

    async def _send(
        self,
        method: str,
        path: str,
        body: Any,
        params: Mapping[str, str] | None,
        content_type: str,
        wait_seconds: float | None,
    ) -> httpx.Response:
        content = json.dumps(body, separators=(",", ":")).encode() if body is not None else None
        headers = {"Content-Type": content_type} if content is not None else None
        extra: dict[str, Any] = {} if wait_seconds is None else {"timeout": wait_seconds}
        try:
            return await self._client.request(
                method, path, content=content, params=params, headers=headers, **extra
            )
        except httpx.TransportError as e:
            raise HubUnreachable(f"{self.server}: {e!r}") from e

    async def watch(
        self, plural: str, resource_version: str, selector: str
    ) -> AsyncIterator[dict[str, Any]]:
        """Events of one watch as dicts; Gone when the version is too old."""
        params = {"watch": "true", "resourceVersion": resource_version, "labelSelector": selector}
        async for event in self._lines(f"{API}/{plural}", params, WATCH_READ_TIMEOUT):
            yield event

    async def stream(self, site: str, resource_version: str) -> AsyncIterator[dict[str, Any]]:
        """The lines of the site's one stream (assignment events, bookmarks, requests)
        as dicts; Gone when the version is too old, HubRefused 404 (or 403 from a hub
        whose table lacks the route) when the hub has no stream: an older hub."""
        params = {"resourceVersion": resource_version, "bookmarkSeconds": str(STREAM_BOOKMARK)}
        path = f"{API}/sites/{site}/stream"
        async for event in self._lines(path, params, STREAM_READ_TIMEOUT):
            yield event

    async def _lines(
        self, path: str, params: Mapping[str, str], read_timeout: float
    ) -> AsyncIterator[dict[str, Any]]:
        """The NDJSON lines of a watch or a stream; an ERROR line raises."""
        timeout = httpx.Timeout(15.0, connect=5.0, read=read_timeout)
        try:
            async with self._client.stream("GET", path, params=params, timeout=timeout) as response:
                await self._check_opened(response, params.get("resourceVersion", ""))
                async for line in response.aiter_lines():
                    if line.strip():
                        yield self._event(line, path, response)
        except (httpx.TransportError, httpx.StreamError) as e:
            raise HubUnreachable(f"{self.server}: watch cut: {e!r}") from e

    async def _check_opened(self, response: httpx.Response, resource_version: str) -> None:
        if response.status_code == 410:
            raise Gone(f"resourceVersion {resource_version} is too old")
        if response.status_code >= 400:
            await response.aread()
            refused = _refused(response)
            if refused.reason == "TooLargeResourceVersion":
                # The hub's store is older than our version (restored): list again.
                raise Gone(refused.message)
            raise refused

    def _event(self, line: str, path: str, response: httpx.Response) -> dict[str, Any]:
        try:
            event = json.loads(line)
        except ValueError as e:
            raise self._not_the_hub(f"a watch of {path}", response) from e
        if not isinstance(event, dict):
            raise self._not_the_hub(f"a watch of {path}", response)
        if event.get("type") == "ERROR":
            error = event.get("object")
            error = error if isinstance(error, dict) else {}
            if error.get("reason") == "Gone" or error.get("code") == 410:
                raise Gone(str(error.get("message", "watch expired")))
            raise HubRefused(500, "WatchError", str(event.get("object")))
        return event

    async def download(self, path: str) -> AsyncIterator[bytes]:
        """The body of a GET in chunks; a connection cut mid-way raises HubUnreachable."""
        try:
            async with self._client.stream("GET", path, timeout=60.0) as response:
                if response.status_code >= 400:
                    await response.aread()
                    raise _refused(response)
                async for chunk in response.aiter_bytes():
                    yield chunk
        except (httpx.TransportError, httpx.StreamError) as e:
            raise HubUnreachable(f"{self.server}: download cut: {e!r}") from e
