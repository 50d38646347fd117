"""Clients of the hub HTTP API: ``HubClient`` (sync) and ``AsyncHubClient``.

Both build requests with the same ``_Requests`` helper and translate errors the same
way; only the transport differs.
"""

from __future__ import annotations

import builtins
import json
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from edgeplane.client.errors import HubUnreachable, from_response

API = "/api/v1alpha1"
MERGE_PATCH = "application/merge-patch+json"
Object = dict[str, Any]
PAGE_SIZE = 500


@dataclass(frozen=True)
class Request:
    """One HTTP call, built once and sent by either client."""

    method: str
    url: str
    params: dict[str, str] | None = None
    body: Any = None
    content_type: str = "application/json"

    def kwargs(self) -> dict[str, Any]:
        out: dict[str, Any] = {"params": self.params}
        if self.body is not None:
            out["content"] = json.dumps(self.body)
            out["headers"] = {"Content-Type": self.content_type}
        return out


class _Requests:
    """The request of every API call, independent of sync or async transport."""

    @staticmethod
    def list(plural: str, selector: str | None, limit: int | None, cont: str | None) -> Request:
        params = {
            "labelSelector": selector,
            "limit": str(limit) if limit else None,
            "continue": cont,
        }
        return Request("GET", f"{API}/{plural}", {k: v for k, v in params.items() if v})

    @staticmethod
    def watch(plural: str, resource_version: str | None, selector: str | None) -> Request:
        params = {"watch": "true", "resourceVersion": resource_version, "labelSelector": selector}
        return Request("GET", f"{API}/{plural}", {k: v for k, v in params.items() if v})

    @staticmethod
    def item(method: str, plural: str, name: str, body: Any = None, sub: str = "") -> Request:
        content_type = MERGE_PATCH if method == "PATCH" else "application/json"
        return Request(method, f"{API}/{plural}/{name}{sub}", None, body, content_type)

    @staticmethod
    def create(plural: str, obj: Object) -> Request:
        return Request("POST", f"{API}/{plural}", body=obj)

    @staticmethod
    def write(method: str, plural: str, obj: Object, sub: str = "") -> Request:
        """PUT/PATCH of the object named in ``obj``'s own metadata."""
        return _Requests.item(method, plural, _name_of(obj), obj, sub)


def _name_of(obj: Object) -> str:
    try:
        return str(obj["metadata"]["name"])
    except (KeyError, TypeError):
        raise ValueError("the object has no metadata.name: name it before writing it") from None


def _next_page(page: Object) -> str | None:
    token = page.get("metadata", {}).get("continue")
    return str(token) if token else None


def _event(line: str) -> Object | None:
    return dict(json.loads(line)) if line.strip() else None


def _headers(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


_WARNING = re.compile(r'299 - "((?:[^"\\]|\\.)*)"')


def warnings_of(response: httpx.Response) -> builtins.list[str]:
    """The texts of the hub's ``Warning: 299 - "..."`` headers (admission warnings)."""
    found = []
    for header in response.headers.get_list("warning"):
        found += [re.sub(r"\\(.)", r"\1", m) for m in _WARNING.findall(header)]
    return found


def _checked(response: httpx.Response) -> Any:
    """The JSON body of a success; the hub's error translated otherwise."""
    if response.status_code >= 400:
        raise from_response(response)
    return response.json()


WATCH_TIMEOUT = httpx.Timeout(30.0, read=None)  # a watch is idle between events by design


class HubClient:
    """Blocking client (the CLI). ``transport`` is for tests (``httpx.MockTransport``)."""

    def __init__(
        self,
        server: str,
        token: str | None,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.server = server
        self.warnings: builtins.list[str] = []
        """Admission warnings of the calls so far (the caller may print and clear them)."""
        self._http = httpx.Client(
            base_url=server, headers=_headers(token), timeout=timeout, transport=transport
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> HubClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _send(self, request: Request) -> Object:
        try:
            response = self._http.request(request.method, request.url, **request.kwargs())
        except httpx.TransportError as e:
            raise HubUnreachable(self.server, e) from e
        self.warnings += warnings_of(response)
        return dict(_checked(response))

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

    def _raw(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, url, **kwargs)
        except httpx.TransportError as e:
            raise HubUnreachable(self.server, e) from e
        if response.status_code >= 400:
            raise from_response(response)
        return response

    def create_join_token(self, labels: dict[str, str], ttl_seconds: int) -> Object:
        body = {"labels": labels, "ttlSeconds": ttl_seconds}
        return self._send(Request("POST", f"{API}/jointokens", body=body))

    def push_artifact(
        self, name: str, version: str, data: bytes | Iterator[bytes]
    ) -> tuple[Object, bool]:
        """Upload a .tar.gz; the hub's record, and whether it was new (else unchanged)."""
        response = self._raw(
            "PUT",
            f"{API}/artifacts/{name}/{version}",
            content=data,
            headers={"Content-Type": "application/gzip"},
            timeout=httpx.Timeout(60.0, write=None),
        )
        return dict(response.json()), response.status_code == 201

    def list_artifacts(self) -> builtins.list[Object]:
        return list(self._send(Request("GET", f"{API}/artifacts"))["items"])

    def dry_run(self, application: Object) -> Object:
        """Where an application would run (and its admission warnings); nothing is stored."""
        return self._send(Request("POST", f"{API}/applications/dry-run", body=application))

    def explain(self, application: str, site: str | None = None) -> Object:
        params = {"site": site} if site else None
        return self._send(Request("GET", f"{API}/applications/{application}/explain", params))

    def site_logs(self, site: str, application: str, tail: int) -> str:
        params = {"application": application, "tail": str(tail)}
        return self._raw("GET", f"{API}/sites/{site}/logs", params=params).text

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
    ) -> None:
        self.server = server
        self._http = httpx.AsyncClient(
            base_url=server,
            headers=_headers(token),
            timeout=timeout,
            limits=httpx.Limits(max_connections=max_connections),
            transport=transport,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncHubClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _send(self, request: Request) -> Object:
        try:
            response = await self._http.request(request.method, request.url, **request.kwargs())
        except httpx.TransportError as e:
            raise HubUnreachable(self.server, e) from e
        return dict(_checked(response))

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
