"""Discovered devices at the hub, on memory, SQLite and PostgreSQL: a site gets the
profiles that select it, writes Device objects of its own only, one per device however
often it reports, marks what it no longer reports Unavailable, and bad reports change
nothing of anyone else's."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from edgeplane.hub.devices import device_name
from tests.conftest import AnyStore
from tests.integration.hub.siteaccess import API, admin_client, app_of, as_site, joined
from tests.support.waiting import wait_until_async


def profile(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "edgeplane.io/v1alpha1",
        "kind": "DiscoveryProfile",
        "metadata": {"name": name},
        "spec": spec,
    }


def found(key: str, available: bool = True, **labels: str) -> dict[str, Any]:
    return {
        "key": key,
        "protocol": "modbus",
        "address": f"modbus://10.0.0.5:502?unit={key[-1]}",
        "labels": {"class": "plc", **labels},
        "attributes": {"vendor": "Acme Corp."},
        "available": available,
        "lastSeen": "2026-12-02T10:00:00Z",
    }


@pytest.fixture
async def hub(store: AnyStore, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """Sites a (floor=1) and b (floor=2); profiles ``plcs`` (floor=1) and ``all``."""
    async with admin_client(store, tmp_path) as client:
        client.headers["X-Site-A"] = await joined(client, "a")
        client.headers["X-Site-B"] = await joined(client, "b")
        for name, labels in (("a", {"floor": "1"}), ("b", {"floor": "2"})):
            patch = {"metadata": {"labels": labels}}
            answer = await client.patch(
                f"{API}/sites/{name}",
                json=patch,
                headers={"Content-Type": "application/merge-patch+json"},
            )
            assert answer.status_code == 200, answer.text
        for obj in (
            profile(
                "plcs",
                siteSelector={"matchLabels": {"floor": "1"}},
                modbus={"hosts": ["10.0.0.0/29"], "unitIds": [1, 2]},
            ),
            profile(
                "all", mdns={"serviceTypes": ["_http._tcp.local."], "interfaces": ["10.0.0.1"]}
            ),
        ):
            created = await client.post(f"{API}/discoveryprofiles", json=obj)
            assert created.status_code == 201, created.text
        informer = app_of(client).state.informer
        stop = asyncio.Event()
        task = asyncio.create_task(informer.run(stop))
        await wait_until_async(lambda: informer.get("DiscoveryProfile", "all"), "the informer")
        await wait_until_async(
            lambda: (informer.get("Site", "b") or {})["metadata"]["labels"].get("floor") == "2",
            "the informer has the labels",
        )
        yield client
        stop.set()
        await task


def site(hub: httpx.AsyncClient, name: str) -> httpx.AsyncClient:
    return as_site(hub, hub.headers[f"X-Site-{name.upper()}"])


async def report(client: httpx.AsyncClient, name: str, devices: Any) -> httpx.Response:
    return await client.post(f"{API}/sites/{name}/devices", json={"devices": devices})


async def devices(hub: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    answer = await hub.get(f"{API}/devices")
    assert answer.status_code == 200, answer.text
    return {d["metadata"]["name"]: d for d in answer.json()["items"]}


async def test_a_site_gets_the_profiles_that_select_it(hub: httpx.AsyncClient) -> None:
    async with site(hub, "a") as a, site(hub, "b") as b:
        for client, name, wanted in ((a, "a", ["all", "plcs"]), (b, "b", ["all"])):
            answer = await client.get(f"{API}/sites/{name}/discoveryprofiles")
            assert answer.status_code == 200, answer.text
            assert [p["name"] for p in answer.json()["profiles"]] == wanted
        assert (await a.get(f"{API}/sites/b/discoveryprofiles")).status_code == 403
        assert (await a.get(f"{API}/discoveryprofiles")).status_code == 403


async def test_reports_make_one_device_each_and_mark_the_missing_unavailable(
    hub: httpx.AsyncClient,
) -> None:
    async with site(hub, "a") as a:
        for _ in range(3):
            answer = await report(a, "a", [found("plc-1", vendor="acme"), found("plc-2")])
            assert answer.status_code == 200, answer.text
            assert answer.json()["refused"] == 0
        held = await devices(hub)
        one, two = device_name("a", "modbus", "plc-1"), device_name("a", "modbus", "plc-2")
        assert set(held) == {one, two}
        device = held[one]
        assert device["spec"]["site"] == "a" and device["status"]["phase"] == "Available"
        assert device["metadata"]["labels"] == {
            "class": "plc",
            "vendor": "acme",
            "edgeplane.io/site": "a",
            "edgeplane.io/discovered": "true",
        }
        answer = await report(a, "a", [found("plc-1", vendor="acme"), found("plc-2", False)])
        assert answer.status_code == 200, answer.text
        assert (await devices(hub))[two]["status"]["phase"] == "Unavailable"
        answer = await report(a, "a", [])
        held = await devices(hub)
        assert held[one]["status"]["phase"] == "Unavailable"
        assert "no longer looks for it" in held[one]["status"]["message"]


async def test_a_site_cannot_write_another_sites_or_an_operators_device(
    hub: httpx.AsyncClient,
) -> None:
    name = device_name("a", "modbus", "cam")
    operator = {
        "apiVersion": "edgeplane.io/v1alpha1",
        "kind": "Device",
        "metadata": {"name": name, "labels": {"class": "camera"}},
        "spec": {"site": "a", "protocol": "manual", "address": "10.0.0.9"},
    }
    assert (await hub.post(f"{API}/devices", json=operator)).status_code == 201
    async with site(hub, "a") as a, site(hub, "b") as b:
        assert (await report(b, "b", [found("plc-1")])).status_code == 200
        assert (await report(a, "b", [found("plc-9")])).status_code == 403
        answer = await report(a, "a", [found("cam")])
        assert answer.status_code == 200, answer.text
        assert answer.json()["refused"] == 1
        assert "did not discover" in answer.json()["refusals"][0]["why"]
        assert (await report(a, "a", [])).status_code == 200
    held = await devices(hub)
    assert held[name]["spec"]["protocol"] == "manual"
    assert "status" not in held[name]
    assert held[device_name("b", "modbus", "plc-1")]["status"]["phase"] == "Available"
    assert device_name("a", "modbus", "plc-1") != device_name("b", "modbus", "plc-1")


@pytest.mark.parametrize(
    ("entry", "why"),
    [
        ({"protocol": "modbus", "address": "x"}, "key"),
        ({**found("k"), "protocol": "telnet"}, "protocol"),
        ({**found("k"), "labels": {"edgeplane.io/site": "b"}}, "edgeplane.io/"),
        ({**found("k"), "labels": {"class": "no spaces"}}, "label"),
        ({**found("k"), "address": ""}, "address"),
        ({**found("k"), "key": "k" * 300}, "key"),
    ],
    ids=["no-key", "unknown-protocol", "reserved-label", "bad-label", "no-address", "long-key"],
)
async def test_a_bad_device_is_refused_alone(
    hub: httpx.AsyncClient, entry: dict[str, Any], why: str
) -> None:
    async with site(hub, "a") as a:
        answer = await report(a, "a", [entry, found("good")])
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["refused"] == 1 and why in str(body["refusals"]), body
    assert set(await devices(hub)) == {device_name("a", "modbus", "good")}


@pytest.mark.parametrize(
    "body",
    [{"devices": "x"}, {"nothing": []}, {"devices": [found(f"d{i}") for i in range(1001)]}],
    ids=["not-a-list", "no-devices", "too-many"],
)
async def test_a_bad_report_changes_nothing(hub: httpx.AsyncClient, body: Any) -> None:
    async with site(hub, "a") as a:
        answer = await a.post(f"{API}/sites/a/devices", json=body)
    assert answer.status_code in (400, 413), answer.text
    assert "devices" in answer.text
    assert await devices(hub) == {}


async def test_what_a_device_says_of_itself_is_not_written_every_report(
    hub: httpx.AsyncClient,
) -> None:
    """An OPC UA node's value changes every scan: written with the lastSeen refresh."""
    async with site(hub, "a") as a:
        first = {**found("plc-1"), "attributes": {"node:temp": "21.5"}}
        assert (await report(a, "a", [first])).json()["written"] == 1
        again = {**found("plc-1"), "attributes": {"node:temp": "21.7"}}
        assert (await report(a, "a", [again])).json() == {
            "written": 0, "unchanged": 1, "refused": 0, "refusals": [],
        }  # fmt: skip
        later = {**again, "lastSeen": "2026-12-02T10:05:00Z"}
        assert (await report(a, "a", [later])).json()["written"] == 2
    [device] = (await devices(hub)).values()
    assert device["spec"]["attributes"] == {"node:temp": "21.7"}


