"""Clients of the hub HTTP API: ``HubClient`` (sync) and ``AsyncHubClient``.

Both build requests with the same ``_Requests`` helper and translate errors the same
way; only the transport differs.
"""

from __future__ import annotations

import builtins
import json
import re
import ssl
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from edgeplane.client.errors import ClientError, HubUnreachable, from_response, malformed_answer
from edgeplane.client.uploads import Progress, Upload, chunks, chunks_async, upload_size

API = "/api/v1alpha1"
MERGE_PATCH = "application/merge-patch+json"
Object = dict[str, Any]
PAGE_SIZE = 500
# A large upload may take minutes to write; the hub's answer comes once it has checked it.
UPLOAD_TIMEOUT = httpx.Timeout(60.0, write=None)


@dataclass(frozen=True)
class Request:
    """One HTTP call, built once and sent by either client."""

    method: str
    url: str
    params: dict[str, str] | None = None
    body: Any = None
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    timeout: httpx.Timeout | None = None

    def kwargs(self) -> dict[str, Any]:
        out: dict[str, Any] = {"params": self.params, "headers": dict(self.headers)}
        if self.body is not None:
            out["content"] = json.dumps(self.body)
            out["headers"]["Content-Type"] = self.content_type
        if self.timeout is not None:
            out["timeout"] = self.timeout
        return out


def segment(value: str, what: str = "name") -> str:
    """``value`` as one path segment: percent-encoded (``/``, ``?``, ``#``, ``%`` too), so a
    name like ``a/../b`` or ``a?x`` cannot change which path is asked for."""
    if not value:
        raise ClientError(400, "Invalid", f"the {what} is empty: give one", what)
    encoded = quote(value, safe="")
    # Dots are unreserved, so quote keeps them; "." and ".." would be resolved away.
    return encoded.replace(".", "%2E") if encoded in (".", "..") else encoded


class _Requests:
    """The request of every API call, independent of sync or async transport."""

    @staticmethod
    def list(plural: str, selector: str | None, limit: int | None, cont: str | None) -> Request:
        params = {
            "labelSelector": selector,
            "limit": str(limit) if limit else None,
            "continue": cont,
        }
        return Request("GET", f"{API}/{segment(plural)}", {k: v for k, v in params.items() if v})

    @staticmethod
    def watch(plural: str, resource_version: str | None, selector: str | None) -> Request:
        params = {"watch": "true", "resourceVersion": resource_version, "labelSelector": selector}
        return Request("GET", f"{API}/{segment(plural)}", {k: v for k, v in params.items() if v})

    @staticmethod
    def item(method: str, plural: str, name: str, body: Any = None, sub: str = "") -> Request:
        content_type = MERGE_PATCH if method == "PATCH" else "application/json"
        url = f"{API}/{segment(plural)}/{segment(name)}{sub}"
        return Request(method, url, None, body, content_type)

    @staticmethod
    def create(plural: str, obj: Object) -> Request:
        return Request("POST", f"{API}/{segment(plural)}", body=obj)

    @staticmethod
    def write(method: str, plural: str, obj: Object, sub: str = "") -> Request:
        """PUT/PATCH of the object named in ``obj``'s own metadata."""
        return _Requests.item(method, plural, _name_of(obj), obj, sub)

    @staticmethod
    def join_token(labels: dict[str, str], ttl_seconds: int) -> Request:
        body = {"labels": labels, "ttlSeconds": ttl_seconds}
        return Request("POST", f"{API}/jointokens", body=body)

    @staticmethod
    def push_artifact(name: str, version: str, size: int | None) -> Request:
        """The PUT without its body, which each client streams its own way."""
        headers = {"Content-Type": "application/gzip"}
        if size is not None:
            # Lets the hub refuse an oversized upload (413) before any byte is sent.
            headers["Content-Length"] = str(size)
        url = f"{API}/artifacts/{segment(name)}/{segment(version, 'version')}"
        return Request("PUT", url, headers=headers, timeout=UPLOAD_TIMEOUT)

    @staticmethod
    def site_logs(site: str, application: str, tail: int) -> Request:
        params = {"application": application, "tail": str(tail)}
        return Request("GET", f"{API}/sites/{segment(site, 'site')}/logs", params)

    @staticmethod
    def explain(application: str, site: str | None) -> Request:
        params = {"site": site} if site else None
        return Request("GET", f"{API}/applications/{segment(application)}/explain", params)


