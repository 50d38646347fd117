"""Devices through the hub's API on memory, SQLite and PostgreSQL: created, listed by
label, read, their status written through /status; bad input is 422 with the field
and changes nothing; a site's credential may not touch them (yet)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import AnyStore
from tests.integration.hub.siteaccess import API, MERGE_PATCH, admin_client, as_site, joined, state

DEVICES = f"{API}/devices"


@pytest.fixture
async def hub(store: AnyStore, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with admin_client(store, tmp_path) as client:
        yield client


def device(name: str, site: str = "store-0042", **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "edgeplane.io/v1alpha1",
        "kind": "Device",
        "metadata": {"name": name, "labels": labels},
        "spec": {"site": site, "protocol": "onvif", "address": "10.0.0.7:80"},
    }


async def create(hub: httpx.AsyncClient, obj: dict[str, Any]) -> dict[str, Any]:
    answer = await hub.post(DEVICES, json=obj)
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    return created


async def names(hub: httpx.AsyncClient, selector: str) -> list[str]:
    answer = await hub.get(DEVICES, params={"labelSelector": selector})
    assert answer.status_code == 200, answer.text
    assert answer.json()["kind"] == "DeviceList"
    return [item["metadata"]["name"] for item in answer.json()["items"]]


async def test_create_get_and_list_by_label(hub: httpx.AsyncClient) -> None:
    created = await create(hub, device("store-0042-cam-1", **{"class": "camera", "vendor": "axis"}))
    assert created["metadata"]["generation"] == 1 and created["metadata"]["uid"]
    assert created["spec"] == {"site": "store-0042", "protocol": "onvif", "address": "10.0.0.7:80"}
    await create(hub, device("store-0042-plc-1", **{"class": "plc"}))
    await create(hub, device("store-0043-cam-1", "store-0043", **{"class": "camera"}))

    assert await names(hub, "class=camera") == ["store-0042-cam-1", "store-0043-cam-1"]
    assert await names(hub, "class=camera,vendor=axis") == ["store-0042-cam-1"]
    assert await names(hub, "class notin (camera)") == ["store-0042-plc-1"]
    got = await hub.get(f"{DEVICES}/store-0042-cam-1")
    assert got.status_code == 200 and got.json() == created


async def test_status_is_written_through_status_only(hub: httpx.AsyncClient) -> None:
    obj = device("cam-1", **{"class": "camera"})
    obj["status"] = {"phase": "Available"}
    created = await create(hub, obj)
    assert "status" not in created  # status is written through /status only

    status = {"phase": "Unavailable", "lastSeen": "2026-11-29T03:00:00Z", "message": "no ping"}
    put = await hub.put(f"{DEVICES}/cam-1/status", json={"status": status})
    assert put.status_code == 200, put.text
    assert put.json()["status"] == status
    assert put.json()["metadata"]["generation"] == 1  # a status write is no new spec

    patch = json.dumps({"status": {"phase": "Available", "message": None}})
    patched = await hub.patch(f"{DEVICES}/cam-1/status", content=patch, headers=MERGE_PATCH)
    assert patched.status_code == 200, patched.text
    expected = {"phase": "Available", "lastSeen": "2026-11-29T03:00:00Z"}
    assert (await hub.get(f"{DEVICES}/cam-1")).json()["status"] == expected


async def test_a_spec_change_keeps_status_and_bumps_generation(hub: httpx.AsyncClient) -> None:
    await create(hub, device("cam-1"))
    await hub.put(f"{DEVICES}/cam-1/status", json={"status": {"phase": "Available"}})
    patch = json.dumps({"spec": {"attributes": {"model": "P3245"}}})
    patched = await hub.patch(f"{DEVICES}/cam-1", content=patch, headers=MERGE_PATCH)
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert (body["metadata"]["generation"], body["status"]) == (2, {"phase": "Available"})
    assert body["spec"]["attributes"] == {"model": "P3245"}


def without_site(obj: dict[str, Any]) -> dict[str, Any]:
    del obj["spec"]["site"]
    return obj


def with_spec(obj: dict[str, Any], **spec: Any) -> dict[str, Any]:
    obj["spec"].update(spec)
    return obj


PROTOCOLS = "'mqtt', 'mdns', 'opcua', 'modbus', 'onvif' or 'manual'"

# (id, body, field, words in the message)
BAD: list[tuple[str, dict[str, Any], str, str]] = [
    ("no-site", without_site(device("cam-1")), "spec.site", "name the Site the device is at"),
    ("bad-site", with_spec(device("cam-1"), site="Store 42"), "spec.site", "invalid name"),
    ("bad-protocol", with_spec(device("cam-1"), protocol="zigbee"), "spec.protocol", PROTOCOLS),
    (
        "bad-attribute",
        with_spec(device("cam-1"), attributes={"fw": 3}),
        "spec.attributes[fw]",
        "valid string",
    ),
    ("bad-label", device("cam-1", **{"class": "-x"}), "metadata.labels[class]", "label value"),
]


@pytest.mark.parametrize(("body", "field", "words"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
async def test_bad_input_is_422_naming_the_field_and_changes_nothing(
    hub: httpx.AsyncClient, store: AnyStore, body: dict[str, Any], field: str, words: str
) -> None:
    before = await state(store)
    answer = await hub.post(DEVICES, json=body)
    assert answer.status_code == 422, answer.text
    assert (answer.json()["reason"], answer.json()["field"]) == ("Invalid", field)
    assert words in answer.json()["message"]
    assert 'Device "cam-1" is invalid' in answer.json()["message"]
    assert await state(store) == before


async def test_bad_updates_are_422_and_change_nothing(
    hub: httpx.AsyncClient, store: AnyStore
) -> None:
    created = await create(hub, device("cam-1"))
    before = await state(store)
    spec = json.dumps({"spec": {"site": None}})
    for answer in (
        await hub.put(f"{DEVICES}/cam-1", json=without_site(device("cam-1"))),
        await hub.patch(f"{DEVICES}/cam-1", content=spec, headers=MERGE_PATCH),
        await hub.put(f"{DEVICES}/cam-1/status", json={"status": {"phase": "Online"}}),
    ):
        assert answer.status_code == 422, answer.text
        assert answer.json()["field"] in {"spec.site", "status.phase"}
    assert await state(store) == before
    assert (await hub.get(f"{DEVICES}/cam-1")).json() == created


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", ""), ("POST", ""), ("GET", "/cam-1"), ("PATCH", "/cam-1/status")],
    ids=["list", "create", "get", "status"],
)
async def test_a_site_credential_is_403_on_devices(
    hub: httpx.AsyncClient, store: AnyStore, method: str, path: str
) -> None:
    await create(hub, device("cam-1", site="a"))
    credential = await joined(hub, "a")
    before = await state(store)
    async with as_site(hub, credential) as site:
        answer = await site.request(method, f"{DEVICES}{path}", json=device("cam-2", site="a"))
    assert answer.status_code == 403, answer.text
    assert answer.json()["reason"] == "Forbidden"
    assert await state(store) == before
