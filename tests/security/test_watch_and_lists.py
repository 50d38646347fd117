"""Watches and lists (issue 9, class 7, and class 1's narrowing), on a real hub.

* A watch or a list from a resourceVersion the store has not reached (a hub restored
  from a backup) is answered as Kubernetes does, 504 "Too large resource version",
  instead of a watch that silently waits past every event until the counter catches up.
* resourceVersion and limit are ASCII digits, bounded: unicode digits and 5,000 digits
  are a 400 naming the field, never a 500.
* ``continue`` tokens are signed by the store: a forged or tampered one is a 400, one
  from a list of another kind too.
* A site's narrowing is a Requirement object: a credential whose subject is "victim\\n"
  (as an older hub minted) sees nothing of the site "victim".
* A real agent whose hub is restored from an older backup lists again and runs what
  was assigned after the restore (its watch from the future used to miss it).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import json
import shutil
import sqlite3
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, cast

import httpx
import pytest

from edgeplane.api.kinds import by_plural
from edgeplane.api.selectors import Selector
from edgeplane.api.wire import Object
from edgeplane.hub.auth import mint
from edgeplane.hub.authz import narrowed, site_requirement
from edgeplane.hub.watch import WatchRequest, stream
from edgeplane.store.factory import open_store, sqlite_url
from tests.support.fleet import Fleet, wait_for
from tests.support.hub import HubProcess, running_hub

API = "/api/v1alpha1"


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubProcess]:
    """One real hub for the module (each check leaves the store usable for the next),
    sending watch bookmarks every 0.3 s so a quiet watch shows itself soon."""
    data = tmp_path_factory.mktemp("watch-and-lists") / "hub"
    data.mkdir()
    with running_hub(data, "--bookmark-seconds", "0.3") as process:
        yield process


def _client(hub: HubProcess, headers: dict[str, str] | None = None) -> httpx.Client:
    return httpx.Client(base_url=hub.url, headers=headers or hub.headers(), timeout=10)


def _site(name: str, **labels: str) -> dict[str, Any]:
    metadata = {"name": name, "labels": labels}
    return {"apiVersion": "edgeplane.io/v1alpha1", "kind": "Site", "metadata": metadata}


def _assignment(name: str, site: str) -> dict[str, Any]:
    """An Assignment written straight by the admin (placement would name it the same way)."""
    return {
        "apiVersion": "edgeplane.io/v1alpha1",
        "kind": "Assignment",
        "metadata": {
            "name": name,
            "labels": {"edgeplane.io/site": site, "edgeplane.io/application": "web"},
        },
        "spec": {
            "application": "web",
            "revision": 1,
            "site": site,
            "workload": {
                "process": {"command": "python3", "env": [{"name": "SECRET", "value": "s3cr3t"}]}
            },
        },
    }


def _current_rv(client: httpx.Client) -> int:
    answer = client.get(f"{API}/sites")
    assert answer.status_code == 200, answer.text
    return int(answer.json()["metadata"]["resourceVersion"])


def _error(answer: httpx.Response, status: int, field: str) -> dict[str, Any]:
    assert answer.status_code == status, f"{answer.status_code} {answer.text[:300]}"
    body: dict[str, Any] = answer.json()
    assert body["field"] == field, body
    return body


def test_a_watch_from_a_future_version_is_refused_like_kubernetes(hub: HubProcess) -> None:
    with _client(hub) as client:
        future = _current_rv(client) + 1000
        params = {"watch": "true", "resourceVersion": str(future)}
        timeout = httpx.Timeout(10, read=5)
        with client.stream("GET", f"{API}/assignments", params=params, timeout=timeout) as answer:
            answer.read()
            body = _error(answer, 504, "resourceVersion")
    assert body["reason"] == "TooLargeResourceVersion"
    assert "Too large resource version" in body["message"]
    assert "list again" in body["message"]


def test_a_list_from_a_future_version_is_refused_like_kubernetes(hub: HubProcess) -> None:
    with _client(hub) as client:
        future = _current_rv(client) + 1000
        answer = client.get(f"{API}/sites", params={"resourceVersion": str(future)})
        body = _error(answer, 504, "resourceVersion")
        assert body["reason"] == "TooLargeResourceVersion"
        # A version the store has reached is served (as "not older than" it).
        now = client.get(f"{API}/sites", params={"resourceVersion": str(_current_rv(client))})
        assert now.status_code == 200, now.text


HOSTILE_NUMBERS = ["\u0661\u0662", "\u00b2", "1" * 5000, "12\n", " 12", "-1", "0x10", "1e3"]


@pytest.mark.parametrize("value", HOSTILE_NUMBERS, ids=lambda v: repr(v[:8]))
@pytest.mark.parametrize("watch", [False, True], ids=["list", "watch"])
def test_hostile_resource_versions_are_a_400(hub: HubProcess, value: str, watch: bool) -> None:
    params = {"resourceVersion": value, **({"watch": "true"} if watch else {})}
    with _client(hub) as client:
        timeout = httpx.Timeout(10, read=5)
        with client.stream("GET", f"{API}/sites", params=params, timeout=timeout) as answer:
            answer.read()
            body = _error(answer, 400, "resourceVersion")
    assert "ASCII digits" in body["message"]


def test_hostile_resource_versions_of_a_delete_are_a_400(hub: HubProcess) -> None:
    """DELETE took any text as its precondition: a 409 "stale" echoing 5,000 digits."""
    with _client(hub) as client:
        created = client.post(f"{API}/sites", json=_site("delete-rv"))
        assert created.status_code == 201, created.text
        for value in HOSTILE_NUMBERS:
            answer = client.delete(f"{API}/sites/delete-rv", params={"resourceVersion": value})
            body = _error(answer, 400, "resourceVersion")
            assert "ASCII digits" in body["message"] and "1" * 100 not in body["message"]
        assert client.get(f"{API}/sites/delete-rv").status_code == 200
        current = created.json()["metadata"]["resourceVersion"]
        deleted = client.delete(f"{API}/sites/delete-rv", params={"resourceVersion": current})
        assert deleted.status_code == 200, deleted.text


@pytest.mark.parametrize("value", [*HOSTILE_NUMBERS, "0", "1001"], ids=lambda v: repr(v[:8]))
def test_hostile_limits_are_a_400(hub: HubProcess, value: str) -> None:
    with _client(hub) as client:
        body = _error(client.get(f"{API}/sites", params={"limit": value}), 400, "limit")
    assert "from 1 to 1000" in body["message"]


def _b64(raw: Any) -> str:
    data = raw if isinstance(raw, bytes) else json.dumps(raw).encode()
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


PAGED = {"labelSelector": "paged=yes", "limit": "1"}


def _pages(client: httpx.Client, plural: str) -> str:
    answer = client.get(f"{API}/{plural}", params=PAGED)
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["metadata"]["continue"]
    return token


def test_continue_tokens_cannot_be_forged(hub: HubProcess) -> None:
    with _client(hub) as client:
        for name in ("paged-a", "paged-b", "paged-c"):
            answer = client.post(f"{API}/sites", json=_site(name, paged="yes"))
            assert answer.status_code == 201, answer.text
        real = _pages(client, "sites")
        payload, _, mac = real.partition(".")
        forged = [
            _b64({"after": "", "rv": 1}),  # the unsigned form an earlier hub issued
            _b64({"k": "Site", "after": "", "rv": 1}) + "." + mac,  # another version
            _b64({"k": "Site", "after": "", "rv": 10**40}) + "." + mac,
            payload + "." + _b64(b"\0" * 16),  # zeroed signature
            "x" * 5000,
        ]
        for token in forged:
            answer = client.get(f"{API}/sites", params={**PAGED, "continue": token})
            body = _error(answer, 400, "continue")
            assert "continue" in body["message"], body
        # A real token still pages on; the same token on another kind is refused.
        follow = client.get(f"{API}/sites", params={**PAGED, "continue": real})
        assert follow.status_code == 200, follow.text
        assert follow.json()["items"][0]["metadata"]["name"] == "paged-b"
        other = client.get(f"{API}/applications", params={"continue": real})
        assert "belongs to a list of Site" in _error(other, 400, "continue")["message"]


def _site_credential(hub: HubProcess, subject: str) -> str:
    """A site credential for ``subject`` put straight in the store, as a hub before the
    strict name checks could have minted it at a join."""
    token, record = mint(subject, "site")
    with sqlite3.connect(hub.data_dir / "edgeplane.db", timeout=30) as db:
        db.execute(
            "INSERT INTO tokens (token_id, secret_hash, subject, role, created_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (record.token_id, record.secret_hash, subject, "site", record.created_at),
        )
    return token


def test_a_site_narrowing_is_never_reparsed(hub: HubProcess) -> None:
    with _client(hub) as admin:
        for name in ("victim", "mallory"):
            assert admin.post(f"{API}/sites", json=_site(name)).status_code == 201
        for app_site in ("victim", "mallory"):
            created = admin.post(
                f"{API}/assignments", json=_assignment(f"web.{app_site}", app_site)
            )
            assert created.status_code == 201, created.text
    credential = _site_credential(hub, "victim\n")
    with _client(hub, {"Authorization": f"Bearer {credential}"}) as site:
        for selector in (None, "edgeplane.io/site=victim", "edgeplane.io/site in (victim,x)"):
            params = {"labelSelector": selector} if selector else {}
            answer = site.get(f"{API}/assignments", params=params)
            assert answer.status_code == 200, answer.text
            assert answer.json()["items"] == [], f"saw another site's assignments: {selector}"
        params = {"watch": "true", "resourceVersion": "0"}
        timeout = httpx.Timeout(10, read=5)
        with site.stream("GET", f"{API}/assignments", params=params, timeout=timeout) as stream:
            assert stream.status_code == 200
            lines = []
            for line in stream.iter_lines():
                lines.append(json.loads(line))
                if lines[-1]["type"] == "BOOKMARK":
                    break
        assert [e["type"] for e in lines] == ["BOOKMARK"], f"the watch showed: {lines}"


async def test_an_assignment_moved_to_another_site_leaves_the_old_one_without_its_content(
    tmp_path: Path,
) -> None:
    """An object that stops matching a watch is sent as DELETED: it used to be sent as
    it is now, so a site watching its assignments got one moved to another site whole,
    with that site's env secrets. Now only its name, uid and resourceVersion.

    The hub's watch over a real SQLite store, narrowed as a site's credential narrows
    it, without the controllers: a running hub's placement deletes an Assignment of no
    Application within a pass, so a test through it raced placement (and lost once)."""
    store = open_store(sqlite_url(tmp_path), poll_interval=0.05)
    await store.open()
    shutdown = asyncio.Event()
    try:
        created = await store.create(cast(Object, _assignment("web.moving", "mover-a")))
        selector = narrowed(Selector(()), site_requirement("mover-a"))
        watch = WatchRequest(by_plural("assignments"), selector, None, 0.3)
        async with contextlib.aclosing(stream(store, watch, shutdown)) as lines:
            first = json.loads(await anext(lines))
            assert (first["type"], first["object"]["metadata"]["name"]) == (
                "ADDED",
                "web.moving",
            )
            moved = copy.deepcopy(created)
            moved["metadata"]["labels"]["edgeplane.io/site"] = "mover-b"
            moved["spec"]["site"] = "mover-b"
            moved["spec"]["workload"]["process"]["env"] = [{"name": "K", "value": "b-only"}]
            await store.replace(moved)
            async with asyncio.timeout(20):
                events = [json.loads(line) async for line in _until_not_bookmark(lines)]
    finally:
        shutdown.set()
        await store.close()
    event = events[-1]
    assert event["type"] == "DELETED"
    assert event["object"]["metadata"]["name"] == "web.moving"
    assert "b-only" not in json.dumps(event) and "mover-b" not in json.dumps(event)
    assert set(event["object"]["metadata"]) == {"name", "uid", "resourceVersion"}


async def _until_not_bookmark(lines: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    async for line in lines:
        yield line
        if json.loads(line)["type"] != "BOOKMARK":
            return


def _sleeper(name: str) -> dict[str, Any]:
    process = {"command": sys.executable, "args": ["-c", "import time; time.sleep(600)"]}
    return {
        "apiVersion": "edgeplane.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": name},
        "spec": {
            "workload": {"process": process},
            "resources": {"cpu": "10m", "memory": "8Mi"},
            "placement": {"mode": "EverySite"},
        },
    }


def _backup(fleet: Fleet, to: Path) -> None:
    to.mkdir()
    for path in fleet.hub_dir.glob("edgeplane.db*"):
        shutil.copy2(path, to / path.name)


def _restore(fleet: Fleet, backup: Path) -> None:
    for path in fleet.hub_dir.glob("edgeplane.db*"):
        path.unlink()
    for path in backup.iterdir():
        shutil.copy2(path, fleet.hub_dir / path.name)


def test_an_agent_lists_again_after_its_hub_is_restored(fleet: Fleet, tmp_path: Path) -> None:
    fleet.add_agent("shop")
    wait_for(lambda: fleet.site_phase("shop") == "Online", "the agent Online")
    fleet.stop_hub()
    _backup(fleet, tmp_path / "backup")  # the site and its credential, at a low version
    fleet.start_hub()
    for i in range(60):  # the store moves on well past the backup
        group: dict[str, Any] = {"apiVersion": "edgeplane.io/v1alpha1", "kind": "SiteGroup"}
        group |= {"metadata": {"name": f"g{i}"}, "spec": {"selector": {}}}
        fleet.ok("POST", "/sitegroups", group)
    fleet.ok("POST", "/applications", _sleeper("before"))
    wait_for(lambda: fleet.running("before", {"shop"}), "the agent running 'before'")
    fleet.stop_hub()
    _restore(fleet, tmp_path / "backup")
    fleet.start_hub()
    # Written at versions below the agent's: a watch from its stored version skips it.
    fleet.ok("POST", "/applications", _sleeper("after"))
    wait_for(lambda: fleet.running("after", {"shop"}), "the agent running 'after'", 90)
