"""Records into a real hub process as a site sends them, for tests of what reads them
back (``edgeplane data``).

A ``Feed`` is a joined site that reported itself Online (as its agent would), an
EverySite Application that only that site matches (so the hub's placement assigns it
there), and a DataStream selecting the application: the site then reaches the stream,
and its batches (``dataplane.wire``) are stored. Everything goes through the API: the
admin's calls through ``HubClient``, the site's with its own credential.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from edgeplane.api.wellknown import assignment_name
from edgeplane.client.errors import ClientError
from edgeplane.client.hub import HubClient
from edgeplane.dataplane import wire
from tests.support.waiting import wait_until

API = "/api/v1alpha1"
EPOCH = "0123456789abcdef"
STREAM_LABEL = "datafeed/stream"
SITE_LABEL = "datafeed/site"
REACH_WITHIN = 60.0
"""Patience for placement, the hub's informer and its reach cache (5 s) to agree."""


@dataclass(frozen=True)
class Feed:
    """Site ``site``, allowed to publish to ``stream``."""

    url: str
    site: str
    stream: str
    credential: str

    def record(self, seq: int, at: float, body: bytes, priority: int = 500) -> wire.Record:
        return wire.Record(seq, self.stream, at, priority, body)

    def send(self, records: list[wire.Record], epoch: str = EPOCH) -> None:
        """Post one batch as the site; every record must be taken (none dropped)."""
        answer = httpx.post(
            f"{self.url}{API}/sites/{self.site}/data",
            content=wire.encode(epoch, records),
            headers=self._headers() | {"Content-Type": wire.CONTENT_TYPE},
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        taken = {"acknowledged": [r.seq for r in records], "dropped": {}}
        assert answer.json() == taken, answer.text

    def reached(self) -> list[str]:
        """The streams the hub lets the site publish to, as its agent asks for them."""
        answer = httpx.get(
            f"{self.url}{API}/sites/{self.site}/datastreams", headers=self._headers(), timeout=30
        )
        assert answer.status_code == 200, answer.text
        return [str(s["name"]) for s in answer.json()["streams"]]

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.credential}"}


def open_feeds(client: HubClient, stream: str, *sites: str) -> list[Feed]:
    """Join ``sites`` and let each publish to ``stream`` (made unless it exists);
    returns once the hub lets them."""
    feeds = [Feed(client.server, s, stream, joined(client, s, {SITE_LABEL: s})) for s in sites]
    try:
        client.create("datastreams", datastream(stream))
    except ClientError as e:
        if e.status != 409:  # an earlier feed of the stream made it
            raise
    names = {site: assignment_name(f"{stream}-{site}", site) for site in sites}
    for site in sites:
        client.create("applications", publisher(f"{stream}-{site}", site, stream))
    for site, name in names.items():
        # Placement first: a site asking before it is assigned there would find its
        # reach cached without the stream for a while (hub.datareach.REACH_SECONDS).
        wait_until(
            lambda name=name: _exists(client, "assignments", name),
            f"placement to assign {name} at {site}",
            REACH_WITHIN,
        )
    for feed in feeds:
        wait_until(
            lambda feed=feed: stream in feed.reached(),
            f"site {feed.site} to reach stream {stream}",
            REACH_WITHIN,
            every=0.2,
        )
    return feeds


def _exists(client: HubClient, plural: str, name: str) -> bool:
    try:
        client.get(plural, name)
    except ClientError as e:
        if e.status == 404:
            return False
        raise
    return True


def joined(client: HubClient, site: str, labels: dict[str, str]) -> str:
    """Join ``site`` with a join token and report it Online, as an agent does (placement
    gives a Pending site nothing); its credential."""
    token = client.create_join_token(labels, 600)["token"]
    body = {"token": token, "site": site, "inventory": {"runtime": "process"}}
    answer = httpx.post(f"{client.server}{API}/join", json=body, timeout=30)
    assert answer.status_code == 201, answer.text
    credential = str(answer.json()["credential"])
    online = httpx.patch(
        f"{client.server}{API}/sites/{site}/status",
        json={"status": {"phase": "Online"}},
        headers={
            "Authorization": f"Bearer {credential}",
            "Content-Type": "application/merge-patch+json",
        },
        timeout=30,
    )
    assert online.status_code == 200, online.text
    return credential


def datastream(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "edgeplane.io/v1alpha1",
        "kind": "DataStream",
        "metadata": {"name": name},
        "spec": {"selector": {"matchLabels": {STREAM_LABEL: name}}},
    }


def publisher(name: str, site: str, stream: str) -> dict[str, Any]:
    """An application that runs only at ``site`` (EverySite: it stays there should the
    site go Offline, no heartbeats being sent) and may publish to ``stream``."""
    return {
        "apiVersion": "edgeplane.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": name, "labels": {STREAM_LABEL: stream}},
        "spec": {
            "workload": {"process": {"command": "true"}},
            "placement": {"mode": "EverySite", "selector": {"matchLabels": {SITE_LABEL: site}}},
        },
    }
