"""Clients of the hub HTTP API: ``HubClient`` (sync) and ``AsyncHubClient``.

Both build requests with the same ``_Requests`` helper and translate errors the same
way; only the transport differs.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from edgeplane.client.errors import HubUnreachable, from_response

API = "/api/v1alpha1"
MERGE_PATCH = "application/merge-patch+json"
Object = dict[str, Any]


@dataclass(frozen=True)
class Request:
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
    """The requests of every API call, independent of sync or async transport."""

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


def _headers(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def _checked(response: httpx.Response) -> Any:
    if response.status_code >= 400:
        raise from_response(response)
    return response.json()


class HubClient:
    def __init__(self, server: str, token: str | None, timeout: float = 30.0) -> None:
        self.server = server
        self._http = httpx.Client(base_url=server, headers=_headers(token), timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> HubClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _send(self, request: Request) -> Any:
        try:
            response = self._http.request(request.method, request.url, **request.kwargs())
        except httpx.TransportError as e:
            raise HubUnreachable(self.server, e) from e
        return _checked(response)

    def discovery(self) -> Object:
        return dict(self._send(Request("GET", API)))

    def list(
        self,
        plural: str,
        selector: str | None = None,
        limit: int | None = None,
        continue_: str | None = None,
    ) -> Object:
        return dict(self._send(_Requests.list(plural, selector, limit, continue_)))

    def list_all(self, plural: str, selector: str | None = None) -> builtins.list[Object]:
        items: builtins.list[Object] = []
        token = None
        while True:
            page = self.list(plural, selector, 500, token)
            items += page["items"]
            if not (token := page["metadata"].get("continue")):
                return items

    def get(self, plural: str, name: str) -> Object:
        return dict(self._send(_Requests.item("GET", plural, name)))

    def create(self, plural: str, obj: Object) -> Object:
        return dict(self._send(Request("POST", f"{API}/{plural}", body=obj)))

    def replace(self, plural: str, obj: Object) -> Object:
        name = obj["metadata"]["name"]
        return dict(self._send(_Requests.item("PUT", plural, name, obj)))

    def patch(self, plural: str, name: str, patch: Object) -> Object:
        return dict(self._send(_Requests.item("PATCH", plural, name, patch)))

    def replace_status(self, plural: str, obj: Object) -> Object:
        name = obj["metadata"]["name"]
        return dict(self._send(_Requests.item("PUT", plural, name, obj, "/status")))

    def delete(self, plural: str, name: str) -> Object:
        return dict(self._send(_Requests.item("DELETE", plural, name)))

    def watch(
        self, plural: str, resource_version: str | None = None, selector: str | None = None
    ) -> Iterator[Object]:
        request = _Requests.watch(plural, resource_version, selector)
        try:
            with self._http.stream(
                request.method,
                request.url,
                params=request.params,
                timeout=httpx.Timeout(30, read=None),
            ) as response:
                if response.status_code >= 400:
                    response.read()
                    raise from_response(response)
                for line in response.iter_lines():
                    if line.strip():
                        yield json.loads(line)
        except httpx.TransportError as e:
            raise HubUnreachable(self.server, e) from e


class AsyncHubClient:
    def __init__(
        self, server: str, token: str | None, timeout: float = 30.0, max_connections: int = 100
    ) -> None:
        self.server = server
        limits = httpx.Limits(max_connections=max_connections)
        self._http = httpx.AsyncClient(
            base_url=server, headers=_headers(token), timeout=timeout, limits=limits
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncHubClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _send(self, request: Request) -> Any:
        try:
            response = await self._http.request(request.method, request.url, **request.kwargs())
        except httpx.TransportError as e:
            raise HubUnreachable(self.server, e) from e
        return _checked(response)

    async def list(
        self,
        plural: str,
        selector: str | None = None,
        limit: int | None = None,
        continue_: str | None = None,
    ) -> Object:
        return dict(await self._send(_Requests.list(plural, selector, limit, continue_)))

    async def get(self, plural: str, name: str) -> Object:
        return dict(await self._send(_Requests.item("GET", plural, name)))

    async def create(self, plural: str, obj: Object) -> Object:
        return dict(await self._send(Request("POST", f"{API}/{plural}", body=obj)))

    async def replace(self, plural: str, obj: Object) -> Object:
        name = obj["metadata"]["name"]
        return dict(await self._send(_Requests.item("PUT", plural, name, obj)))

    async def patch(self, plural: str, name: str, patch: Object) -> Object:
        return dict(await self._send(_Requests.item("PATCH", plural, name, patch)))

    async def replace_status(self, plural: str, obj: Object) -> Object:
        name = obj["metadata"]["name"]
        return dict(await self._send(_Requests.item("PUT", plural, name, obj, "/status")))

    async def delete(self, plural: str, name: str) -> Object:
        return dict(await self._send(_Requests.item("DELETE", plural, name)))

    async def watch(
        self, plural: str, resource_version: str | None = None, selector: str | None = None
    ) -> AsyncIterator[Object]:
        request = _Requests.watch(plural, resource_version, selector)
        try:
            async with self._http.stream(
                request.method,
                request.url,
                params=request.params,
                timeout=httpx.Timeout(30, read=None),
            ) as response:
                if response.status_code >= 400:
                    await response.aread()
                    raise from_response(response)
                async for line in response.aiter_lines():
                    if line.strip():
                        yield json.loads(line)
        except httpx.TransportError as e:
            raise HubUnreachable(self.server, e) from e
