"""Data home under faults, with a real hub, a real agent and real brokers: a partition
of two minutes (toxiproxy between the agent and the hub), a disk nearly full (a small
tmpfs under the agent's data dir), and the NATS sink down for a while. Each time,
every record the agent acknowledged arrives at the sink exactly once (counted by its
number), and what could not be taken was refused, never dropped."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest

from tests.integration.dataplane.datahome import (
    TEMPS,
    acknowledged,
    all_arrived_once,
    publisher_app,
)
from tests.integration.faults.conftest import toxiproxy
from tests.support.brokers import Broker
from tests.support.fleet import Fleet, wait_for
from tests.support.toxiproxy import Toxiproxy

__all__ = ["toxiproxy"]  # the fixture, shared with tests/integration/faults
PARTITION_SECONDS = 120.0


def online(fleet: Fleet, site: str) -> None:
    wait_for(lambda: fleet.site_phase(site) == "Online", f"{site} online", 90)


@pytest.mark.slow
@pytest.mark.timeout(420)
def test_a_partition_of_two_minutes_loses_nothing(
    fleet: Fleet, toxiproxy: Toxiproxy, tmp_path: Path
) -> None:
    fleet.ok("POST", "/datastreams", TEMPS)
    link = toxiproxy.proxy("data-partition", f"127.0.0.1:{fleet.port}")
    try:
        fleet.add_agent("store-p", None, hub_url=link.url)
        online(fleet, "store-p")
        ledger, count = tmp_path / "ledger", 6000
        fleet.ok("POST", "/applications", publisher_app("pub", ledger, count))
        wait_for(lambda: len(acknowledged(ledger)) > 300, "publishing under way", 90)
        link.cut()
        cut_at, before = time.time(), len(acknowledged(ledger))
        # The workload keeps publishing into the spool while the site is cut off.
        wait_for(lambda: len(acknowledged(ledger)) > before + 1000, "publishing while cut off", 90)
        wait_for(lambda: time.time() > cut_at + PARTITION_SECONDS, "the partition to last", 200)
        link.heal()
        seen = all_arrived_once(fleet, ledger, count)
        assert set(seen) == set(range(count)) and max(seen.values()) == 1
    finally:
        toxiproxy.remove(link)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 24 MiB tmpfs where the agent of site ``store-d`` keeps its data (root only)."""
    if os.geteuid() != 0:
        if os.environ.get("CI") == "true":
            pytest.fail("the disk-full test mounts a tmpfs: it needs root in CI")
        pytest.skip("mounting a tmpfs needs root")
    mount = tmp_path / "sites" / "store-d"
    mount.mkdir(parents=True)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=24m,mode=0700", "tmpfs", str(mount)], check=True
    )
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path, leave: int) -> None:
    """Take the disk's free space down to ``leave`` bytes with a ballast file."""
    stats = os.statvfs(disk)
    ballast = stats.f_bavail * stats.f_frsize - leave
    with (disk / "ballast").open("wb") as f:
        f.write(b"\0" * ballast)


@pytest.mark.timeout(300)
def test_a_nearly_full_disk_refuses_publishing_and_loses_nothing(
    small_disk: Path, fleet: Fleet, tmp_path: Path
) -> None:
    fleet.ok("POST", "/datastreams", TEMPS)
    fleet.add_agent("store-d", None, "--spool-reserve-bytes", str(2 << 20))
    online(fleet, "store-d")
    fill(small_disk, 8 << 20)  # 8 MiB left, 2 of them the spool's reserve
    ledger, count = tmp_path / "ledger", 4000  # 4000 records of 2 KB: more than fits
    fleet.ok("POST", "/applications", publisher_app("pub", ledger, count, pad=2048))
    wait_for(lambda: len(acknowledged(ledger)) > 100, "publishing under way", 90)
    fleet.stop_hub()  # nothing drains: the spool fills the disk
    refused = ledger.with_name("ledger.refused")
    wait_for(lambda: refused.exists() and "429 disk-full" in refused.read_text(), "a refusal", 120)
    full_at = len(acknowledged(ledger))
    assert full_at < count
    fleet.start_hub()  # the spool drains, its pages are free again, publishing resumes
    seen = all_arrived_once(fleet, ledger, count)
    assert set(seen) == set(range(count)) and max(seen.values()) == 1


@pytest.fixture
def nats_fleet(nats: Broker, tmp_path: Path) -> Iterator[Fleet]:
    fleet = Fleet(tmp_path, hub_args=("--nats-url", nats.url))
    fleet.start_hub()
    try:
        yield fleet
    finally:
        fleet.close()


async def in_jetstream(url: str) -> Counter[int]:
    """How often each record number is in the hub's JetStream stream."""
    client = await nats.connect(url, connect_timeout=5, max_reconnect_attempts=1)
    try:
        js = client.jetstream()
        consumer = await js.pull_subscribe("edgeplane.data.>", stream="EDGEPLANE_DATA")
        seen: Counter[int] = Counter()
        with contextlib.suppress(nats.errors.TimeoutError):
            while True:
                for msg in await consumer.fetch(batch=500, timeout=2):
                    seen[json.loads(msg.data)["n"]] += 1
                    await msg.ack()
        return seen
    finally:
        await client.close()


@pytest.mark.timeout(300)
def test_the_nats_sink_down_for_a_while_loses_nothing(
    nats_fleet: Fleet, nats: Broker, tmp_path: Path
) -> None:
    fleet = nats_fleet
    fleet.ok("POST", "/datastreams", {**TEMPS, "spec": {**TEMPS["spec"], "sink": {"type": "nats"}}})
    fleet.add_agent("store-n")
    online(fleet, "store-n")
    ledger, count = tmp_path / "ledger", 3000
    fleet.ok("POST", "/applications", publisher_app("pub", ledger, count))
    wait_for(lambda: len(acknowledged(ledger)) > 300, "publishing under way", 90)
    nats.stop()
    stopped = len(acknowledged(ledger))
    wait_for(lambda: len(acknowledged(ledger)) > stopped + 300, "publishing, sink down", 90)
    nats.start()
    wait_for(lambda: len(acknowledged(ledger)) == count, "every record acknowledged", 120)

    def complete() -> Counter[int] | None:
        found = asyncio.run(in_jetstream(nats.url))
        return found if found.total() >= count else None

    seen = wait_for(complete, f"{count} records in JetStream", 180)
    assert set(seen) == set(range(count)) and max(seen.values()) == 1
