"""The per-watcher queue of the fan-out: kind filter, overflow, close."""

from __future__ import annotations

import asyncio

from edgeplane.api.wire import Object
from edgeplane.store.protocol import EventType, WatchEvent
from edgeplane.store.watch import Pump, Subscriber


def event(rv: int, kind: str = "Site", size: int = 0) -> WatchEvent:
    return WatchEvent(EventType.ADDED, {"kind": kind, "metadata": {"name": f"n{rv}"}}, rv, size)


def test_a_subscriber_keeps_only_its_kind() -> None:
    subscriber = Subscriber("Site", asyncio.Queue(10))
    for e in (event(1), event(2, "SiteGroup"), event(3)):
        subscriber.offer(e)
    queued = [subscriber.queue.get_nowait() for _ in range(subscriber.queue.qsize())]
    assert [e.resource_version for e in queued if e] == [1, 3]


def test_a_full_queue_overflows_gives_its_events_back_and_then_takes_nothing() -> None:
    subscriber = Subscriber(None, asyncio.Queue(2))
    for rv in range(1, 6):
        subscriber.offer(event(rv))
    assert subscriber.overflowed
    assert [subscriber.queue.get_nowait()] == [None] and subscriber.queue.empty()


def test_a_queue_is_bounded_by_bytes_too() -> None:
    subscriber = Subscriber(None, asyncio.Queue(100), max_bytes=1000)
    for rv in range(1, 4):
        subscriber.offer(event(rv, size=400))
    assert subscriber.overflowed and subscriber.queued_bytes == 0
    assert [subscriber.queue.get_nowait()] == [None]


def test_one_event_larger_than_the_bound_still_fits_an_empty_queue() -> None:
    subscriber = Subscriber(None, asyncio.Queue(100), max_bytes=1000)
    subscriber.offer(event(1, size=5000))
    assert not subscriber.overflowed and subscriber.queued_bytes == 5000


async def test_reading_gives_the_bytes_back() -> None:
    subscriber = Subscriber(None, asyncio.Queue(100), max_bytes=1000)
    subscriber.offer(event(1, size=600))
    assert (await subscriber.next()) is not None
    subscriber.offer(event(2, size=600))
    assert not subscriber.overflowed and subscriber.queued_bytes == 600


def test_closing_a_full_queue_is_not_an_overflow() -> None:
    subscriber = Subscriber(None, asyncio.Queue(1))
    subscriber.offer(event(1))
    subscriber.close()
    assert subscriber.closed and not subscriber.overflowed


def assignment_event(rv: int, site: str, previous: str | None = None) -> WatchEvent:
    labels = {"edgeplane.io/site": site}
    obj: Object = {"kind": "Assignment", "metadata": {"name": f"a{rv}", "labels": labels}}
    return WatchEvent(EventType.MODIFIED, obj, rv, previous_site=previous)


async def test_the_pump_routes_an_event_to_its_sites_watchers_only() -> None:
    """10,000 sites watching their own: an event reaches one of them, never tested
    against the other 9,999."""
    pump = Pump(lambda _: asyncio.sleep(0, ()), 0, 1.0)
    sites = [Subscriber("Assignment", asyncio.Queue(10), site=f"s{i}") for i in range(10_000)]
    every = Subscriber(None, asyncio.Queue(10))
    other_kind = Subscriber("Site", asyncio.Queue(10))
    for subscriber in (*sites, every, other_kind):
        pump.add(subscriber)
    routed = list(pump.routed(assignment_event(1, "s42")))
    assert routed.count(sites[42]) == 1 and every in routed
    assert len(routed) == 2, "routed by kind too: the Site watcher is not asked"
    moved = list(pump.routed(assignment_event(2, "s7", previous="s8")))
    assert {sites[7], sites[8], every} <= set(moved) and len(moved) == 3


async def test_a_site_subscriber_takes_its_sites_events_and_those_that_left_it() -> None:
    subscriber = Subscriber("Assignment", asyncio.Queue(10), site="s1")
    for e in (
        assignment_event(1, "s1"),
        assignment_event(2, "s2"),
        assignment_event(3, "s2", "s1"),
    ):
        subscriber.offer(e)
    queued = [subscriber.queue.get_nowait() for _ in range(subscriber.queue.qsize())]
    assert [e.resource_version for e in queued if e] == [1, 3]


async def test_a_discarded_subscriber_is_routed_nothing() -> None:
    pump = Pump(lambda _: asyncio.sleep(0, ()), 0, 1.0)
    subscriber = Subscriber("Assignment", asyncio.Queue(10), site="s1")
    pump.add(subscriber)
    pump.discard(subscriber)
    assert list(pump.routed(assignment_event(1, "s1"))) == [] and pump.subscribers == []
