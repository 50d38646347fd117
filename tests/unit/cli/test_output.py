"""Tables of ``get`` (``edgeplane.cli.output``): the status fields of sites,
applications and assignments, and the site and class of devices, as the columns show
them."""

from __future__ import annotations

import datetime
import io
from typing import Any

import pytest
from rich.console import Console

from edgeplane.api.kinds import kind_info
from edgeplane.api.wire import Meta, Object
from edgeplane.cli.output import human_bytes, since, table


def ago(seconds: int) -> str:
    then = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=seconds)
    return then.isoformat().replace("+00:00", "Z")


def lines(kind: str, obj: Object, wide: bool = False) -> list[str]:
    """The table of one object as printed: a header and a row."""
    console = Console(width=400, file=io.StringIO())
    console.print(table(kind_info(kind), [obj], wide))
    assert isinstance(console.file, io.StringIO)
    return console.file.getvalue().splitlines()


def rendered(kind: str, obj: Object, wide: bool = False) -> dict[str, str]:
    """The table of one object as {column: cell} (cells without spaces)."""
    header, row = lines(kind, obj, wide)
    return dict(zip(header.split(), row.split(), strict=True))


def meta(name: str, **labels: str) -> Meta:
    return {"name": name, "labels": labels, "creationTimestamp": ago(7200)}


def site() -> Object:
    """Made when a test runs: its times are relative to now."""
    return {
        "metadata": meta("shop-1", region="eu-west"),
        "spec": {},
        "status": {
            "phase": "Online",
            "lastHeartbeat": ago(300),
            "address": "10.0.0.7",
            "inventory": {"runtime": "process"},
            "capacity": {"cpu": "8", "memory": "16Gi"},
            "allocatable": {"cpu": "7500m", "memory": "12582912Ki"},
            "workloads": {"assigned": 3, "running": 3, "ready": 2},
        },
    }


def test_site_columns_show_heartbeat_room_and_workloads() -> None:
    assert rendered("sites", site()) == {
        "NAME": "shop-1",
        "PHASE": "Online",
        "HEARTBEAT": "5m",
        "CPU": "7.5/8",
        "MEMORY": "12Gi/16Gi",
        "WORKLOADS": "2/3",
        "AGE": "2h",
    }


def test_wide_site_adds_region_runtime_and_address() -> None:
    cells = rendered("sites", site(), wide=True)
    assert (cells["REGION"], cells["RUNTIME"], cells["ADDRESS"]) == (
        "eu-west",
        "process",
        "10.0.0.7",
    )


@pytest.mark.parametrize(
    ("spec", "inventory", "shown"),
    [
        ({"runtimes": ["process", "kubernetes"]}, {"runtime": "process"}, "process,kubernetes"),
        (
            {},
            {"runtime": "kubernetes", "runtimes": ["kubernetes", "process"]},
            "kubernetes,process",
        ),
        ({}, {}, "-"),
    ],
    ids=["declared-both", "reported-both", "unknown"],
)
def test_wide_site_shows_every_runtime(
    spec: dict[str, Any], inventory: dict[str, Any], shown: str
) -> None:
    obj: Object = {"metadata": meta("box"), "spec": spec, "status": {"inventory": inventory}}
    assert rendered("sites", obj, wide=True)["RUNTIME"] == shown


def test_a_site_that_never_reported_shows_dashes() -> None:
    cells = rendered("sites", {"metadata": meta("new"), "spec": {"runtime": "kubernetes"}})
    assert [cells[c] for c in ("PHASE", "HEARTBEAT", "CPU", "MEMORY", "WORKLOADS")] == ["-"] * 5
    assert (
        rendered("sites", {"metadata": meta("new"), "spec": {"runtime": "kubernetes"}}, True)[
            "RUNTIME"
        ]
        == "kubernetes"
    )


def application(sites: list[str], **status: Any) -> Object:
    return {
        "metadata": meta("web"),
        "spec": {"placement": {"mode": "Replicas", "replicas": len(sites)}},
        "status": {"sites": sites, "replicas": len(sites), **status},
    }


