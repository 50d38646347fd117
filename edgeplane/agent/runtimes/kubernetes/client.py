"""A small Kubernetes API client over httpx: discovery, server-side apply, get, paginated
list, delete, pod logs and the server's version. Nothing else.

It replaces a general client (lightkube, kubernetes_asyncio) because the agent needs
only these calls and must stay within its memory budget. Every answer is bounded
(``MAX_BODY_BYTES``; lists page by ``PAGE_SIZE`` up to ``MAX_LIST_ITEMS``), every
refusal is a ``KubeError`` carrying the apiserver's own ``Status`` message, and every
transport failure is ``KubeUnreachable``. What to apply and in which order is
``apply.py``'s job; how to reach the cluster is ``config.py``'s.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from edgeplane.agent.runtimes.kubernetes.auth import BearerAuth, ssl_context
from edgeplane.agent.runtimes.kubernetes.config import KubeConfig
from edgeplane.agent.runtimes.kubernetes.errors import KubeError, KubeUnreachable, status_error

__all__ = ["KubeClient", "KubeError", "KubeUnreachable", "ObjectRef", "ResourceInfo"]

APPLY_PATCH = "application/apply-patch+yaml"
"""Server-side apply; JSON is YAML, so objects are sent as JSON."""
MAX_BODY_BYTES = 16 * 1024 * 1024
"""Decoding JSON holds the event loop (about 3 ms a MiB): 16 MiB is the most one
answer may hold it. A page of ``PAGE_SIZE`` pods is well under it."""
MAX_LOG_BYTES = 1024 * 1024
MAX_TAIL_LINES = 10_000
PAGE_SIZE = 250
MAX_LIST_ITEMS = 20_000
MAX_PAGES = 2 * MAX_LIST_ITEMS // PAGE_SIZE
"""The apiserver fills every page but the last; a server that sends short or empty
pages with a continue token forever is stopped here."""
MAX_CACHED_GROUP_VERSIONS = 512
_GROUP_VERSION = re.compile(
    r"(?:([a-z0-9](?:[-a-z0-9.]{0,251}[a-z0-9])?)/)?([a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)"
)
_NAMESPACE = re.compile(r"[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?")
# Name rules differ by kind (RBAC names may hold ':'); the apiserver checks them. Here
# only what could change the request's path is refused.
_NAME = re.compile(r"[^/\x00-\x1f\x7f]{1,253}")
_PLURAL = re.compile(r"[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?")
"""A resource's plural, as discovery names it: a path segment, so fully matched."""
Objects = list[dict[str, Any]]


@dataclass(frozen=True)
class ResourceInfo:
    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool


@dataclass(frozen=True, order=True)
class ObjectRef:
    api_version: str
    kind: str
    namespace: str | None
    name: str

    def label(self) -> str:
        """``Deployment shop/web``, ``Namespace shop``."""
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind} {where}{self.name}"

    @classmethod
    def of(cls, obj: Mapping[str, Any]) -> ObjectRef:
        """The reference of an object; ValueError naming the missing field."""
        metadata = obj.get("metadata")
        if not isinstance(metadata, Mapping):
            raise ValueError("metadata: every object needs metadata.name")
        api_version, kind = obj.get("apiVersion"), obj.get("kind")
        name, namespace = metadata.get("name"), metadata.get("namespace")
        for field, value in (("apiVersion", api_version), ("kind", kind), ("metadata.name", name)):
            if not isinstance(value, str) or not value:
                raise ValueError(f"{field}: every object needs one")
        if namespace is not None and not isinstance(namespace, str):
            raise ValueError("metadata.namespace: must be a string")
        return cls(str(api_version), str(kind), namespace or None, str(name))


