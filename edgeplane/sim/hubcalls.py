"""The simulator's calls to the hub, as an agent makes them, over ``sim.wire``.

Short calls (join, heartbeats, status) share a few kept connections per source
address; each site's long-lived stream (or, from an older hub, its watch and its relay
long poll) holds a connection of its own. Which protocol the hub speaks is found once:
a 404 of the router (not of a site), or a 403 to a site's own credential, for the
heartbeat or the stream endpoint switches the whole fleet to the older call
(``PATCH /sites/{site}/status``; the assignment watch and the relay long poll).
Neighbours: ``sim.site`` and ``sim.fleet`` call these; ``sim.wire`` carries them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import orjson

from edgeplane.api.wire import Object
from edgeplane.sim.options import SimOptions
from edgeplane.sim.wire import Connection, Endpoint, Pool, Response, WireError
from edgeplane.sim.workloads import rfc3339

API = "/api/v1alpha1"
JSON = "application/json"
MERGE_PATCH = "application/merge-patch+json"
ROTATION_ANNOTATION = "edgeplane.io/credential-rotation"
POOL_SIZE = 32
"""Kept connections for short calls per source address."""
MAX_PAGES = 20
"""Pages of 500 assignments one site lists at most (the hub caps a site far lower)."""
CALL_SECONDS = 30.0
"""A short call not answered within this is an error (its connection is closed)."""
ROUTER_NOT_FOUND = "Not Found"
"""The message of the hub's 404 for a path no route serves (Starlette's)."""


class HubError(Exception):
    """The hub refused a call, or could not be reached (status 0)."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status, self.reason, self.message = status, reason, message


def refused(response: Response) -> HubError:
    try:
        body = response.json()
    except orjson.JSONDecodeError:
        body = None
    if not isinstance(body, dict):
        body = {}
    message = str(body.get("message") or response.body[:200].decode("utf-8", "replace"))
    return HubError(response.status, str(body.get("reason") or ""), message)


def no_route(error: HubError) -> bool:
    """Whether the hub has no such endpoint (an older hub): its router's 404, or its
    authorisation's 403 (a site's own credential is refused only a path it does not
    know of its own site)."""
    return (error.status == 404 and error.message == ROUTER_NOT_FOUND) or error.status == 403


Headers = tuple[tuple[str, str], ...]


def auth(token: str) -> Headers:
    return (("Authorization", f"Bearer {token}"), ("User-Agent", "edgeplane-sim"))


