"""The request of every hub API call, built once for the async client (which the
sync one wraps): method, URL with each name percent-encoded as one path segment,
query, JSON body and timeouts.

Neighbours: ``answers`` reads what the hub says back; ``hub`` sends these.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from edgeplane.client.errors import ClientError

API = "/api/v1alpha1"
MERGE_PATCH = "application/merge-patch+json"
PAGE_SIZE = 500
# A large upload may take minutes to write; the hub's answer comes once it has checked it.
UPLOAD_TIMEOUT = httpx.Timeout(60.0, write=None)
WATCH_TIMEOUT = httpx.Timeout(30.0, read=None)  # a watch is idle between events by design


@dataclass(frozen=True)
class Request:
    """One HTTP call."""

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


def _present(params: Mapping[str, str | None]) -> dict[str, str]:
    return {k: v for k, v in params.items() if v}


class Requests:
    """The request of every API call."""

    @staticmethod
    def list(plural: str, selector: str | None, limit: int | None, cont: str | None) -> Request:
        limit_ = str(limit) if limit else None
        params = {"labelSelector": selector, "limit": limit_, "continue": cont}
        return Request("GET", f"{API}/{segment(plural)}", _present(params))

    @staticmethod
    def watch(plural: str, resource_version: str | None, selector: str | None) -> Request:
        params = {"watch": "true", "resourceVersion": resource_version, "labelSelector": selector}
        return Request("GET", f"{API}/{segment(plural)}", _present(params))

    @staticmethod
    def item(method: str, plural: str, name: str, body: Any = None, sub: str = "") -> Request:
        content_type = MERGE_PATCH if method == "PATCH" else "application/json"
        url = f"{API}/{segment(plural)}/{segment(name)}{sub}"
        return Request(method, url, None, body, content_type)

    @staticmethod
    def create(plural: str, obj: Mapping[str, object]) -> Request:
        return Request("POST", f"{API}/{segment(plural)}", body=obj)

    @staticmethod
    def write(method: str, plural: str, obj: Mapping[str, object], sub: str = "") -> Request:
        """PUT/PATCH of the object named in ``obj``'s own metadata."""
        return Requests.item(method, plural, _name_of(obj), obj, sub)

    @staticmethod
    def join_token(labels: dict[str, str], ttl_seconds: int) -> Request:
        body = {"labels": labels, "ttlSeconds": ttl_seconds}
        return Request("POST", f"{API}/jointokens", body=body)

    @staticmethod
    def revoke_token(token_id: str) -> Request:
        return Request("DELETE", f"{API}/tokens/{quote(token_id, safe='')}")

    @staticmethod
    def rotate_site_credential(site: str, overlap_seconds: int) -> Request:
        url = f"{API}/sites/{quote(site, safe='')}/credential/rotate"
        return Request("POST", url, body={"overlapSeconds": overlap_seconds})

    @staticmethod
    def push_artifact(name: str, version: str, size: int | None) -> Request:
        """The PUT without its body, which the client streams."""
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

    @staticmethod
    def rollout_action(
        application: str, action: str, to_revision: int | None, wave: int | str | None
    ) -> Request:
        body: dict[str, Any] = {"action": action}
        if to_revision is not None:
            body["toRevision"] = to_revision
        if wave is not None:
            body["wave"] = wave
        return Request("POST", f"{API}/applications/{segment(application)}/rollout", body=body)

    @staticmethod
    def revisions(application: str, template: bool) -> Request:
        params = {"template": "true"} if template else None
        return Request("GET", f"{API}/applications/{segment(application)}/revisions", params)


def _name_of(obj: Mapping[str, object]) -> str:
    metadata = obj.get("metadata")
    name = metadata.get("name") if isinstance(metadata, Mapping) else None
    if name is None:
        raise ValueError("the object has no metadata.name: name it before writing it")
    return str(name)
