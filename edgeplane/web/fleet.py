"""What the dashboard knows of the fleet: one view per signed-in token, kept live.

A ``FleetView`` lists the token's Sites and Applications once, then watches them
(resumable, relisting after ``410 Gone``), so the map, the tables and the counts are
answered from memory at ten thousand sites, and every change is offered to the page
streams (``web.live``) that subscribed. Everything goes through the hub's HTTP API with
the session's own token (``edgeplane.client``), so the dashboard sees exactly what that
token may see, and nothing the token could not read by itself.

Views are shared by the sessions of one token, bounded in number (``MAX_VIEWS``), and
stopped when no session has used them for ``IDLE_SECONDS``. A view whose token the hub
refuses ends, and the sessions on it with it (``refused``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from edgeplane.api.wire import Object
from edgeplane.client.errors import ClientError, HubUnreachable
from edgeplane.client.hub import AsyncHubClient

log = logging.getLogger("edgeplane.web.fleet")

KINDS = ("sites", "applications")
MAX_VIEWS = 64
IDLE_SECONDS = 600.0
VERIFY_SECONDS = 2.0
"""A page reads memory; it asks the hub whether its token still works this often."""
RELIST_SECONDS = 60.0
"""A heartbeat renews a lease in the hub's memory, not the stored Site: a watch never
shows it, a list does. The view lists again this often, so heartbeat ages are at most
this old (a site's page asks the hub for its site)."""
QUEUE_LIMIT = 2_000
RETRY_SECONDS = (0.5, 1.0, 2.0, 5.0)


@dataclass(frozen=True)
class Change:
    """An object that changed (``deleted`` when it went away)."""

    plural: str
    name: str
    obj: Object | None


class Subscriber:
    """One page stream's changes; ``overflowed`` when it fell too far behind to be told
    each one (it then reloads what it shows)."""

    def __init__(self, limit: int = QUEUE_LIMIT) -> None:
        self.queue: asyncio.Queue[Change] = asyncio.Queue(limit)
        self.overflowed = False

    def offer(self, change: Change) -> None:
        try:
            self.queue.put_nowait(change)
        except asyncio.QueueFull:
            self.overflowed = True


class Refused(Exception):
    """The hub refused the view's token: its sessions are over."""


class FleetView:
    def __init__(
        self,
        key: str,
        client: AsyncHubClient,
        clock: Callable[[], float],
        shutdown: asyncio.Event | None = None,
    ) -> None:
        self.key, self.client, self._clock = key, client, clock
        self._shutdown = shutdown or asyncio.Event()
        self.objects: dict[str, dict[str, Object]] = {plural: {} for plural in KINDS}
        self.ready = asyncio.Event()
        self.refused: ClientError | None = None
        self.used = clock()
        self._verified = -1e9
        self._subscribers: set[Subscriber] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._listed: set[str] = set()
        self._listed_at: dict[str, float] = {}
        self._may: dict[tuple[str, str], bool] = {}

    async def may(self, verb: str, kind: str) -> bool:
        """Whether the token may (the hub's ``GET /auth/can-i``, asked once a view): the
        dashboard shows only the buttons it may press. A hub that cannot say (down,
        older) gets True: it still decides each request."""
        question = (verb, kind)
        if question not in self._may:
            try:
                answer = await self.client.can_i(verb, kind)
            except (ClientError, HubUnreachable):
                return True
            self._may[question] = bool(answer.get("allowed", True))
        return self._may[question]

    @property
    def sites(self) -> dict[str, Object]:
        return self.objects["sites"]

    @property
    def applications(self) -> dict[str, Object]:
        return self.objects["applications"]

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._follow(plural), name=f"dashboard-{plural}")
            for plural in KINDS
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.client.aclose()

    async def verify(self) -> None:
        """Raise ``Refused`` when the hub no longer takes the token (asked at most every
        ``VERIFY_SECONDS``); ``HubUnreachable`` passes through."""
        self.used = self._clock()
        if self.refused is not None:
            raise Refused(self.refused.message)
        if self.used - self._verified < VERIFY_SECONDS:
            return
        try:
            await self.client.list("sites", limit=1)
        except ClientError as e:
            if e.unauthorized:
                self.refused = e
                raise Refused(e.message) from e
            raise
        self._verified = self.used

    def subscribe(self) -> Subscriber:
        subscriber = Subscriber()
        self._subscribers.add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.discard(subscriber)

    async def _follow(self, plural: str) -> None:
        failures = 0
        while self.refused is None and not self._shutdown.is_set():
            try:
                version = await self._list(plural)
                failures = 0
                await self._watch(plural, version)
            except ClientError as e:
                if e.unauthorized:
                    self.refused = e
                    self._tell_all()
                    return
                if e.status != 410:
                    log.warning("dashboard: %s: %s", plural, e.message)
                    failures += 1
            except HubUnreachable as e:
                if self._shutdown.is_set():
                    return  # the hub is stopping: its streams end, nothing is wrong
                log.warning("dashboard: %s", e)
                failures += 1
            if failures:
                await asyncio.sleep(RETRY_SECONDS[min(failures, len(RETRY_SECONDS)) - 1])

    async def _list(self, plural: str) -> str | None:
        page = await self.client.list(plural, limit=500)
        fresh = {o["metadata"]["name"]: o for o in page.get("items", [])}
        version = page.get("metadata", {}).get("resourceVersion")
        while token := page.get("metadata", {}).get("continue"):
            page = await self.client.list(plural, limit=500, continue_=str(token))
            fresh |= {o["metadata"]["name"]: o for o in page.get("items", [])}
        old = self.objects[plural]
        self.objects[plural] = fresh
        self._listed_at[plural] = self._clock()
        for name in old.keys() - fresh.keys():
            self._tell(Change(plural, name, None))
        for name, obj in fresh.items():
            if name not in old or _meaning(old[name]) != _meaning(obj):
                self._tell(Change(plural, name, obj))
        self._listed.add(plural)
        if self._listed == set(KINDS):
            self.ready.set()
        return version if isinstance(version, str) else None

    async def _watch(self, plural: str, version: str | None) -> None:
        async for event in self.client.watch(plural, version):
            kind, obj = event.get("type"), event.get("object") or {}
            if kind == "ERROR" or self._clock() - self._listed_at[plural] > RELIST_SECONDS:
                return  # list again (410 Gone and its kin; heartbeats)
            if kind == "BOOKMARK":
                continue
            name = obj.get("metadata", {}).get("name")
            if not isinstance(name, str):
                continue
            if kind == "DELETED":
                self.objects[plural].pop(name, None)
                self._tell(Change(plural, name, None))
            else:
                self.objects[plural][name] = obj
                self._tell(Change(plural, name, obj))

    def _tell(self, change: Change) -> None:
        for subscriber in self._subscribers:
            subscriber.offer(change)

    def _tell_all(self) -> None:
        """Wake every stream (the token was refused: they end)."""
        for subscriber in self._subscribers:
            subscriber.offer(Change("", "", None))


