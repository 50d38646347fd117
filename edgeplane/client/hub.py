"""Clients of the hub HTTP API: ``AsyncHubClient``, the one implementation, and
``HubClient``, the same calls blocking (the CLI).

``HubClient`` runs an ``AsyncHubClient`` on a private event loop in a thread of its
own (so it also works from code that runs a loop), and its methods are made from the
async ones by ``_blocking``: the table of calls is written once, and a test checks
that both expose the same names and signatures. Neighbours: ``requests`` builds each
call, ``answers`` reads the hub's answers into the wire types, ``errors`` and
``uploads``.
"""

from __future__ import annotations

import asyncio
import builtins
import functools
import ssl
import threading
import weakref
from collections.abc import AsyncGenerator, Callable, Coroutine, Generator, Mapping
from typing import Any, Concatenate, ParamSpec, TypeVar

import httpx

from edgeplane.api.wire import ListObject, Object, WatchEvent
from edgeplane.client import answers
from edgeplane.client.answers import Body
from edgeplane.client.answers import warnings_of as warnings_of  # re-exported
from edgeplane.client.errors import HubUnreachable, from_response
from edgeplane.client.loops import closed, end_others, next_event
from edgeplane.client.requests import API, PAGE_SIZE, WATCH_TIMEOUT, Request, Requests
from edgeplane.client.requests import segment as segment  # re-exported
from edgeplane.client.uploads import Progress, Upload, chunks_async, upload_size

P = ParamSpec("P")
T = TypeVar("T")


