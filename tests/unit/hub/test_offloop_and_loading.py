"""The placement controller's worker thread (deadlines, queued work cancelled) and its
judging of what it loads (objects that no longer validate are left out, with why)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Any

import pytest

from edgeplane.api.wire import Object
from edgeplane.hub.controllers import pause, stop_loops
from edgeplane.hub.controllers.loading import Loaded
from edgeplane.hub.controllers.offloop import Overdue, Worker


async def test_work_past_its_deadline_is_overdue_and_what_queued_behind_never_runs() -> None:
    worker, release = Worker("test", 0.2), threading.Event()
    ran: list[int] = []
    try:
        with pytest.raises(Overdue, match=r"test took longer than 0\.2 s"):
            await worker.run(release.wait, 30)
        with pytest.raises(Overdue):  # queued behind the blocked one: cancelled
            await worker.run(ran.append, 1)
        release.set()
        assert await worker.run(lambda: "done") == "done"
        assert ran == []
    finally:
        release.set()
        worker.close()


async def test_the_event_loop_runs_while_the_worker_works() -> None:
    worker, release = Worker("test", 30), threading.Event()
    try:
        work = asyncio.ensure_future(worker.run(release.wait, 30))
        ticks = 0
        while not work.done() and ticks < 3:  # the loop is free: it counts and releases
            await asyncio.sleep(0)
            ticks += 1
        release.set()
        assert await work is True
        assert ticks == 3
    finally:
        release.set()
        worker.close()


async def test_a_stop_that_arrives_as_the_work_finishes_is_not_lost() -> None:
    """Python 3.11's ``asyncio.wait_for`` returned the result and dropped a cancellation
    that arrived in the same loop turn as the work's completion: a hub stopped just as
    its first placement pass finished went on into a watch nobody ended, and SIGTERM
    left it running (seen in CI). The cancel must reach the caller."""
    worker, started, release = Worker("test", 30), threading.Event(), threading.Event()

    def blocking() -> bool:
        started.set()
        return release.wait()

    try:
        work = asyncio.ensure_future(worker.run(blocking))
        assert await asyncio.to_thread(started.wait, 10)
        release.set()
        # The single worker thread finishes the call and queues its completion on the
        # loop before it takes this one: the result and the cancel land together.
        worker._pool.submit(lambda: None).result()
        work.cancel()
        with pytest.raises(asyncio.CancelledError):
            await work
    finally:
        release.set()
        worker.close()


async def test_pause_is_cancelled_even_when_the_stop_it_waits_for_comes_at_once() -> None:
    stop = asyncio.Event()
    paused = asyncio.ensure_future(pause(stop, 30))
    await asyncio.sleep(0)
    stop.set()
    paused.cancel()
    with pytest.raises(asyncio.CancelledError):
        await paused


async def test_controllers_stop_even_when_a_loop_ignores_cancellation(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stubborn = asyncio.Event()

    async def ignores_cancel() -> None:
        while not stubborn.is_set():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(3600)

    task = asyncio.ensure_future(ignores_cancel())
    await asyncio.sleep(0)  # inside its sleep, where it swallows the cancel
    await stop_loops([task], seconds=0.2)
    assert not task.done()
    assert "did not stop within 0.2 s" in caplog.text
    stubborn.set()
    task.cancel()
    await asyncio.wait([task])


def application(name: str, replicas: Any, version: str = "1") -> Object:
    return {
        "apiVersion": "edgeplane.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": name, "resourceVersion": version, "generation": 1},
        "spec": {
            "workload": {"process": {"command": "python3"}},
            "placement": {"mode": "Replicas", "replicas": replicas},
        },
        "status": {"anything": ["the controller rewrites its status"]},
    }


def test_an_application_that_no_longer_validates_is_left_out_with_why() -> None:
    loaded = Loaded()
    good, bad = loaded.valid("Application", [application("ok", 3), application("huge", 10**30)])
    assert [a["metadata"]["name"] for a in good] == ["ok"]
    assert "spec.placement.replicas" in bad["huge"]
    # Fixed by a replace (a new resourceVersion): judged again, and in.
    good, bad = loaded.valid("Application", [application("huge", 2, version="2")])
    assert [a["metadata"]["name"] for a in good] == ["huge"] and bad == {}


@pytest.mark.parametrize(
    "spec",
    [
        {"application": "a", "site": "s", "replicas": 10**30},
        {"application": "a", "site": "s", "replicas": -1},
        {"application": "a", "site": "s", "replicas": True},
        {"application": "a", "site": 7},
        {"site": "s"},
        "x",
    ],
    ids=["huge", "negative", "bool", "site-not-text", "no-application", "not-a-map"],
)
def test_an_assignment_placement_cannot_read_is_not_counted_as_held(spec: Any) -> None:
    ok: Object = {
        "metadata": {"name": "a.s"},
        "spec": {"application": "a", "site": "s", "replicas": 2},
    }
    bad: Object = {"metadata": {"name": "b.s"}, "spec": spec}
    good, _ = Loaded().valid("Assignment", [ok, bad])
    assert good == [ok]
