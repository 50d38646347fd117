"""Supervision survives what it does not expect, with real processes: an exception in a
probe is a counted failed probe, an exception in the supervision loop a counted failed
run (the process goes and is restarted per policy); neither ends supervision. And
``runAs``: the workload, its exec probes and its own directory belong to that user.
"""

from __future__ import annotations

import os
import shutil
import signal
import stat
import sys
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from edgeplane.agent.runtimes import InstanceSpec, InstanceStatus, Phase
from edgeplane.agent.runtimes.process import ProcessRuntime, Timings
from edgeplane.agent.runtimes.process import supervisor as supervisor_module
from edgeplane.agent.runtimes.process.processes import proc_stat
from edgeplane.agent.runtimes.process.records import RecordStore
from tests.support.waiting import wait_until_async

FAST = Timings(poll_seconds=0.05, backoff_initial=0.2, backoff_cap=1.0, backoff_reset=30.0)
SLEEP = [sys.executable, "-c", "import time; time.sleep(600)"]
Make = Callable[..., Awaitable[ProcessRuntime]]


@pytest.fixture
async def make_runtime(tmp_path: Path) -> AsyncIterator[Make]:
    made: list[ProcessRuntime] = []

    async def make(**options: Any) -> ProcessRuntime:
        runtime = ProcessRuntime(tmp_path / "runtime", **{"timings": FAST, **options})
        await runtime.start()
        made.append(runtime)
        return runtime

    yield make
    for runtime in made:
        await runtime.close()
    for record in RecordStore(tmp_path / "runtime" / "instances").load_all():
        if record.pid is not None and proc_stat(record.pid) is not None:
            os.killpg(record.pid, signal.SIGKILL)


def status(runtime: ProcessRuntime, key: str, **want: Any) -> Callable[[], InstanceStatus | None]:
    def check() -> InstanceStatus | None:
        found = runtime.statuses().get(key)
        ok = found is not None and all(getattr(found, k) == v for k, v in want.items())
        return found if ok else None

    return check


async def test_a_probe_that_raises_is_a_counted_failure(
    make_runtime: Make, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*_: Any) -> None:
        raise RuntimeError("a bug in a probe")

    monkeypatch.setattr(supervisor_module, "probe", broken)
    runtime = await make_runtime()
    check = {"tcp": {"port": "p"}, "periodSeconds": 0.1, "failureThreshold": 2}
    workload = {"command": SLEEP[0], "args": SLEEP[1:], "ports": [{"name": "p"}]}
    await runtime.ensure(InstanceSpec("w", 1, {**workload, "healthCheck": check}))
    restarted = await wait_until_async(status(runtime, "w", restarts=2), "w restarted twice")
    assert runtime.supervision_errors() >= 4  # two failures a run, each one counted
    assert restarted.reason in {"Unhealthy", None, "HealthCheckFailed"}


async def test_an_exception_in_supervision_restarts_the_workload(
    make_runtime: Make, monkeypatch: pytest.MonkeyPatch
) -> None:
    watch = supervisor_module.Supervisor._watch
    calls = 0

    async def fails_once(self: supervisor_module.Supervisor, handle: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ValueError("a bug in the supervisor")
        return await watch(self, handle)

    monkeypatch.setattr(supervisor_module.Supervisor, "_watch", fails_once)
    runtime = await make_runtime()
    await runtime.ensure(InstanceSpec("w", 1, {"command": SLEEP[0], "args": SLEEP[1:]}))
    first = await wait_until_async(status(runtime, "w", phase=Phase.RUNNING), "w running")
    again = await wait_until_async(
        status(runtime, "w", phase=Phase.RUNNING, restarts=1), "w running again"
    )
    assert again.pid != first.pid and first.pid is not None
    assert proc_stat(first.pid) is None  # killed and reaped, not left a zombie
    assert runtime.supervision_errors() == 1


@pytest.fixture
def open_dir() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="edgeplane-work-"))
    os.chmod(root, 0o755)
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")
async def test_run_as_applies_to_the_process_its_probes_and_its_directory(
    make_runtime: Make, open_dir: Path
) -> None:
    python = shutil.which("python3", path="/usr/bin:/bin")
    assert python is not None, "a python other users can run"
    is_nobody = "import os, sys; sys.exit(0 if os.getuid() == 65534 else 1)"
    runtime = await make_runtime(work_dir=open_dir / "work")
    # It runs in an artifact (read-only to it) and writes in its own directory.
    artifact = open_dir / "artifact"
    artifact.mkdir(mode=0o755)
    writes = "import os, time; open(os.environ['EDGEPLANE_WORK_DIR'] + '/f', 'w'); time.sleep(600)"
    workload = {
        "command": python,
        "args": ["-c", writes],
        "artifacts": [{"name": "a", "version": "1"}],
        "runAs": {"user": "nobody"},
        "healthCheck": {"exec": {"command": [python, "-c", is_nobody]}, "periodSeconds": 0.2},
    }
    await runtime.ensure(InstanceSpec("w", 1, workload, {"a": artifact}))
    ready = await wait_until_async(
        status(runtime, "w", ready=True), "w ready (its probe ran as nobody)"
    )
    assert ready.pid is not None
    assert os.stat(f"/proc/{ready.pid}").st_uid == 65534
    own = open_dir / "work" / "w"
    assert (own.stat().st_uid, stat.S_IMODE(own.stat().st_mode)) == (65534, 0o700)
    await wait_until_async(lambda: (own / "f").exists(), "w's file in its own directory")
    assert (own / "f").stat().st_uid == 65534
    assert os.readlink(f"/proc/{ready.pid}/cwd") == str(artifact)