@pytest.mark.parametrize(
    ("sites", "shown"),
    [
        ([], "-"),
        (["dublin", "cork"], "dublin,cork"),
        ([f"store-{i:04d}" for i in range(10)], "store-0000,store-0001,store-0002,+7"),
        (["a-very-long-site-name-that-fills-the-cell-alone-and-more", "b"], None),
    ],
    ids=["nowhere", "two", "many-truncated", "one-long-name"],
)
def test_app_sites_are_truncated_with_a_count(sites: list[str], shown: str | None) -> None:
    cells = rendered("apps", application(sites, ready=1))
    assert cells["SITES"] == (shown or f"{sites[0]},+1")
    assert cells["READY"] == f"1/{len(sites)}"


def test_wide_app_adds_unplaced_and_message() -> None:
    obj = application(["dublin"], ready=0, unplaced=2, message="2 site(s) lacked memory")
    header, row = lines("apps", obj, wide=True)
    assert header.split() == [
        "NAME",
        "MODE",
        "READY",
        "SITES",
        "UNPLACED",
        "MESSAGE",
        "LABELS",
        "AGE",
    ]
    assert "2 site(s) lacked memory" in row


def test_assignment_columns_show_phase_ready_restarts_endpoint() -> None:
    obj: Object = {
        "metadata": meta("web.shop-1"),
        "spec": {"application": "web", "site": "shop-1", "revision": 3},
        "status": {
            "phase": "CrashLoopBackOff",
            "ready": 0,
            "restarts": 4,
            "endpoints": [{"name": "http", "port": 41234, "url": "http://127.0.0.1:41234"}],
        },
    }
    assert rendered("asg", obj) == {
        "NAME": "web.shop-1",
        "APPLICATION": "web",
        "SITE": "shop-1",
        "PHASE": "CrashLoopBackOff",
        "READY": "0",
        "RESTARTS": "4",
        "ENDPOINT": "http://127.0.0.1:41234",
        "AGE": "2h",
    }


def camera(**status: str) -> Object:
    return {
        "metadata": meta("store-0042-cam-1", **{"class": "camera", "vendor": "axis"}),
        "spec": {"site": "store-0042", "protocol": "onvif", "address": "10.0.0.7:80"},
        "status": status,
    }


def test_device_columns_show_site_class_protocol_phase() -> None:
    assert rendered("devices", camera(phase="Available")) == {
        "NAME": "store-0042-cam-1",
        "SITE": "store-0042",
        "CLASS": "camera",
        "PROTOCOL": "onvif",
        "PHASE": "Available",
        "AGE": "2h",
    }


def test_a_device_without_class_protocol_or_status_shows_dashes() -> None:
    cells = rendered("dev", {"metadata": meta("plc-1"), "spec": {"site": "store-0042"}})
    assert [cells[c] for c in ("SITE", "CLASS", "PROTOCOL", "PHASE")] == ["store-0042"] + ["-"] * 3


def test_wide_device_adds_address_last_seen_and_message() -> None:
    header, row = lines("devices", camera(phase="Unavailable", lastSeen=ago(600)), wide=True)
    assert header.split() == [
        "NAME",
        "SITE",
        "CLASS",
        "PROTOCOL",
        "PHASE",
        "ADDRESS",
        "LAST-SEEN",
        "MESSAGE",
        "LABELS",
        "AGE",
    ]
    assert row.split()[5:9] == ["10.0.0.7:80", "10m", "-", "class=camera,vendor=axis"]


@pytest.mark.parametrize(
    ("stamp", "shown"),
    [(None, "-"), ("not a time", "-"), (5, "5s"), (180, "3m"), (-30, "0s")],
    ids=["none", "garbage", "seconds", "minutes", "clock-skew"],
)
def test_since(stamp: str | int | None, shown: str) -> None:
    # Seconds ago are turned into a time here, not at collection: the suite may run
    # long after it was collected.
    assert since(ago(stamp) if isinstance(stamp, int) else stamp) == shown


@pytest.mark.parametrize(
    ("size", "shown"),
    [(900, "900"), (1536, "1.5Ki"), (16 * 1024**3, "16Gi")],
    ids=["bytes", "fraction", "gibibytes"],
)
def test_human_bytes(size: int, shown: str) -> None:
    assert human_bytes(size) == shown
