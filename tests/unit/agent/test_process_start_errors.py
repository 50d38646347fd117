"""What exec cannot take is a StartError of the process runtime, never a failure of
its supervision."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from edgeplane.agent.runtimes import InstanceSpec, InstanceStatus
from edgeplane.agent.runtimes.process import ProcessRuntime, Timings
from tests.support.fleet import eventually


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

        status = await eventually(started_not, "a StartError")
        assert "embedded null byte" in (status.message or "")
        assert runtime.supervision_errors() == 0
    finally:
        await runtime.remove("nul")
        await runtime.close()
