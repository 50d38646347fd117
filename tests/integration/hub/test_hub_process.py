"""A real hub process: watches over HTTP, bookmarks, shutdown, first-start token."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import fresh_database
from tests.support.builders import site
from tests.support.hub import HubProcess, running_hub
from tests.support.waiting import wait_until

API = "/api/v1alpha1"


class Watcher(threading.Thread):
    """Reads a watch stream in the background, recording every event."""

    def __init__(self, hub: HubProcess, query: str) -> None:
        super().__init__(daemon=True)
        self.hub, self.query = hub, query
        self.events: list[dict[str, Any]] = []
        self.error: BaseException | None = None
        self.opened = threading.Event()

    def run(self) -> None:
        try:
            with httpx.stream(
                "GET",
                f"{self.hub.url}{API}/sites?{self.query}",
                headers=self.hub.headers(),
                timeout=httpx.Timeout(10, read=60),
            ) as r:
                assert r.status_code == 200
                self.opened.set()
                for line in r.iter_lines():
                    if line:
                        self.events.append(json.loads(line))
        except BaseException as e:
            self.error = e

    def wait_for(
        self, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float = 15
    ) -> None:
        wait_until(
            lambda: predicate(self.events),
            within=timeout,
            every=0.02,
            seen=lambda: f"events so far: {self.events}",
        )


def test_watch_streams_events_bookmarks_and_ends_on_shutdown(tmp_path: Path) -> None:
    with running_hub(tmp_path / "hub", "--bookmark-seconds", "0.3") as hub:
        httpx.post(
            f"{hub.url}{API}/sites",
            json=site("before", labels={"region": "eu"}),
            headers=hub.headers(),
        ).raise_for_status()
        watcher = Watcher(hub, "watch=true&labelSelector=region%3Deu")
        watcher.start()
        watcher.opened.wait(10)
        watcher.wait_for(lambda ev: any(e["type"] == "ADDED" for e in ev))
        httpx.post(
            f"{hub.url}{API}/sites",
            json=site("other", labels={"region": "us"}),
            headers=hub.headers(),
        ).raise_for_status()
        httpx.patch(
            f"{hub.url}{API}/sites/before",
            content=json.dumps({"metadata": {"labels": {"region": "us"}}}),
            headers={**hub.headers(), "Content-Type": "application/merge-patch+json"},
        ).raise_for_status()
        watcher.wait_for(lambda ev: any(e["type"] == "DELETED" for e in ev))
        watcher.wait_for(lambda ev: ev[-1]["type"] == "BOOKMARK")
        names = [
            (e["type"], e["object"]["metadata"].get("name"))
            for e in watcher.events
            if e["type"] != "BOOKMARK"
        ]
        assert names == [("ADDED", "before"), ("DELETED", "before")]
        bookmark = watcher.events[-1]["object"]["metadata"]["resourceVersion"]
        assert int(bookmark) == 3
        assert hub.stop() == 0
        watcher.join(10)
        assert not watcher.is_alive()
        assert watcher.error is None


def test_watch_resumes_from_a_version(tmp_path: Path) -> None:
    with running_hub(tmp_path / "hub") as hub:
        for i in range(3):
            httpx.post(
                f"{hub.url}{API}/sites", json=site(f"s{i}"), headers=hub.headers()
            ).raise_for_status()
        watcher = Watcher(hub, "watch=true&resourceVersion=1")
        watcher.start()
        watcher.wait_for(lambda ev: len(ev) >= 2)
        assert [e["object"]["metadata"]["name"] for e in watcher.events[:2]] == ["s1", "s2"]
        hub.stop()
        watcher.join(10)


def test_first_start_creates_token_once(tmp_path: Path) -> None:
    data = tmp_path / "hub"
    with running_hub(data) as hub:
        token = hub.token
        assert (data / "admin.token").stat().st_mode & 0o777 == 0o600
        assert httpx.get(f"{hub.url}{API}/sites", headers=hub.headers()).status_code == 200
    first_log = hub.log.read_text()
    assert token not in first_log  # never printed: it is in admin.token only
    assert "admin.token" in first_log
    with running_hub(data) as again:
        assert again.token == token
        assert httpx.get(f"{again.url}{API}/sites", headers=again.headers()).status_code == 200
    assert token not in again.log.read_text()
    assert token not in (data / "edgeplane.db").read_bytes().decode("latin-1")


@pytest.mark.postgres
def test_hub_on_postgresql(tmp_path: Path, postgres_url: str) -> None:
    url = asyncio.run(fresh_database(postgres_url))
    with running_hub(tmp_path / "hub", database_url=url) as hub:
        created = httpx.post(
            f"{hub.url}{API}/sites", json=site("pg", labels={"region": "eu"}), headers=hub.headers()
        )
        assert created.status_code == 201
        listed = httpx.get(
            f"{hub.url}{API}/sites", params={"labelSelector": "region=eu"}, headers=hub.headers()
        ).json()
        assert [o["metadata"]["name"] for o in listed["items"]] == ["pg"]