class AsyncHubClient:
    """The hub's API for asyncio (agents' tests, simulator, benchmarks), and under
    ``HubClient`` for the CLI. ``transport`` is for tests (``httpx.MockTransport``)."""

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
        self.warnings: builtins.list[str] = []
        """Admission warnings of the calls so far (the caller may print and clear them)."""
        self._http = httpx.AsyncClient(
            base_url=server,
            headers={"Authorization": f"Bearer {token}"} if token else {},
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
        """The hub's answer to a success; its error (or HubUnreachable) raised otherwise."""
        kwargs = request.kwargs() | ({"content": content} if content is not None else {})
        try:
            response = await self._http.request(request.method, request.url, **kwargs)
        except httpx.TransportError as e:
            raise HubUnreachable(self.server, e) from e
        self.warnings += answers.warnings_of(response)
        if response.status_code >= 400:
            raise from_response(response)
        return response

    async def _body(self, request: Request) -> Body:
        return answers.body(await self._raw(request))

    async def _object(self, request: Request) -> Object:
        return answers.obj(await self._raw(request))

    async def discovery(self) -> Body:
        return await self._body(Request("GET", API))

    async def list(
        self,
        plural: str,
        selector: str | None = None,
        limit: int | None = None,
        continue_: str | None = None,
    ) -> ListObject:
        request = Requests.list(plural, selector, limit, continue_)
        return answers.page(await self._raw(request))

    async def list_all(self, plural: str, selector: str | None = None) -> builtins.list[Object]:
        """Every matching object, following ``continue`` across pages."""
        page = await self.list(plural, selector, PAGE_SIZE)
        items = page.get("items", [])
        while token := answers.next_page(page):
            page = await self.list(plural, selector, PAGE_SIZE, token)
            items += page.get("items", [])
        return items

    async def get(self, plural: str, name: str) -> Object:
        return await self._object(Requests.item("GET", plural, name))

    async def create(self, plural: str, obj: Mapping[str, object]) -> Object:
        return await self._object(Requests.create(plural, obj))

    async def replace(self, plural: str, obj: Mapping[str, object]) -> Object:
        return await self._object(Requests.write("PUT", plural, obj))

    async def patch(self, plural: str, name: str, patch: Mapping[str, object]) -> Object:
        return await self._object(Requests.item("PATCH", plural, name, patch))

    async def delete(self, plural: str, name: str) -> Object:
        return await self._object(Requests.item("DELETE", plural, name))

    async def replace_status(self, plural: str, obj: Mapping[str, object]) -> Object:
        return await self._object(Requests.write("PUT", plural, obj, "/status"))

    async def patch_status(self, plural: str, name: str, patch: Mapping[str, object]) -> Object:
        return await self._object(Requests.item("PATCH", plural, name, patch, "/status"))

    async def create_join_token(self, labels: dict[str, str], ttl_seconds: int) -> Body:
        """A single-use join token: ``{token, expiresAt, labels}``."""
        return await self._body(Requests.join_token(labels, ttl_seconds))

    async def list_tokens(self) -> builtins.list[Body]:
        """Every credential the hub holds, without secrets."""
        return answers.items(await self._body(Request("GET", f"{API}/tokens")))

    async def create_token(self, subject: str, role: str, ttl_seconds: int | None) -> Body:
        """A user token ``{token, id, subject, role, expiresAt}``: the secret only here."""
        body: Body = {"subject": subject, "role": role}
        if ttl_seconds is not None:
            body["ttlSeconds"] = ttl_seconds
        return await self._body(Request("POST", f"{API}/tokens", body=body))

    async def can_i(self, verb: str, kind: str, name: str = "") -> Body:
        """Whether this client's token may: ``{allowed, role, needs, request}``."""
        params = {"verb": verb, "kind": kind, "name": name}
        return await self._body(Request("GET", f"{API}/auth/can-i", params=params))

    async def whoami(self) -> Body:
        return await self._body(Request("GET", f"{API}/auth/whoami"))

    async def audit_head(self) -> Body:
        """The hub's last audit entry ``{enabled, seq, hash}``."""
        return await self._body(Request("GET", f"{API}/audit/head"))

    async def revoke_token(self, token_id: str) -> Body:
        return await self._body(Requests.revoke_token(token_id))

    async def rotate_admin_token(self) -> Body:
        """A new admin token ``{token, id}``; every older admin token is revoked."""
        return await self._body(Request("POST", f"{API}/tokens/rotate-admin"))

    async def rotate_site_credential(self, site: str, overlap_seconds: int) -> Body:
        """Ask a site's agent to switch credentials; the old one lasts ``overlap_seconds``."""
        return await self._body(Requests.rotate_site_credential(site, overlap_seconds))

    async def push_artifact(
        self, name: str, version: str, data: Upload, progress: Progress | None = None
    ) -> tuple[Body, bool]:
        """Stream a .tar.gz (bytes or a binary file, read in chunks as they are sent);
        the hub's record, and whether it was new (else unchanged). ``progress`` is
        called with each chunk's size."""
        request = Requests.push_artifact(name, version, upload_size(data))
        return answers.pushed(await self._raw(request, chunks_async(data, progress)))

    async def list_artifacts(self) -> builtins.list[Body]:
        return answers.items(await self._body(Request("GET", f"{API}/artifacts")))

    async def dry_run(self, application: Mapping[str, object]) -> Body:
        """Where an application would run (and its admission warnings); nothing is stored."""
        return await self._body(Request("POST", f"{API}/applications/dry-run", body=application))

    async def explain(self, application: str, site: str | None = None) -> Body:
        return await self._body(Requests.explain(application, site))

    async def endpoints(self, application: str, place: Mapping[str, object]) -> Body:
        """What a client at ``place`` (region, site, lat, lon) is answered for it."""
        params = {k: str(v) for k, v in place.items() if v is not None}
        url = f"{API}/applications/{segment(application)}/endpoints"
        return await self._body(Request("GET", url, params))

    async def report_metrics(self, application: str, metrics: Mapping[str, float]) -> Body:
        """External metrics for its autoscaler (``spec.autoscaling``), by name."""
        body = {"metrics": [{"name": k, "value": v} for k, v in metrics.items()]}
        url = f"{API}/applications/{segment(application)}/metrics"
        return await self._body(Request("POST", url, body=body))

    async def rollout_action(
        self,
        application: str,
        action: str,
        to_revision: int | None = None,
        wave: int | str | None = None,
    ) -> Body:
        """``pause``, ``resume``, ``promote``, ``abort``, ``approve`` (``wave``: a name or
        an index, default the current one) or ``undo`` (``to_revision``, default the
        stable one); the rollout status as the hub took the action."""
        return await self._body(Requests.rollout_action(application, action, to_revision, wave))

    async def list_revisions(self, application: str, template: bool = False) -> builtins.list[Body]:
        """The application's revisions, newest first (their templates when asked)."""
        return answers.items(await self._body(Requests.revisions(application, template)))

    async def site_logs(self, site: str, application: str, tail: int) -> str:
        """The last ``tail`` lines of an application's log at a site (relayed by the hub)."""
        return (await self._raw(Requests.site_logs(site, application, tail))).text

    async def records(
        self,
        stream: str,
        site: str | None = None,
        since: float | None = None,
        until: float | None = None,
        after: int = 0,
        limit: int = 100,
    ) -> Body:
        """One page of the records a DataStream's sites sent home, by id:
        ``{items, next}``; pass ``next`` as ``after`` for the page that follows.
        ``since`` and ``until`` are unix seconds of the records' own time."""
        found = {"site": site, "since": since, "until": until, "after": after, "limit": limit}
        params = {k: str(v) for k, v in found.items() if v is not None}
        url = f"{API}/datastreams/{segment(stream, 'stream')}/records"
        return answers.records_page(await self._body(Request("GET", url, params)))

    async def watch(
        self, plural: str, resource_version: str | None = None, selector: str | None = None
    ) -> AsyncGenerator[WatchEvent, None]:
        """Events as they come (ADDED, MODIFIED, DELETED, BOOKMARK, ERROR) until the hub
        ends the stream; raises ClientError (410 Gone: list again) or HubUnreachable."""
        request = Requests.watch(plural, resource_version, selector)
        try:
            async with self._http.stream(
                request.method, request.url, params=request.params, timeout=WATCH_TIMEOUT
            ) as response:
                if response.status_code >= 400:
                    await response.aread()
                    raise from_response(response)
                async for line in response.aiter_lines():
                    if (event := answers.event(line)) is not None:
                        yield event
        except httpx.TransportError as e:
            raise HubUnreachable(self.server, e) from e


def _blocking(
    call: Callable[Concatenate[AsyncHubClient, P], Coroutine[Any, Any, T]],
) -> Callable[Concatenate[HubClient, P], T]:
    """``call`` of the async client as a method of the blocking one (same signature
    and docstring): run on the blocking client's loop, waited for."""

    @functools.wraps(call)
    def method(self: HubClient, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return self._run(call(self._client, *args, **kwargs))

    return method


class HubClient:
    """The calls of ``AsyncHubClient``, blocking (the CLI). One call at a time: Ctrl-C
    (KeyboardInterrupt) or ``close`` ends whatever runs on its loop."""

    def __init__(
        self,
        server: str,
        token: str | None,
        timeout: float = 30.0,
        max_connections: int = 100,
        transport: httpx.AsyncBaseTransport | None = None,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        self._client = AsyncHubClient(server, token, timeout, max_connections, transport, verify)
        self.server = server
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name=f"hub client {server}", daemon=True
        )
        self._thread.start()
        self._watches: weakref.WeakSet[Generator[WatchEvent, None, None]] = weakref.WeakSet()

    @property
    def warnings(self) -> builtins.list[str]:
        """Admission warnings of the calls so far (the caller may print and clear them)."""
        return self._client.warnings

    def close(self) -> None:
        if self._loop.is_closed():
            return
        try:
            self._run(end_others())  # Ctrl-C may come between two calls' bookkeeping
            for events in list(self._watches):  # outer generators first: each closes its own
                events.close()
            self._run(self._shutdown())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
            self._loop.close()

    async def _shutdown(self) -> None:
        # What the watches read through (httpx's streams) is finalized on this loop,
        # not left as tasks pending on a closed one.
        await asyncio.get_running_loop().shutdown_asyncgens()
        await self._client.aclose()

    def __enter__(self) -> HubClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self, call: Coroutine[Any, Any, T]) -> T:
        try:
            return asyncio.run_coroutine_threadsafe(call, self._loop).result()
        except (KeyboardInterrupt, SystemExit):
            # Ctrl-C, whenever it comes: the call must not go on behind us, nor still
            # be unwinding when the caller closes what it used (a watch).
            asyncio.run_coroutine_threadsafe(end_others(), self._loop).result()
            raise

    discovery = _blocking(AsyncHubClient.discovery)
    list = _blocking(AsyncHubClient.list)
    list_all = _blocking(AsyncHubClient.list_all)
    get = _blocking(AsyncHubClient.get)
    create = _blocking(AsyncHubClient.create)
    replace = _blocking(AsyncHubClient.replace)
    patch = _blocking(AsyncHubClient.patch)
    delete = _blocking(AsyncHubClient.delete)
    replace_status = _blocking(AsyncHubClient.replace_status)
    patch_status = _blocking(AsyncHubClient.patch_status)
    create_join_token = _blocking(AsyncHubClient.create_join_token)
    list_tokens = _blocking(AsyncHubClient.list_tokens)
    revoke_token = _blocking(AsyncHubClient.revoke_token)
    create_token = _blocking(AsyncHubClient.create_token)
    can_i = _blocking(AsyncHubClient.can_i)
    whoami = _blocking(AsyncHubClient.whoami)
    audit_head = _blocking(AsyncHubClient.audit_head)
    rotate_admin_token = _blocking(AsyncHubClient.rotate_admin_token)
    rotate_site_credential = _blocking(AsyncHubClient.rotate_site_credential)
    push_artifact = _blocking(AsyncHubClient.push_artifact)
    list_artifacts = _blocking(AsyncHubClient.list_artifacts)
    dry_run = _blocking(AsyncHubClient.dry_run)
    explain = _blocking(AsyncHubClient.explain)
    endpoints = _blocking(AsyncHubClient.endpoints)
    report_metrics = _blocking(AsyncHubClient.report_metrics)
    rollout_action = _blocking(AsyncHubClient.rollout_action)
    list_revisions = _blocking(AsyncHubClient.list_revisions)
    site_logs = _blocking(AsyncHubClient.site_logs)
    records = _blocking(AsyncHubClient.records)

    def watch(
        self, plural: str, resource_version: str | None = None, selector: str | None = None
    ) -> Generator[WatchEvent, None, None]:
        """Events as they come (ADDED, MODIFIED, DELETED, BOOKMARK, ERROR) until the hub
        ends the stream; raises ClientError (410 Gone: list again) or HubUnreachable.
        Closing the client closes it too (a watch left open by Ctrl-C)."""
        events = self._watch(self._client.watch(plural, resource_version, selector))
        self._watches.add(events)
        return events

    def _watch(self, events: AsyncGenerator[WatchEvent, None]) -> Generator[WatchEvent, None, None]:
        try:
            while True:
                try:
                    yield self._run(next_event(events))
                except StopAsyncIteration:
                    return
        finally:
            if not self._loop.is_closed():  # else closed with the client
                self._run(closed(events))
