"""The ``Runtime`` protocol's promises, kept alike by the fake runtime (what the
reconciler's unit tests drive) and the process runtime (real /bin/sh processes in a
tmp dir): ensure starts, the same generation is a no-op, a new generation replaces (or
is taken on in place when nothing it runs changed), remove stops and forgets, keys and
statuses name every instance, an unknown key's log is a KeyError, ``changed()`` is set
on a status change, and a new runtime over the same records adopts what still runs.

Nothing sleeps: ``wait_until_async`` polls, and its deadline is only when to give up.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from edgeplane.agent.runtimes import InstanceSpec, InstanceStatus, Phase, Runtime
from edgeplane.agent.runtimes.fake import FakeRecords, FakeRuntime
from edgeplane.agent.runtimes.process import ProcessRuntime, Timings
from edgeplane.agent.runtimes.process.cleanup import kill_recorded
from tests.support.waiting import wait_until_async

FAST = Timings(poll_seconds=0.05, backoff_initial=0.2, backoff_cap=1.0, backoff_reset=30.0)
Make = Callable[[], Awaitable[Runtime]]
"""A new runtime over the same records, started (as a restarted agent's)."""


def sleeper(says: str = "up") -> dict[str, Any]:
    return {"command": "/bin/sh", "args": ["-c", f"echo {says}; exec sleep 60"]}


def spec(key: str = "a", generation: int = 1, says: str = "up") -> InstanceSpec:
    return InstanceSpec(key, generation, sleeper(says))


def _fake(directory: Path, records: FakeRecords) -> Runtime:
    return FakeRuntime(records)


def _process(directory: Path, records: FakeRecords) -> Runtime:
    return ProcessRuntime(directory, timings=FAST)


RUNTIMES: dict[str, Callable[[Path, FakeRecords], Runtime]] = {
    "fake": _fake,
    "process": _process,
}
"""Each runtime the contract holds for, made over a directory (or, for the fake, the
records) that a later one made the same way adopts from."""


@pytest.fixture(params=sorted(RUNTIMES))
async def make(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Make]:
    made: list[Runtime] = []
    records: FakeRecords = {}

    async def new() -> Runtime:
        runtime = RUNTIMES[request.param](tmp_path / "runtime", records)
        await runtime.start()
        made.append(runtime)
        return runtime

    yield new
    for runtime in made:
        await runtime.close()
    kill_recorded(tmp_path / "runtime")  # what a test left running (none for the fake)


async def running(runtime: Runtime, key: str = "a", generation: int = 1) -> InstanceStatus:
    """Its status once it runs at ``generation`` with a process of its own."""

    def check() -> InstanceStatus | None:
        status = runtime.statuses().get(key)
        if status is None or (status.phase, status.generation) != (Phase.RUNNING, generation):
            return None
        return status if status.pid is not None else None

    return await wait_until_async(check, f"{key} running at generation {generation}")


async def test_ensure_starts_the_instance(make: Make) -> None:
    runtime = await make()
    await runtime.ensure(spec())
    assert runtime.keys() == {"a"}
    status = await running(runtime)
    assert status.key == "a"


async def test_the_same_generation_again_is_a_no_op(make: Make) -> None:
    runtime = await make()
    await runtime.ensure(spec())
    before = await running(runtime)
    await runtime.ensure(spec())
    assert runtime.keys() == {"a"}
    assert (await running(runtime)).pid == before.pid


async def test_a_new_generation_replaces_the_instance(make: Make) -> None:
    runtime = await make()
    await runtime.ensure(spec())
    before = await running(runtime)
    await runtime.ensure(spec(generation=2, says="again"))
    after = await running(runtime, generation=2)
    assert after.pid != before.pid
    assert runtime.keys() == {"a"}


async def test_a_new_generation_of_the_same_workload_restarts_nothing(make: Make) -> None:
    runtime = await make()
    await runtime.ensure(spec())
    before = await running(runtime)
    await runtime.ensure(spec(generation=2))
    assert (await running(runtime, generation=2)).pid == before.pid


async def test_remove_stops_and_forgets(make: Make) -> None:
    runtime = await make()
    await runtime.ensure(spec())
    await running(runtime)
    await runtime.remove("a")
    assert (runtime.keys(), runtime.statuses()) == (set(), {})
    with pytest.raises(KeyError):
        runtime.log_tail("a", 5)
    await runtime.close()
    assert (await make()).keys() == set(), "a removed instance is not adopted"


async def test_removing_an_unknown_key_does_nothing(make: Make) -> None:
    runtime = await make()
    await runtime.remove("nowhere")
    assert runtime.keys() == set()


async def test_keys_and_statuses_name_every_instance(make: Make) -> None:
    runtime = await make()
    for key in ("a", "b"):
        await runtime.ensure(spec(key))
    assert runtime.keys() == {"a", "b"}
    for key in ("a", "b"):
        await running(runtime, key)
    assert {key: s.key for key, s in runtime.statuses().items()} == {"a": "a", "b": "b"}


async def test_log_tail_reads_a_known_key_and_refuses_an_unknown_one(make: Make) -> None:
    runtime = await make()
    await runtime.ensure(spec())
    await running(runtime)
    assert isinstance(runtime.log_tail("a", 5), str)
    with pytest.raises(KeyError):
        runtime.log_tail("nowhere", 5)


async def test_changed_is_set_when_a_status_changes(make: Make) -> None:
    runtime = await make()
    changed = runtime.changed()
    changed.clear()
    await runtime.ensure(spec())
    await wait_until_async(lambda: changed.is_set() or None, "changed() set by a start")
    await running(runtime)
    changed.clear()
    await runtime.ensure(spec(generation=2))
    await wait_until_async(lambda: changed.is_set() or None, "changed() set by a relabel")
    changed.clear()
    await runtime.remove("a")
    await wait_until_async(lambda: changed.is_set() or None, "changed() set by a removal")


async def test_a_new_runtime_adopts_what_still_runs(make: Make) -> None:
    first = await make()
    await first.ensure(spec())
    before = await running(first)
    await first.close()  # workloads outlive their agent
    second = await make()
    assert second.keys() == {"a"}
    assert (await running(second)).pid == before.pid
    await second.ensure(spec())
    assert (await running(second)).pid == before.pid, "adopted, not started again"