def _name_of(obj: Object) -> str:
    try:
        return str(obj["metadata"]["name"])
    except (KeyError, TypeError):
        raise ValueError("the object has no metadata.name: name it before writing it") from None


def _next_page(page: Object) -> str | None:
    token = page.get("metadata", {}).get("continue")
    return str(token) if token else None


def _event(line: str) -> Object | None:
    if not line.strip():
        return None
    try:
        event = json.loads(line)
    except (ValueError, RecursionError):  # also JSON nested past the stack
        event = None
    if not isinstance(event, dict) or not isinstance(event.get("object"), dict):
        raise malformed_answer(200, "a watch event is not a JSON object with an object")
    return event


def _object(response: httpx.Response) -> Object:
    """The JSON object the hub answered; a ClientError (not a traceback) otherwise."""
    try:
        body = response.json()
    except (ValueError, RecursionError):
        body = None
    if not isinstance(body, dict):
        raise malformed_answer(response.status_code, "the answer is not a JSON object")
    return body


def _headers(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


_WARNING = re.compile(r'299 - "((?:[^"\\]|\\.)*)"')


def warnings_of(response: httpx.Response) -> builtins.list[str]:
    """The texts of the hub's ``Warning: 299 - "..."`` headers (admission warnings)."""
    found = []
    for header in response.headers.get_list("warning"):
        found += [re.sub(r"\\(.)", r"\1", m) for m in _WARNING.findall(header)]
    return found


def _pushed(response: httpx.Response) -> tuple[Object, bool]:
    """The hub's artifact record, and whether it is new (201) rather than unchanged (200)."""
    return _object(response), response.status_code == 201


WATCH_TIMEOUT = httpx.Timeout(30.0, read=None)  # a watch is idle between events by design


class HubClient:
    """Blocking client (the CLI). ``transport`` is for tests (``httpx.MockTransport``)."""

    def __init__(
        self,
        server: str,
        token: str | None,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        self.server = server
        self.warnings: builtins.list[str] = []
        """Admission warnings of the calls so far (the caller may print and clear them)."""
        self._http = httpx.Client(
            base_url=server,
            headers=_headers(token),
            timeout=timeout,
            transport=transport,
            verify=verify,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> HubClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _raw(self, request: Request, content: Any = None) -> httpx.Response:
        """The hub's answer to a success; its error (or HubUnreachable) raised otherwise."""
        kwargs = request.kwargs() | ({"content": content} if content is not None else {})
        try:
            response = self._http.request(request.method, request.url, **kwargs)
        except httpx.TransportError as e:
            raise HubUnreachable(self.server, e) from e
        self.warnings += warnings_of(response)
        if response.status_code >= 400:
            raise from_response(response)
        return response

    def _send(self, request: Request) -> Object:
        return _object(self._raw(request))

    def discovery(self) -> Object:
        return self._send(Request("GET", API))

    def list(
        self,
        plural: str,
        selector: str | None = None,
        limit: int | None = None,
        continue_: str | None = None,
    ) -> Object:
        return self._send(_Requests.list(plural, selector, limit, continue_))

    def list_all(self, plural: str, selector: str | None = None) -> builtins.list[Object]:
        """Every matching object, following ``continue`` across pages."""
        page = self.list(plural, selector, PAGE_SIZE)
        items: builtins.list[Object] = page["items"]
        while token := _next_page(page):
            page = self.list(plural, selector, PAGE_SIZE, token)
            items += page["items"]
        return items

    def get(self, plural: str, name: str) -> Object:
        return self._send(_Requests.item("GET", plural, name))

    def create(self, plural: str, obj: Object) -> Object:
        return self._send(_Requests.create(plural, obj))

    def replace(self, plural: str, obj: Object) -> Object:
        return self._send(_Requests.write("PUT", plural, obj))

    def patch(self, plural: str, name: str, patch: Object) -> Object:
        return self._send(_Requests.item("PATCH", plural, name, patch))

    def delete(self, plural: str, name: str) -> Object:
        return self._send(_Requests.item("DELETE", plural, name))

    def replace_status(self, plural: str, obj: Object) -> Object:
        return self._send(_Requests.write("PUT", plural, obj, "/status"))

    def patch_status(self, plural: str, name: str, patch: Object) -> Object:
        return self._send(_Requests.item("PATCH", plural, name, patch, "/status"))

    def create_join_token(self, labels: dict[str, str], ttl_seconds: int) -> Object:
        """A single-use join token: ``{token, expiresAt, labels}``."""
        return self._send(_Requests.join_token(labels, ttl_seconds))

    def list_tokens(self) -> builtins.list[Object]:
        """Every credential the hub holds, without secrets."""
        return list(self._send(Request("GET", f"{API}/tokens"))["items"])

    def revoke_token(self, token_id: str) -> Object:
        return self._send(Request("DELETE", f"{API}/tokens/{quote(token_id, safe='')}"))

    def rotate_admin_token(self) -> Object:
        """A new admin token ``{token, id}``; every older admin token is revoked."""
        return self._send(Request("POST", f"{API}/tokens/rotate-admin"))

    def rotate_site_credential(self, site: str, overlap_seconds: int) -> Object:
        """Ask a site's agent to switch credentials; the old one lasts ``overlap_seconds``."""
        url = f"{API}/sites/{quote(site, safe='')}/credential/rotate"
        return self._send(Request("POST", url, body={"overlapSeconds": overlap_seconds}))

    def push_artifact(
        self, name: str, version: str, data: Upload, progress: Progress | None = None
    ) -> tuple[Object, bool]:
        """Stream a .tar.gz (bytes or a binary file); the hub's record, and whether it
        was new (else unchanged). ``progress`` is called with each chunk's size."""
        request = _Requests.push_artifact(name, version, upload_size(data))
        return _pushed(self._raw(request, chunks(data, progress)))

    def list_artifacts(self) -> builtins.list[Object]:
        return list(self._send(Request("GET", f"{API}/artifacts"))["items"])

    def dry_run(self, application: Object) -> Object:
        """Where an application would run (and its admission warnings); nothing is stored."""
        return self._send(Request("POST", f"{API}/applications/dry-run", body=application))

    def explain(self, application: str, site: str | None = None) -> Object:
        return self._send(_Requests.explain(application, site))

    def site_logs(self, site: str, application: str, tail: int) -> str:
        """The last ``tail`` lines of an application's log at a site (relayed by the hub)."""
        return self._raw(_Requests.site_logs(site, application, tail)).text

    def watch(
        self, plural: str, resource_version: str | None = None, selector: str | None = None
    ) -> Iterator[Object]:
        """Events as they come (ADDED, MODIFIED, DELETED, BOOKMARK, ERROR) until the hub
        ends the stream; raises ClientError (410 Gone: list again) or HubUnreachable."""
        request = _Requests.watch(plural, resource_version, selector)
        try:
            with self._http.stream(
                request.method, request.url, params=request.params, timeout=WATCH_TIMEOUT
            ) as response:
                if response.status_code >= 400:
                    response.read()
                    raise from_response(response)
                for line in response.iter_lines():
                    if (event := _event(line)) is not None:
                        yield event
        except httpx.TransportError as e:
            raise HubUnreachable(self.server, e) from e


class AsyncHubClient:
    """The same calls as ``HubClient`` for asyncio (agents, simulator, benchmarks)."""

    def __init__(
        self,
        server: str,
        token: str | None,
        timeout: float = 30.0,
        max_connections: int = 100,
        transport: httpx.AsyncBaseTransport | None = None,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        self.server = server
        self._http = httpx.AsyncClient(
            base_url=server,
            headers=_headers(token),
            timeout=timeout,
            limits=httpx.Limits(max_connections=max_connections),
            transport=transport,
            verify=verify,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncHubClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _raw(self, request: Request, content: Any = None) -> httpx.Response:
        kwargs = request.kwargs() | ({"content": content} if content is not None else {})
        try:
            response = await self._http.request(request.method, request.url, **kwargs)
        except httpx.TransportError as e:
            raise HubUnreachable(self.server, e) from e
        if response.status_code >= 400:
            raise from_response(response)
        return response

    async def _send(self, request: Request) -> Object:
        return _object(await self._raw(request))

    async def discovery(self) -> Object:
        return await self._send(Request("GET", API))

    async def list(
        self,
        plural: str,
        selector: str | None = None,
        limit: int | None = None,
        continue_: str | None = None,
    ) -> Object:
        return await self._send(_Requests.list(plural, selector, limit, continue_))

    async def list_all(self, plural: str, selector: str | None = None) -> builtins.list[Object]:
        """Every matching object, following ``continue`` across pages."""
        page = await self.list(plural, selector, PAGE_SIZE)
        items: builtins.list[Object] = page["items"]
        while token := _next_page(page):
            page = await self.list(plural, selector, PAGE_SIZE, token)
            items += page["items"]
        return items

    async def get(self, plural: str, name: str) -> Object:
        return await self._send(_Requests.item("GET", plural, name))

    async def create(self, plural: str, obj: Object) -> Object:
        return await self._send(_Requests.create(plural, obj))

    async def replace(self, plural: str, obj: Object) -> Object:
        return await self._send(_Requests.write("PUT", plural, obj))

    async def patch(self, plural: str, name: str, patch: Object) -> Object:
        return await self._send(_Requests.item("PATCH", plural, name, patch))

    async def delete(self, plural: str, name: str) -> Object:
        return await self._send(_Requests.item("DELETE", plural, name))

    async def replace_status(self, plural: str, obj: Object) -> Object:
        return await self._send(_Requests.write("PUT", plural, obj, "/status"))

    async def patch_status(self, plural: str, name: str, patch: Object) -> Object:
        return await self._send(_Requests.item("PATCH", plural, name, patch, "/status"))

    async def create_join_token(self, labels: dict[str, str], ttl_seconds: int) -> Object:
        return await self._send(_Requests.join_token(labels, ttl_seconds))

    async def push_artifact(
        self, name: str, version: str, data: Upload, progress: Progress | None = None
    ) -> tuple[Object, bool]:
        """See ``HubClient.push_artifact``; a file is read in chunks as they are sent."""
        request = _Requests.push_artifact(name, version, upload_size(data))
        return _pushed(await self._raw(request, chunks_async(data, progress)))

    async def list_artifacts(self) -> builtins.list[Object]:
        return list((await self._send(Request("GET", f"{API}/artifacts")))["items"])

    async def site_logs(self, site: str, application: str, tail: int) -> str:
        return (await self._raw(_Requests.site_logs(site, application, tail))).text

    async def watch(
        self, plural: str, resource_version: str | None = None, selector: str | None = None
    ) -> AsyncIterator[Object]:
        """Events as they come; see ``HubClient.watch``."""
        request = _Requests.watch(plural, resource_version, selector)
        try:
            async with self._http.stream(
                request.method, request.url, params=request.params, timeout=WATCH_TIMEOUT
            ) as response:
                if response.status_code >= 400:
                    await response.aread()
                    raise from_response(response)
                async for line in response.aiter_lines():
                    if (event := _event(line)) is not None:
                        yield event
        except httpx.TransportError as e:
            raise HubUnreachable(self.server, e) from e