async def test_a_site_holds_a_bounded_number_of_devices(
    hub: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Devices a site stops reporting were only marked Unavailable: a site sending new
    keys every report grew the store for ever. The longest gone now make room."""
    monkeypatch.setattr("edgeplane.hub.devices.DEVICES_PER_SITE_MAX", 3)
    async with site(hub, "a") as a:
        assert (await report(a, "a", [found(f"old-{i}") for i in range(3)])).status_code == 200
        answer = await report(a, "a", [found("new-1"), found("new-2")])
        assert answer.json()["refused"] == 0, answer.text
        names = set(await devices(hub))
        assert {device_name("a", "modbus", k) for k in ("new-1", "new-2")} <= names
        assert len(names) == 3
        for n in range(3):
            answer = await report(a, "a", [found(f"more-{n}-{i}") for i in range(3)])
            assert answer.status_code == 200 and answer.json()["refused"] == 0, answer.text
    assert set(await devices(hub)) == {device_name("a", "modbus", f"more-2-{i}") for i in range(3)}


async def test_device_reports_have_a_rate_of_their_own(hub: httpx.AsyncClient) -> None:
    """Each report may write a thousand devices: a site gets a few at once, then one
    every two seconds, and its other calls are not charged for them."""
    async with site(hub, "a") as a:
        answers = [await report(a, "a", [found("plc-1")]) for _ in range(6)]
        assert [r.status_code for r in answers[:5]] == [200] * 5
        assert answers[5].status_code == 429
        assert "--device-report-rate" in answers[5].text
        assert (await a.get(f"{API}/sites/a/discoveryprofiles")).status_code == 200
