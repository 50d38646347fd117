"""What exec cannot take is a StartError of the process runtime, never a failure of
its supervision."""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from edgeplane.agent.runtimes import InstanceSpec, InstanceStatus
from edgeplane.agent.runtimes.process import ProcessRuntime, Timings
from tests.support.waiting import wait_until_async


@pytest.mark.parametrize(
    "workload",
    [
        {"args": ["-c", "print(1)\x00"]},
        {"env": {"X": "a\x00b"}},
        {"workingDir": "sub\x00dir"},
    ],
    ids=["args", "env", "working-dir"],
)
async def test_what_exec_cannot_take_is_a_start_error(
    tmp_path: Path, workload: dict[str, Any]
) -> None:
    """The hub refuses a NUL in what is executed; should one arrive anyway, the launch's
    ValueError is a StartError naming it (it was a SupervisionError, with a stack in the
    agent's log on every restart)."""
    runtime = ProcessRuntime(tmp_path / "runtime", timings=Timings(backoff_initial=0.1))
    await runtime.start()
    try:
        spec = {"command": sys.executable, "args": ["-c", "1"], **workload}
        await runtime.ensure(InstanceSpec("nul", 1, spec))

        def started_not() -> InstanceStatus | None:
            status = runtime.statuses().get("nul")
            return status if status is not None and status.reason == "StartError" else None

        status = await wait_until_async(started_not, "a StartError")
        assert "embedded null byte" in (status.message or "")
        assert runtime.supervision_errors() == 0
    finally:
        await runtime.remove("nul")
        await runtime.close()


async def test_the_agents_log_shows_a_workloads_command_cut_and_escaped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The command line went into the agent's log whole and raw on every (re)start: a
    megabyte a crash with long args, and escape sequences for whoever reads the log."""
    caplog.set_level(logging.INFO, "edgeplane.agent.runtimes.process")
    runtime = ProcessRuntime(tmp_path / "runtime", timings=Timings(backoff_initial=0.1))
    await runtime.start()
    try:
        args = ["-c", "raise SystemExit(3)", "\x1b]52;c;aGk=\x07", "x" * 100_000]
        await runtime.ensure(InstanceSpec("loud", 1, {"command": sys.executable, "args": args}))
        await wait_until_async(lambda: runtime.statuses()["loud"].restarts or None, "a restart")
    finally:
        await runtime.remove("loud")
        await runtime.close()
    lines = [r.getMessage() for r in caplog.records if "loud" in r.getMessage()]
    assert any("started pid" in line and "\\x1b]52" in line for line in lines), lines
    assert all(len(line) < 1_000 and "\x1b" not in line for line in lines)


async def test_removing_a_workload_with_many_files_does_not_stall_the_agent(
    tmp_path: Path,
) -> None:
    """A workload decides how many files its own directory holds: removing them ran on
    the event loop (100,000 files, 2.5 s without probes or heartbeats)."""
    runtime = ProcessRuntime(tmp_path / "runtime", timings=Timings(backoff_initial=0.1))
    await runtime.start()
    script = "import os\nfor i in range(60000): open(str(i), 'w').close()"
    spec = {"command": sys.executable, "args": ["-c", script], "restartPolicy": "Never"}
    await runtime.ensure(InstanceSpec("many", 1, spec))
    await wait_until_async(
        lambda: runtime.statuses()["many"].reason == "Completed", "the files made", 60
    )
    lags: list[float] = []

    async def tick() -> None:
        while True:
            before = time.monotonic()
            await asyncio.sleep(0.01)
            lags.append(time.monotonic() - before)

    ticker = asyncio.create_task(tick())
    try:
        await asyncio.sleep(0.05)
        before = len(lags)
        await runtime.remove("many")
        # Ticks that ended while the files were removed: none when the removal holds
        # the loop (counted, not timed: the machine may be slow, the loop is free).
        during = len(lags) - before
    finally:
        ticker.cancel()
        await runtime.close()
    assert not (tmp_path / "runtime" / "work" / "many").exists()
    assert during >= 1, "the event loop did not run while 60,000 files were removed"
