"""The per-watcher queue of the fan-out: kind filter, overflow, close."""

from __future__ import annotations

import asyncio

from edgeplane.store.protocol import EventType, WatchEvent
from edgeplane.store.watch import Subscriber


def event(rv: int, kind: str = "Site") -> WatchEvent:
    return WatchEvent(EventType.ADDED, {"kind": kind, "metadata": {"name": f"n{rv}"}}, rv)


def test_a_subscriber_keeps_only_its_kind() -> None:
    subscriber = Subscriber("Site", asyncio.Queue(10))
    for e in (event(1), event(2, "SiteGroup"), event(3)):
        subscriber.offer(e)
    queued = [subscriber.queue.get_nowait() for _ in range(subscriber.queue.qsize())]
    assert [e.resource_version for e in queued if e] == [1, 3]


def test_a_full_queue_overflows_and_then_takes_nothing() -> None:
    subscriber = Subscriber(None, asyncio.Queue(2))
    for rv in range(1, 6):
        subscriber.offer(event(rv))
    assert subscriber.overflowed
    assert subscriber.queue.qsize() == 2


def test_closing_a_full_queue_is_not_an_overflow() -> None:
    subscriber = Subscriber(None, asyncio.Queue(1))
    subscriber.offer(event(1))
    subscriber.close()
    assert subscriber.closed and not subscriber.overflowed
