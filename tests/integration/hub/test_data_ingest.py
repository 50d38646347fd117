"""Data home at the hub, on memory, SQLite and PostgreSQL: a site's record batches are
stored once however often they are sent, only into streams the site reaches, bad
batches change nothing, and records read back by stream, site, time and page."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from edgeplane.api.wellknown import assignment_name
from edgeplane.dataplane import wire
from tests.conftest import AnyStore
from tests.integration.hub.siteaccess import API, admin_client, app_of, as_site, joined, state
from tests.support.waiting import wait_until_async

EPOCH = "0123456789abcdef"


def stream(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "edgeplane.io/v1alpha1",
        "kind": "DataStream",
        "metadata": {"name": name},
        "spec": spec,
    }


def application(name: str, **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "edgeplane.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "workload": {"process": {"command": "true"}},
            "placement": {"mode": "Replicas", "replicas": 1},
        },
    }


def assignment(app: str, site: str) -> dict[str, Any]:
    return {
        "apiVersion": "edgeplane.io/v1alpha1",
        "kind": "Assignment",
        "metadata": {
            "name": assignment_name(app, site),
            "labels": {"edgeplane.io/site": site, "edgeplane.io/application": app},
        },
        "spec": {
            "application": app,
            "revision": 1,
            "site": site,
            "workload": {"process": {"command": "true"}},
        },
    }


@pytest.fixture
async def hub(store: AnyStore, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """Sites a and b; application ``fridge`` (team=cold) assigned at a; streams
    ``temps`` (team=cold) and ``doors`` (team=hot); the hub's informer running."""
    async with admin_client(store, tmp_path) as client:
        client.headers["X-Site-A"] = await joined(client, "a")
        client.headers["X-Site-B"] = await joined(client, "b")
        for obj, plural in [
            (application("fridge", team="cold"), "applications"),
            (assignment("fridge", "a"), "assignments"),
            (
                stream("temps", selector={"matchLabels": {"team": "cold"}}, priority="high"),
                "datastreams",
            ),
            (stream("doors", selector={"matchLabels": {"team": "hot"}}), "datastreams"),
        ]:
            created = await client.post(f"{API}/{plural}", json=obj)
            assert created.status_code == 201, created.text
        state = app_of(client).state
        stop = asyncio.Event()
        task = asyncio.create_task(state.informer.run(stop))
        reaching = asyncio.create_task(state.data_reach.run(stop))
        await wait_until_async(lambda: state.informer.get("DataStream", "doors"), "the informer")
        yield client
        stop.set()
        await task
        reaching.cancel()


def site(hub: httpx.AsyncClient, name: str) -> httpx.AsyncClient:
    return as_site(hub, hub.headers[f"X-Site-{name.upper()}"])


def batch(stream_name: str, seqs: range, epoch: str = EPOCH) -> bytes:
    return wire.encode(
        epoch, [wire.Record(s, stream_name, 1000.0 + s, 750, b'{"c":%d}' % s) for s in seqs]
    )


async def post(client: httpx.AsyncClient, site_name: str, payload: bytes) -> httpx.Response:
    headers = {"Content-Type": wire.CONTENT_TYPE}
    return await client.post(f"{API}/sites/{site_name}/data", content=payload, headers=headers)


async def stored(hub: httpx.AsyncClient, name: str, **query: Any) -> list[dict[str, Any]]:
    answer = await hub.get(f"{API}/datastreams/{name}/records", params={"limit": 1000, **query})
    assert answer.status_code == 200, answer.text
    return list(answer.json()["items"])


async def test_a_batch_sent_twice_is_stored_once_and_acknowledged_both_times(
    hub: httpx.AsyncClient,
) -> None:
    async with site(hub, "a") as a:
        for _ in range(2):
            answer = await post(a, "a", batch("temps", range(1, 51)))
            assert answer.status_code == 200, answer.text
            assert answer.json() == {"acknowledged": list(range(1, 51)), "dropped": {}}
        await post(a, "a", batch("temps", range(40, 61)))
    records = await stored(hub, "temps")
    assert [(r["site"], r["seq"]) for r in records] == [("a", s) for s in range(1, 61)]
    assert records[0]["body"] == '{"c":1}' and records[0]["priority"] == 750
    metrics = (await hub.get("/metrics")).text
    assert 'edgeplane_data_records_total{outcome="duplicate",stream="temps"} 61.0' in metrics


async def test_streams_a_site_does_not_reach_are_acknowledged_and_dropped(
    hub: httpx.AsyncClient,
) -> None:
    async with site(hub, "a") as a, site(hub, "b") as b:
        mixed = wire.encode(
            EPOCH,
            [
                wire.Record(1, "temps", 1.0, 750, b"kept"),
                wire.Record(2, "doors", 1.0, 500, b"not ours"),
                wire.Record(3, "ghost", 1.0, 500, b"no such stream"),
            ],
        )
        answer = await post(a, "a", mixed)
        assert answer.json() == {
            "acknowledged": [1, 2, 3],
            "dropped": {"not-allowed": 1, "unknown-stream": 1},
        }
        # b runs nothing that publishes to temps: nothing of it is stored
        assert (await post(b, "b", batch("temps", range(1, 4)))).json()["dropped"] == {
            "not-allowed": 3
        }
    assert [r["body"] for r in await stored(hub, "temps")] == ["kept"]
    assert await stored(hub, "doors") == []