class HubCalls:
    def __init__(self, options: SimOptions) -> None:
        self.options = options
        self.endpoint = Endpoint.from_url(options.hub, options.ca_file)
        self._pools: dict[str, Pool] = {}
        v2 = {"auto": None, "v1": False, "v2": True}[options.hub_protocol]
        self.heartbeat_v2: bool | None = v2
        self.stream_v2: bool | None = v2

    @property
    def protocol(self) -> str:
        names = {True: "v2", False: "v1", None: "unknown"}
        heartbeat, stream = names[self.heartbeat_v2], names[self.stream_v2]
        return heartbeat if heartbeat == stream else f"heartbeat {heartbeat}, stream {stream}"

    def close(self) -> None:
        for pool in self._pools.values():
            pool.close()

    async def call(
        self,
        address: str,
        token: str,
        method: str,
        path: str,
        body: Any = None,
        content_type: str = JSON,
    ) -> Any:
        """One short call; the decoded answer, or HubError."""
        headers = auth(token)
        data = b""
        if body is not None:
            data = orjson.dumps(body)
            headers += (("Content-Type", content_type),)
        response = await self._send(address, method, path, headers, data)
        if response.status >= 400:
            raise refused(response)
        if response.status == 204:
            return None
        try:
            return response.json()
        except orjson.JSONDecodeError as e:
            raise HubError(response.status, "NotJson", "the answer is not JSON") from e

    async def _send(
        self, address: str, method: str, path: str, headers: Headers, data: bytes
    ) -> Response:
        try:
            async with asyncio.timeout(CALL_SECONDS):
                return await self._pool(address).request(method, path, headers, data)
        except TimeoutError as e:
            raise HubError(
                0, "Timeout", f"{method} {path}: no answer in {CALL_SECONDS:.0f} s"
            ) from e
        except (WireError, ValueError) as e:
            raise HubError(0, "Unreachable", str(e)) from e

    def _pool(self, address: str) -> Pool:
        pool = self._pools.get(address)
        if pool is None:
            pool = self._pools[address] = Pool(self.endpoint, address, POOL_SIZE)
        return pool

    async def open(self, address: str) -> Connection:
        try:
            return await Connection.open(self.endpoint, address)
        except WireError as e:
            raise HubError(0, "Unreachable", str(e)) from e

    # -- joining ---------------------------------------------------------------------
    async def join(self, address: str, site: str, inventory: Mapping[str, Any]) -> str:
        """A join token made with the admin token, then the join from the site's address;
        the site's credential."""
        made = await self.call(
            "127.0.0.1",
            self.options.token,
            "POST",
            f"{API}/jointokens",
            {"labels": self.options.labels, "ttlSeconds": 600},
        )
        token = str(made["token"]).split("@", 1)[0]  # the CA is --ca-file's: no pinning
        body = {"token": token, "site": site, "inventory": dict(inventory)}
        joined = await self.call(address, "", "POST", f"{API}/join", body)
        return str(joined["credential"])

    async def locate(self, site: str, patch: Mapping[str, Any]) -> None:
        """An operator's merge patch of the Site (its location and labels), with the
        admin token."""
        path = f"{API}/sites/{site}"
        await self.call("127.0.0.1", self.options.token, "PATCH", path, patch, MERGE_PATCH)

    # -- heartbeats ------------------------------------------------------------------
    async def heartbeat(self, address: str, site: str, token: str) -> tuple[str | None, bool]:
        """The site's phase as the hub holds it, and whether a rotation is asked."""
        if self.heartbeat_v2 is not False:
            try:
                answer = await self.call(address, token, "POST", f"{API}/sites/{site}/heartbeat")
            except HubError as e:
                if not no_route(e):
                    raise
                self.heartbeat_v2 = False
            else:
                self.heartbeat_v2 = True
                if answer is None:  # 204: Online, nothing to rotate
                    return "Online", False
                return answer.get("phase"), bool(answer.get("rotation"))
        patch = {"status": {"lastHeartbeat": rfc3339(time.time())}}
        site_obj = await self.site_status(address, site, token, patch)
        annotations = (site_obj.get("metadata") or {}).get("annotations") or {}
        return (site_obj.get("status") or {}).get("phase"), bool(
            annotations.get(ROTATION_ANNOTATION)
        )

    async def site_status(
        self, address: str, site: str, token: str, patch: Mapping[str, Any]
    ) -> dict[str, Any]:
        path = f"{API}/sites/{site}/status"
        return dict(await self.call(address, token, "PATCH", path, patch, MERGE_PATCH))

    async def assignment_status(
        self, address: str, token: str, name: str, status: Mapping[str, Any]
    ) -> None:
        path = f"{API}/assignments/{name}/status"
        await self.call(address, token, "PATCH", path, {"status": dict(status)}, MERGE_PATCH)

    async def rotate(self, address: str, site: str, token: str) -> str | None:
        """The new credential, or None when the hub says we switched already (409)."""
        try:
            taken = await self.call(address, token, "POST", f"{API}/sites/{site}/credential", {})
        except HubError as e:
            if e.status == 409:
                return None
            raise
        return str(taken["credential"])

    # -- assignments and requests --------------------------------------------------
    async def list_assignments(
        self, address: str, site: str, token: str
    ) -> tuple[list[Object], str]:
        items: list[Object] = []
        params, version = {"labelSelector": f"edgeplane.io/site={site}", "limit": "500"}, ""
        for _ in range(MAX_PAGES):
            page = await self.call(address, token, "GET", f"{API}/assignments?{urlencode(params)}")
            items += page["items"]
            version = version or str(page["metadata"]["resourceVersion"])
            if not (token_next := page["metadata"].get("continue")):
                return items, version
            params["continue"] = token_next
        raise HubError(0, "TooMany", f"{site}: more than {MAX_PAGES} pages of assignments")

    async def answer(
        self,
        address: str,
        site: str,
        token: str,
        request: Mapping[str, Any],
        text: str,
        error: str | None,
    ) -> None:
        headers = (*auth(token), ("Content-Type", "text/plain"))
        if error:
            headers += (("X-Request-Error", error),)
        path = f"{API}/sites/{site}/requests/{request['id']}"
        response = await self._send(address, "POST", path, headers, text.encode())
        if response.status >= 400:
            raise refused(response)
