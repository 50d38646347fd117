"""The per-watcher queue of the fan-out: kind filter, overflow, close."""

from __future__ import annotations

import asyncio

from edgeplane.store.protocol import EventType, WatchEvent
from edgeplane.store.watch import Subscriber


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
