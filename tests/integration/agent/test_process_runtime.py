"""The process runtime with real processes: start and health, restart policies, crash
loops, stopping, adoption by a new runtime, pid reuse, and logs.

Every runtime made here is closed and every process group its records name is killed
at teardown, so nothing outlives a test. Nothing sleeps to wait: ``wait_until_async`` polls.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from edgeplane.agent.runtimes import InstanceSpec, InstanceStatus, Phase
from edgeplane.agent.runtimes.process import ProcessRuntime, Timings
from edgeplane.agent.runtimes.process.processes import proc_stat
from edgeplane.agent.runtimes.process.records import Record, RecordStore
from tests.support.waiting import wait_until_async

T = TypeVar("T")
FAST = Timings(poll_seconds=0.05, backoff_initial=0.2, backoff_cap=1.0, backoff_reset=30.0)
PY = sys.executable
SERVE_HTTP = [PY, "-m", "http.server", "--bind", "127.0.0.1", "$(PORT)"]


def alive(pid: int) -> bool:
    stat = proc_stat(pid)
    return stat is not None and stat[0] != "Z"


@pytest.fixture
async def make_runtime(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
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


def spec(key: str, generation: int = 1, **workload: Any) -> InstanceSpec:
    return InstanceSpec(key, generation, workload)


def status_of(runtime: ProcessRuntime, key: str) -> Callable[..., InstanceStatus | None]:
    def check(phase: Phase, ready: bool | None = None, **fields: Any) -> InstanceStatus | None:
        s = runtime.statuses().get(key)
        if s is None or s.phase is not phase or (ready is not None and s.ready is not ready):
            return None
        return s if all(getattr(s, k) == v for k, v in fields.items()) else None

    return check


async def wait_for(
    runtime: ProcessRuntime, key: str, phase: Phase, **fields: Any
) -> InstanceStatus:
    check = status_of(runtime, key)
    return await wait_until_async(lambda: check(phase, **fields), f"{key} {phase} {fields}")


async def test_http_health_makes_it_ready_on_a_picked_port(make_runtime: Any) -> None:
    runtime = await make_runtime()
    await runtime.ensure(
        spec(
            "web",
            command=SERVE_HTTP[0],
            args=SERVE_HTTP[1:],
            ports=[{"name": "http"}],
            healthCheck={"http": {"port": "http", "path": "/"}, "periodSeconds": 0.2},
        )
    )
    status = await wait_for(runtime, "web", Phase.RUNNING, ready=True)
    [endpoint] = status.endpoints
    assert endpoint.name == "http" and endpoint.port > 1024
    assert status.pid is not None and alive(status.pid) and status.started_at
    answer = await asyncio.to_thread(urllib.request.urlopen, f"http://127.0.0.1:{endpoint.port}/")
    assert answer.status == 200
    await runtime.remove("web")
    assert not alive(status.pid)
    assert runtime.keys() == set() and runtime.statuses() == {}


async def test_a_slow_starter_turns_ready_before_its_long_period(make_runtime: Any) -> None:
    runtime = await make_runtime()
    script = "import subprocess, sys, time; time.sleep(1.5); " + (
        "subprocess.run([sys.executable, '-m', 'http.server', '--bind', '127.0.0.1', sys.argv[1]])"
    )
    await runtime.ensure(
        spec(
            "slow",
            command=PY,
            args=["-c", script, "$(PORT)"],
            ports=[{"name": "http"}],
            # A 60 s period: ready within the 30 s deadline only thanks to startup probing.
            healthCheck={"http": {"port": "http"}, "periodSeconds": 60},
        )
    )
    status = await wait_for(runtime, "slow", Phase.RUNNING, ready=True)
    assert status.restarts == 0


async def test_tcp_health_and_port_variables(make_runtime: Any) -> None:
    runtime = await make_runtime()
    script = (
        "import os, socket, time\n"
        "s = socket.socket()\n"
        "s.bind(('127.0.0.1', int(os.environ['PORT_ADMIN_API'])))\n"
        "s.listen()\n"
        "print('listening', os.environ['PORT'], os.environ['PORT_ADMIN_API'], flush=True)\n"
        "time.sleep(1000)\n"
    )
    await runtime.ensure(
        spec(
            "tcp",
            command=PY,
            args=["-c", script],
            ports=[{"name": "main"}, {"name": "admin-api"}],
            healthCheck={"tcp": {"port": "admin-api"}, "periodSeconds": 0.2},
        )
    )
    status = await wait_for(runtime, "tcp", Phase.RUNNING, ready=True)
    main, admin = (e.port for e in status.endpoints)
    await wait_until_async(lambda: "listening" in runtime.log_tail("tcp", 5), "the log line")
    assert runtime.log_tail("tcp", 5) == f"listening {main} {admin}\n"


async def test_failing_exec_health_restarts_it_as_unhealthy(
    make_runtime: Any, tmp_path: Path
) -> None:
    flag = tmp_path / "healthy"
    flag.touch()
    runtime = await make_runtime()
    await runtime.ensure(
        spec(
            "exec",
            command=PY,
            args=["-c", "import time; time.sleep(1000)"],
            healthCheck={
                "exec": {"command": ["test", "-f", str(flag)]},
                "periodSeconds": 0.1,
                "failureThreshold": 2,
            },
            terminationGracePeriodSeconds=5,
        )
    )
    first = await wait_for(runtime, "exec", Phase.RUNNING, ready=True)
    flag.unlink()
    unhealthy = await wait_for(runtime, "exec", Phase.UNHEALTHY, ready=False, reason="Unhealthy")
    assert "exec health check test exited with code 1 (2 times in a row)" in (
        unhealthy.message or ""
    )
    first_pid = first.pid
    assert first_pid is not None
    await wait_until_async(lambda: not alive(first_pid), "the unhealthy process to be stopped")
    flag.touch()
    again = await wait_for(runtime, "exec", Phase.RUNNING, ready=True, restarts=1)
    assert again.pid != first.pid


async def test_a_crash_loop_backs_off_and_says_why(make_runtime: Any) -> None:
    runtime = await make_runtime()
    await runtime.ensure(spec("crash", command="sh", args=["-c", "echo boom; exit 3"]))
    check = status_of(runtime, "crash")

    def looping() -> InstanceStatus | None:
        status = check(Phase.CRASH_LOOP, reason="Error")
        return status if status is not None and status.restarts >= 3 else None

    status = await wait_until_async(looping, "three restarts")
    assert status.message is not None
    assert status.message.startswith("exit code 3, restarting in ")
    assert status.message.endswith(f"({status.restarts + 1} restarts)")
    assert not status.ready and status.pid is None
    assert runtime.log_tail("crash", 2) == "boom\nboom\n"


async def test_a_missing_command_is_a_crash_loop_with_the_reason(make_runtime: Any) -> None:
    runtime = await make_runtime()
    await runtime.ensure(spec("missing", command="./no-such-program"))
    status = await wait_for(runtime, "missing", Phase.CRASH_LOOP, reason="StartError")
    assert "cannot start" in (status.message or "") and "no-such-program" in (status.message or "")


@pytest.mark.parametrize(
    ("policy", "code", "phase", "reason"),
    [
        ("OnFailure", 0, Phase.SUCCEEDED, "Completed"),
        ("Never", 0, Phase.SUCCEEDED, "Completed"),
        ("Never", 3, Phase.FAILED, "Error"),
    ],
    ids=["onfailure-success", "never-success", "never-failure"],
)
async def test_policies_that_stop(
    make_runtime: Any, policy: str, code: int, phase: Phase, reason: str
) -> None:
    runtime = await make_runtime()
    await runtime.ensure(
        spec("job", command="sh", args=["-c", f"exit {code}"], restartPolicy=policy)
    )
    status = await wait_for(runtime, "job", phase, reason=reason)
    assert status.restarts == 0 and not status.ready and status.pid is None
    # A restarted agent remembers it finished and does not run it again.
    await runtime.close()
    again = await make_runtime()
    assert (await wait_for(again, "job", phase)).restarts == 0


async def test_on_failure_restarts_a_failure(make_runtime: Any) -> None:
    runtime = await make_runtime()
    await runtime.ensure(
        spec("job", command="sh", args=["-c", "exit 2"], restartPolicy="OnFailure")
    )
    await wait_for(runtime, "job", Phase.CRASH_LOOP, reason="Error", restarts=1)


async def test_remove_kills_a_process_that_ignores_sigterm_after_the_grace(
    make_runtime: Any, tmp_path: Path
) -> None:
    child_pid_file = tmp_path / "child.pid"
    script = (
        "import signal, subprocess, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        f"child = subprocess.Popen(['sleep', '1000'])\n"
        f"open({str(child_pid_file)!r}, 'w').write(str(child.pid))\n"
        "print('ready', flush=True)\n"
        "time.sleep(1000)\n"
    )
    runtime = await make_runtime()
    await runtime.ensure(
        spec("stubborn", command=PY, args=["-c", script], terminationGracePeriodSeconds=1)
    )
    status = await wait_for(runtime, "stubborn", Phase.RUNNING)
    await wait_until_async(
        lambda: "ready" in runtime.log_tail("stubborn", 1), "the handler installed"
    )
    grandchild = int(child_pid_file.read_text())
    started = time.monotonic()
    await runtime.remove("stubborn")
    assert time.monotonic() - started >= 1.0
    assert status.pid is not None and not alive(status.pid)
    await wait_until_async(lambda: not alive(grandchild), "the workload's own child to be killed")
    assert list((tmp_path / "runtime" / "instances").iterdir()) == []
    with pytest.raises(KeyError):
        runtime.log_tail("stubborn", 1)


async def test_a_new_generation_replaces_the_process_on_the_same_port(make_runtime: Any) -> None:
    runtime = await make_runtime()
    workload = {
        "command": PY,
        "args": ["-c", "import time; time.sleep(1000)"],
        "ports": [{"name": "http"}],
    }
    await runtime.ensure(InstanceSpec("app", 1, workload))
    first = await wait_for(runtime, "app", Phase.RUNNING)
    await runtime.ensure(InstanceSpec("app", 1, workload))  # same generation: left alone
    assert runtime.statuses()["app"].pid == first.pid
    await runtime.ensure(InstanceSpec("app", 2, {**workload, "terminationGracePeriodSeconds": 1}))
    second = await wait_for(runtime, "app", Phase.RUNNING, generation=2)
    assert second.pid != first.pid and first.pid is not None and not alive(first.pid)
    assert second.endpoints == first.endpoints


LOGGER = (
    "import itertools, sys, time\n"
    "for i in itertools.count():\n"
    "    print(f'line {i:06d} ' + 'x' * 40, flush=True)\n"
    "    time.sleep(0.01)\n"
)


async def test_a_new_runtime_adopts_running_processes_and_logs_go_on(
    make_runtime: Any, tmp_path: Path
) -> None:
    runtime = await make_runtime()
    await runtime.ensure(spec("logger", command=PY, args=["-c", LOGGER], ports=[{"name": "p"}]))
    before = await wait_for(runtime, "logger", Phase.RUNNING)
    await runtime.close()  # the agent goes away; the workload does not
    log = tmp_path / "runtime" / "logs" / "logger.log"
    size = log.stat().st_size
    await wait_until_async(
        lambda: log.stat().st_size > size + 500, "logging on while no agent runs"
    )
    adopter = await make_runtime()
    after = await wait_for(adopter, "logger", Phase.RUNNING)
    assert (after.pid, after.restarts, after.endpoints) == (before.pid, 0, before.endpoints)
    assert after.started_at == before.started_at
    # Adopted, it is still supervised: when it dies it is restarted.
    assert before.pid is not None
    os.kill(before.pid, signal.SIGKILL)
    restarted = await wait_for(adopter, "logger", Phase.RUNNING, restarts=1)
    assert restarted.pid != before.pid


@pytest.fixture
def stranger() -> Iterator[subprocess.Popen[bytes]]:
    """A process the runtime never started."""
    process = subprocess.Popen(["sleep", "1000"], start_new_session=True)
    yield process
    process.kill()
    process.wait()


async def test_a_reused_pid_is_not_adopted_nor_signalled(
    make_runtime: Any, tmp_path: Path, stranger: subprocess.Popen[bytes]
) -> None:
    records = RecordStore(tmp_path / "runtime" / "instances")
    stat = proc_stat(stranger.pid)
    assert stat is not None
    workload = {"command": PY, "args": ["-c", "import time; time.sleep(1000)"]}
    # The record's pid is alive, but it started at another time: not our process.
    records.save(Record("ghost", 1, workload, pid=stranger.pid, start_ticks=stat[1] - 1))
    runtime = await make_runtime()
    status = await wait_for(runtime, "ghost", Phase.RUNNING, restarts=1)
    assert status.pid != stranger.pid
    assert stranger.poll() is None  # untouched


async def test_logs_rotate_while_the_workload_writes(make_runtime: Any, tmp_path: Path) -> None:
    runtime = await make_runtime(log_max_bytes=4000, log_keep=2, log_check_seconds=0.1)
    await runtime.ensure(spec("chatty", command=PY, args=["-c", LOGGER]))
    await wait_for(runtime, "chatty", Phase.RUNNING)
    logs = tmp_path / "runtime" / "logs"
    await wait_until_async(lambda: (logs / "chatty.log.2").exists(), "two rotations")
    assert not (logs / "chatty.log.3").exists()
    tail = runtime.log_tail("chatty", 3).splitlines()
    assert len(tail) == 3 and all(line.startswith("line ") for line in tail)
    numbers = [int(line.split()[1]) for line in tail]
    assert numbers == sorted(numbers)