def _meaning(obj: Object) -> Object:
    """An object without its heartbeat stamp: a new stamp alone is not news to a page."""
    status = obj.get("status")
    if not isinstance(status, dict) or "lastHeartbeat" not in status:
        return obj
    rest = {k: v for k, v in status.items() if k != "lastHeartbeat"}
    return cast(Object, {**obj, "status": rest})


class TooManyViews(Exception):
    """More distinct tokens are signed in than the dashboard follows."""


class Fleet:
    """Every token's view, and the hub they are read from."""

    def __init__(
        self,
        hub_url: str,
        verify: ssl.SSLContext | bool = True,
        clock: Callable[[], float] = time.monotonic,
        max_views: int = MAX_VIEWS,
        shutdown: asyncio.Event | None = None,
    ) -> None:
        self.hub_url, self._verify, self._clock, self._max = hub_url, verify, clock, max_views
        self._shutdown = shutdown
        self._views: dict[str, FleetView] = {}

    def client(self, token: str) -> AsyncHubClient:
        return AsyncHubClient(self.hub_url, token, max_connections=8, verify=self._verify)

    async def check(self, token: str) -> None:
        """Raise ``ClientError`` (or ``HubUnreachable``) unless the hub lets the token
        read the fleet's sites."""
        async with self.client(token) as client:
            await client.list("sites", limit=1)

    async def view(self, key: str, token: str) -> FleetView:
        await self._reap()
        view = self._views.get(key)
        if view is None or view.refused is not None:
            if view is not None:
                await self.drop(key)
            if len(self._views) >= self._max:
                raise TooManyViews(
                    f"{len(self._views)} different tokens are signed in to this dashboard, "
                    "its limit: sign out elsewhere, or share a token"
                )
            view = FleetView(key, self.client(token), self._clock, self._shutdown)
            self._views[key] = view
            view.start()
        view.used = self._clock()
        return view

    async def drop(self, key: str) -> None:
        view = self._views.pop(key, None)
        if view is not None:
            await view.stop()

    async def close(self) -> None:
        for key in list(self._views):
            await self.drop(key)

    async def _reap(self) -> None:
        now = self._clock()
        for key in [k for k, v in self._views.items() if now - v.used > IDLE_SECONDS]:
            await self.drop(key)
