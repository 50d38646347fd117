"""The Python client (``edgeplane.client``) against a real hub: the calls the CLI,
the simulator and the agents rely on."""

from __future__ import annotations

import contextlib
import itertools
from typing import Any

import pytest

from edgeplane.client.errors import ClientError
from edgeplane.client.hub import AsyncHubClient, HubClient
from tests.support.hub import HubProcess


def site(name: str, **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "edgeplane.io/v1alpha1",
        "kind": "Site",
        "metadata": {"name": name, "labels": labels},
        "spec": {"runtime": "process"},
    }


def test_list_all_follows_pages(client: HubClient) -> None:
    for i in range(7):
        client.create("sites", site(f"s{i}", tier="edge" if i % 2 else "cloud"))
    page = client.list("sites", limit=3)
    assert len(page["items"]) == 3 and page["metadata"].get("continue")
    names = [o["metadata"]["name"] for o in client.list_all("sites")]
    assert names == [f"s{i}" for i in range(7)]
    edge = [o["metadata"]["name"] for o in client.list_all("sites", "tier=edge")]
    assert edge == ["s1", "s3", "s5"]


def test_merge_patch_and_stale_replace(client: HubClient) -> None:
    created = client.create("sites", site("a", region="eu"))
    patched = client.patch("sites", "a", {"metadata": {"labels": {"region": None, "tier": "edge"}}})
    assert patched["metadata"]["labels"] == {"tier": "edge"}
    with pytest.raises(ClientError) as raised:
        client.replace("sites", created)  # carries the resourceVersion before the patch
    assert (raised.value.status, raised.value.reason) == (409, "Conflict")
    with pytest.raises(ClientError) as duplicate:
        client.create("sites", site("a"))
    assert (duplicate.value.status, duplicate.value.reason) == (409, "AlreadyExists")


def test_status_is_written_apart_from_spec(client: HubClient) -> None:
    client.create("sites", site("a"))
    client.patch_status("sites", "a", {"status": {"phase": "Online"}})
    stored = client.get("sites", "a")
    assert stored["status"]["phase"] == "Online"
    assert stored["metadata"]["generation"] == 1


def test_invalid_object_names_the_field(client: HubClient) -> None:
    with pytest.raises(ClientError) as raised:
        client.create("sites", {**site("a"), "spec": {"runtime": "teleport"}})
    assert (raised.value.status, raised.value.reason, raised.value.field) == (
        422,
        "Invalid",
        "spec.runtime",
    )


def test_watch_from_a_list_sees_every_later_change(client: HubClient) -> None:
    start = client.list("sites")["metadata"]["resourceVersion"]
    client.create("sites", site("a"))
    client.patch("sites", "a", {"metadata": {"labels": {"x": "y"}}})
    client.delete("sites", "a")
    with contextlib.closing(client.watch("sites", start)) as stream:
        events = list(itertools.islice(stream, 3))
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", "a"),
        ("MODIFIED", "a"),
        ("DELETED", "a"),
    ]
    versions = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
    assert versions == sorted(versions) and versions[0] > int(start)


async def test_async_client_does_the_same(hub: HubProcess, client: HubClient) -> None:
    async with AsyncHubClient(hub.url, hub.token) as aclient:
        assert [k["kind"] for k in (await aclient.discovery())["resources"]][:1] == ["Site"]
        start = (await aclient.list("sites"))["metadata"]["resourceVersion"]
        await aclient.create("sites", site("a", tier="edge"))
        await aclient.create("sites", site("b"))
        assert [o["metadata"]["name"] for o in await aclient.list_all("sites", "tier")] == ["a"]
        async with contextlib.aclosing(aclient.watch("sites", start, "tier=edge")) as events:
            first = await anext(events)
        assert (first["type"], first["object"]["metadata"]["name"]) == ("ADDED", "a")
        with pytest.raises(ClientError) as raised:
            await aclient.get("sites", "nowhere")
        assert raised.value.status == 404