async def test_records_published_before_a_failover_still_come_home(
    hub: httpx.AsyncClient,
) -> None:
    """The site was cut off, declared lost, and its assignment moved away; what its
    workload published meanwhile arrives after the link returns, and is stored."""
    deleted = await hub.delete(f"{API}/assignments/{assignment_name('fridge', 'a')}")
    assert deleted.status_code == 200, deleted.text
    informer = app_of(hub).state.informer
    await wait_until_async(
        lambda: informer.get("Assignment", assignment_name("fridge", "a")) is None, "the delete"
    )
    async with site(hub, "a") as a, site(hub, "b") as b:
        answer = await post(a, "a", batch("temps", range(1, 11)))
        assert answer.json() == {"acknowledged": list(range(1, 11)), "dropped": {}}
        # b never ran fridge: it still reaches nothing
        assert (await post(b, "b", batch("temps", range(1, 4)))).json()["dropped"] == {
            "not-allowed": 3
        }
    assert [(r["site"], r["seq"]) for r in await stored(hub, "temps")] == [
        ("a", s) for s in range(1, 11)
    ]


async def test_a_site_posts_only_its_own_data_and_bad_batches_change_nothing(
    hub: httpx.AsyncClient, store: AnyStore
) -> None:
    async with site(hub, "a") as a:
        assert (await post(a, "b", batch("temps", range(1, 3)))).status_code == 403
        bad = await post(a, "a", b"\x78\x9c garbage")
        assert bad.status_code == 400 and bad.json()["field"] == "body"
        assert "not zlib data" in bad.json()["message"]
    assert await stored(hub, "temps") == []


async def test_the_agent_learns_the_streams_its_site_reaches_and_its_budget(
    hub: httpx.AsyncClient,
) -> None:
    patch = {"spec": {"uplink": {"bandwidthBytesPerSecond": 125000, "burstBytes": 250000}}}
    changed = await hub.patch(
        f"{API}/sites/a", json=patch, headers={"Content-Type": "application/merge-patch+json"}
    )
    assert changed.status_code == 200, changed.text
    informer = app_of(hub).state.informer
    await wait_until_async(
        lambda: (informer.get("Site", "a") or {}).get("spec", {}).get("uplink"), "the budget"
    )
    async with site(hub, "a") as a, site(hub, "b") as b:
        answer = (await a.get(f"{API}/sites/a/datastreams")).json()
        assert answer["uplink"] == {"bandwidthBytesPerSecond": 125000, "burstBytes": 250000}
        assert answer["streams"] == [
            {
                "name": "temps",
                "priority": 750,
                "retention": {},
                "aggregation": None,
                "mqtt": None,
                "applications": ["fridge"],
            }
        ]
        assert (await b.get(f"{API}/sites/b/datastreams")).json()["streams"] == []
        assert (await a.get(f"{API}/sites/b/datastreams")).status_code == 403


async def test_records_read_back_by_site_time_and_page(hub: httpx.AsyncClient) -> None:
    async with site(hub, "a") as a:
        await post(a, "a", batch("temps", range(1, 21)))
        await post(a, "a", batch("temps", range(1, 6), epoch="fedcba9876543210"))
    assert len(await stored(hub, "temps")) == 25
    window = await stored(hub, "temps", since=1005.0, until=1008.0)
    assert sorted(r["seq"] for r in window) == [5, 5, 6, 7]  # seq 5 of either epoch
    first = await hub.get(f"{API}/datastreams/temps/records", params={"limit": 10})
    page = first.json()
    rest = await stored(hub, "temps", after=page["next"])
    assert len(page["items"]) == 10 and len(rest) == 15
    assert (await hub.get(f"{API}/datastreams/nope/records")).status_code == 404
    assert (
        await hub.get(f"{API}/datastreams/temps/records", params={"limit": 0})
    ).status_code == 422


async def test_a_stream_whose_sink_the_hub_has_not_got_is_refused(
    hub: httpx.AsyncClient, store: AnyStore
) -> None:
    before = await state(store)
    refused = await hub.post(f"{API}/datastreams", json=stream("events", sink={"type": "nats"}))
    assert refused.status_code == 422
    assert refused.json()["field"] == "spec.sink.type"
    assert "--nats-url" in refused.json()["message"]
    assert await state(store) == before


async def test_before_the_informer_has_listed_sites_are_told_to_come_back(
    store: AnyStore, tmp_path: Path
) -> None:
    # Not knowing its streams yet, the hub would acknowledge and drop every record.
    async with admin_client(store, tmp_path) as client:
        credential = await joined(client, "early")
        async with as_site(client, credential) as early:
            answer = await post(early, "early", batch("temps", range(1, 3)))
            assert answer.status_code == 503 and "starting" in answer.json()["message"]
            assert (await early.get(f"{API}/sites/early/datastreams")).status_code == 503