class KubeClient:
    def __init__(
        self,
        config: KubeConfig,
        *,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """``transport`` replaces the network, for unit tests (``httpx.MockTransport``)."""
        self.server = config.server
        verify = ssl_context(config) if config.server.startswith("https:") else True
        self._http = httpx.AsyncClient(
            base_url=config.server,
            headers={"User-Agent": "edgeplane-agent", "Accept": "application/json"},
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
            verify=verify,
            transport=transport,
            auth=BearerAuth(config.token, config.token_file),
        )
        self._timeout = timeout
        self._kinds: dict[str, dict[str, ResourceInfo]] = {}

    async def close(self) -> None:
        await self._http.aclose()

    # --- discovery -------------------------------------------------------------------

    async def resource(self, api_version: str, kind: str) -> ResourceInfo:
        """What the cluster serves for (apiVersion, kind): cached, and discovered again
        once when missing (a CRD may have just been established)."""
        kinds = self._kinds.get(api_version)
        if kinds is None or kind not in kinds:
            kinds = await self._discover(api_version)
        info = kinds.get(kind)
        if info is None:
            raise KubeError(
                404, "NotFound", f"the cluster has no kind {kind} in apiVersion {api_version}"
            )
        return info

    async def _discover(self, api_version: str) -> dict[str, ResourceInfo]:
        match = _GROUP_VERSION.fullmatch(api_version)
        group, version = (match[1] or "", match[2]) if match else ("", "")
        if not match or (not group and version != "v1"):
            return {}  # not an apiVersion any cluster serves: the kind is unknown
        path = f"/apis/{group}/{version}" if group else "/api/v1"
        document = await self._call("GET", path, missing_ok=True)
        kinds = _resources(document, group, version)
        if len(self._kinds) >= MAX_CACHED_GROUP_VERSIONS:
            self._kinds.clear()
        self._kinds[api_version] = kinds
        return kinds

    # --- objects ---------------------------------------------------------------------

    async def apply(
        self,
        obj: Mapping[str, Any],
        *,
        field_manager: str,
        force: bool = False,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """Server-side apply of ``obj`` as ``field_manager``; the object as stored."""
        try:
            ref = ObjectRef.of(obj)
        except ValueError as e:
            raise KubeError(422, "Invalid", str(e)) from e
        path = await self._object_path(ref)
        params = {"fieldManager": field_manager}
        if force:
            params["force"] = "true"
        if dry_run:
            params["dryRun"] = "All"
        answer = await self._call("PATCH", path, params=params, body=obj, content_type=APPLY_PATCH)
        return _mapping(answer, f"apply of {ref.label()}")

    async def get(self, ref: ObjectRef) -> dict[str, Any] | None:
        """The object, or None when it (or its kind) does not exist."""
        try:
            path = await self._object_path(ref)
        except KubeError as e:
            if e.status == 404:
                return None
            raise
        answer = await self._call("GET", path, missing_ok=True)
        return None if answer is None else _mapping(answer, f"get of {ref.label()}")

    async def list(
        self,
        api_version: str,
        kind: str,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
    ) -> Objects:
        """Every object of the kind (in ``namespace``, or all), page by page; KubeError
        past ``MAX_LIST_ITEMS``. Items carry their apiVersion and kind."""
        items: Objects = []
        async for batch in self.pages(api_version, kind, namespace, label_selector):
            if len(items) + len(batch) > MAX_LIST_ITEMS:
                raise KubeError(
                    413,
                    "TooManyObjects",
                    f"more than {MAX_LIST_ITEMS} {kind} objects: the agent reads at most "
                    f"{MAX_LIST_ITEMS}; narrow the label selector or the namespace",
                )
            items.extend(batch)
        return items

    async def pages(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        label_selector: str | None = None,
    ) -> AsyncIterator[Objects]:
        """The list's pages, one at a time (a reader that keeps only some items holds
        one page, not the list); KubeError past ``MAX_PAGES``."""
        info = await self.resource(api_version, kind)
        path = _collection(info, namespace if info.namespaced else None)
        params = {"limit": str(PAGE_SIZE)}
        if label_selector:
            params["labelSelector"] = label_selector
        for _ in range(MAX_PAGES):
            page = _mapping(await self._call("GET", path, params=params), f"list of {kind}")
            items = page.get("items") or ()
            yield [
                {**i, "apiVersion": api_version, "kind": kind} for i in items if isinstance(i, dict)
            ]
            token = (page.get("metadata") or {}).get("continue")
            if not token or not isinstance(token, str):
                return
            params["continue"] = token
        raise KubeError(
            502, "BadResponse", f"{self.server}: the list of {kind} ran past {MAX_PAGES} pages"
        )

    async def delete(self, ref: ObjectRef) -> bool:
        """Delete (in the background: dependents are collected after); False when it
        (or its kind) is already gone."""
        try:
            path = await self._object_path(ref)
        except KubeError as e:
            if e.status == 404:
                return False
            raise
        options = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"}
        return await self._call("DELETE", path, body=options, missing_ok=True) is not None

    async def pod_logs(
        self, namespace: str, pod: str, *, container: str | None = None, tail_lines: int = 100
    ) -> str:
        """The last ``tail_lines`` lines of a pod's log, at most ``MAX_LOG_BYTES``."""
        ref = ObjectRef("v1", "Pod", namespace, pod)
        params = {
            "tailLines": str(max(1, min(tail_lines, MAX_TAIL_LINES))),
            "limitBytes": str(MAX_LOG_BYTES),
        }
        if container:
            params["container"] = container
        path = f"{_object_path(_POD, ref)}/log"
        status, body = await self._send("GET", path, params=params, limit=MAX_LOG_BYTES)
        if status >= 400:
            raise status_error(status, body, httpx.codes.get_reason_phrase(status))
        return body.decode(errors="replace")

    async def server_version(self) -> str:
        """The apiserver's ``gitVersion``, e.g. ``v1.37.2``."""
        answer = _mapping(await self._call("GET", "/version"), "the server version")
        version = answer.get("gitVersion")
        if not isinstance(version, str) or not version:
            raise KubeError(502, "BadResponse", f"{self.server}: /version has no gitVersion")
        return version[:64]

    # --- transport -------------------------------------------------------------------

    async def _object_path(self, ref: ObjectRef) -> str:
        return _object_path(await self.resource(ref.api_version, ref.kind), ref)

    async def _call(self, method: str, path: str, *, missing_ok: bool = False, **send: Any) -> Any:
        """One call (``send``: ``_send``'s keywords); its decoded JSON. ``missing_ok``:
        None on a 404."""
        status, answer = await self._send(method, path, **send)
        if status == 404 and missing_ok:
            return None
        if status >= 400:
            raise status_error(status, answer, httpx.codes.get_reason_phrase(status))
        try:
            return json.loads(answer) if answer else {}
        except (ValueError, RecursionError) as e:  # nested past the decoder's limit
            raise KubeError(
                502, "BadResponse", f"{self.server}: the answer to {method} {path} is not JSON"
            ) from e

    async def _send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        limit: int | None = None,
    ) -> tuple[int, bytes]:
        content = None if body is None else json.dumps(body, separators=(",", ":")).encode()
        headers = {"Content-Type": content_type} if content is not None else {}
        request = self._http.build_request(
            method, path, params=params, content=content, headers=headers
        )
        bound = MAX_BODY_BYTES if limit is None else limit
        try:
            # httpx's timeout is per read: a server that drips a byte at a time
            # would hold the call forever. The whole call gets ``timeout``.
            async with asyncio.timeout(self._timeout):
                return await self._exchange(request, bound)
        except TimeoutError as e:
            raise KubeUnreachable(
                f"{self.server}: {method} {path}: no whole answer in {self._timeout:g} s"
            ) from e
        except httpx.TransportError as e:
            raise KubeUnreachable(f"{self.server}: {method} {path}: {e!r}") from e
        except httpx.DecodingError as e:
            raise KubeError(502, "BadResponse", f"{self.server}: {method} {path}: {e}") from e

    async def _exchange(self, request: httpx.Request, limit: int) -> tuple[int, bytes]:
        response = await self._http.send(request, stream=True)
        try:
            return response.status_code, await _read_bounded(response, limit)
        finally:
            await response.aclose()


_POD = ResourceInfo("", "v1", "Pod", "pods", namespaced=True)


async def _read_bounded(response: httpx.Response, limit: int) -> bytes:
    """The body, refusing more than ``limit`` bytes (after decompression)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise KubeError(
                response.status_code,
                "TooLarge",
                f"the answer to {response.request.method} {response.request.url.path} "
                f"is over {limit} bytes",
            )
        chunks.append(chunk)
    return b"".join(chunks)


def _collection(info: ResourceInfo, namespace: str | None) -> str:
    base = f"/apis/{info.group}/{info.version}" if info.group else "/api/v1"
    if namespace is not None:
        if not _NAMESPACE.fullmatch(namespace):
            raise KubeError(422, "Invalid", f"namespace {namespace!r} is not a DNS-1123 label")
        base += f"/namespaces/{namespace}"
    return f"{base}/{info.plural}"


def _object_path(info: ResourceInfo, ref: ObjectRef) -> str:
    if info.namespaced and not ref.namespace:
        raise KubeError(
            422,
            "Invalid",
            f"{ref.label()}: metadata.namespace is required (the kind is namespaced)",
        )
    if not _NAME.fullmatch(ref.name) or ref.name in (".", ".."):
        raise KubeError(422, "Invalid", f"{ref.label()}: metadata.name is not a valid name")
    namespace = ref.namespace if info.namespaced else None
    return f"{_collection(info, namespace)}/{quote(ref.name, safe='')}"


def _resources(document: Any, group: str, version: str) -> dict[str, ResourceInfo]:
    """Kinds of an APIResourceList (subresources such as ``pods/log`` left out)."""
    entries = document.get("resources") if isinstance(document, dict) else None
    kinds: dict[str, ResourceInfo] = {}
    for entry in (entries if isinstance(entries, list) else [])[:2000]:
        if not isinstance(entry, dict):
            continue
        name, kind = entry.get("name"), entry.get("kind")
        if isinstance(name, str) and _PLURAL.fullmatch(name) and isinstance(kind, str):
            namespaced = entry.get("namespaced") is True
            kinds.setdefault(kind, ResourceInfo(group, version, kind, name, namespaced))
    return kinds


def _mapping(answer: Any, what: str) -> dict[str, Any]:
    if not isinstance(answer, dict):
        raise KubeError(502, "BadResponse", f"the answer to the {what} is not an object")
    return answer
