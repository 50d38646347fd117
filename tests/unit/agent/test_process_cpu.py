"""CPU of process instances (``runtimes.process.cpu``): ``/proc/<pid>/stat`` read as the
kernel writes it, sessions summed in one bounded pass over a ``/proc`` made in a tmp dir,
rates between readings of the same process only, and the real ``/proc`` of busy
processes a test spawns (polled with a deadline: how busy a loaded machine lets them
be is not asserted beyond "clearly busy").
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from edgeplane.agent.runtimes import InstanceSpec, InstanceStatus, Phase
from edgeplane.agent.runtimes.process import ProcessRuntime, Timings
from edgeplane.agent.runtimes.process.cleanup import kill_recorded
from edgeplane.agent.runtimes.process.cpu import (
    CLOCK_TICKS,
    CpuMeter,
    Leader,
    Reading,
    cores_between,
    read_stat,
    session_ticks,
)
from edgeplane.agent.runtimes.process.processes import proc_stat
from tests.support.waiting import wait_until, wait_until_async

SPIN = "import time\nend = time.monotonic() + 60\nwhile time.monotonic() < end: pass\n"
"""Busy for a bounded time: a test that fails half-way leaves nothing spinning for long."""


def stat_line(pid: int, comm: str, session: int, start: int, times: tuple[int, ...]) -> str:
    """A ``/proc/<pid>/stat`` line: utime, stime, cutime, cstime are fields 14 to 17."""
    fields = ["S", "1", str(session), str(session), "0", "-1", "0", "0", "0", "0", "0"]
    fields += [str(t) for t in times] + ["20", "0", "1", "0", str(start), "0"]
    return f"{pid} ({comm}) {' '.join(fields)}\n"


@pytest.mark.parametrize(
    "comm",
    ["python3", "my worker", "a) (b", ")"],
    ids=["plain", "space", "parentheses", "lone-paren"],
)
def test_a_stat_line_is_read_after_the_last_parenthesis(comm: str) -> None:
    stat = read_stat(stat_line(42, comm, 40, 777, (5, 6, 7, 8)))
    assert (stat.session, stat.start_ticks, stat.ticks) == (40, 777, 26)


def test_the_stat_of_this_very_process_reads() -> None:
    text = Path("/proc/self/stat").read_text()
    assert read_stat(text).start_ticks == proc_stat(int(text.split()[0]))[1]  # type: ignore[index]


def fake_proc(tmp_path: Path, *processes: tuple[int, int, int, int]) -> Path:
    """A /proc of (pid, session, start ticks, cpu ticks) processes, and other entries."""
    proc = tmp_path / "proc"
    for pid, session, start, ticks in processes:
        (proc / str(pid)).mkdir(parents=True)
        (proc / str(pid) / "stat").write_text(stat_line(pid, "w", session, start, (ticks, 0, 0, 0)))
    (proc / "self").mkdir(parents=True, exist_ok=True)  # not a process
    (proc / "meminfo").write_text("MemTotal: 1 kB\n")
    (proc / "77").mkdir()  # gone between the listing and the read: no stat
    return proc


def test_sessions_are_summed_and_others_ignored(tmp_path: Path) -> None:
    proc = fake_proc(
        tmp_path,
        (10, 10, 500, 100),  # a leader
        (11, 10, 510, 30),  # its child
        (12, 10, 520, 5),  # its grandchild, in its own process group
        (20, 20, 600, 900),  # someone else's session
        (30, 30, 700, 40),  # a leader whose pid was reused: another start time
    )
    assert session_ticks({10: 500, 30: 699, 99: 1}, proc) == {10: 135}


@pytest.mark.parametrize(("limit", "bounded"), [(5, False), (4, True)], ids=["at", "over"])
def test_a_pass_reads_at_most_the_limit(tmp_path: Path, limit: int, bounded: bool) -> None:
    proc = fake_proc(tmp_path, *((pid, 10, 500, 1) for pid in range(10, 14)))  # and 77
    sums = session_ticks({10: 500}, proc, limit=limit)
    assert (sums is None) == bounded
    if not bounded:
        assert sums == {10: 4}


LEADER = Leader(10, 500)


@pytest.mark.parametrize(
    ("before", "after", "cores"),
    [
        (None, Reading(LEADER, 100, 5.0), None),
        (Reading(Leader(10, 499), 0, 1.0), Reading(LEADER, 100, 5.0), None),
        (Reading(LEADER, 100, 5.0), Reading(LEADER, 100, 5.0), None),
        (Reading(LEADER, 0, 1.0), Reading(LEADER, 2 * CLOCK_TICKS, 3.0), 1.0),
        (Reading(LEADER, 50, 1.0), Reading(LEADER, 10, 3.0), 0.0),
    ],
    ids=["first-sight", "new-process", "no-time", "one-core", "never-negative"],
)
def test_cores_come_from_two_readings_of_the_same_process(
    before: Reading | None, after: Reading, cores: float | None
) -> None:
    assert cores_between(before, after) == cores


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_meter_needs_two_samples_and_forgets_what_is_not_asked(tmp_path: Path) -> None:
    proc = fake_proc(tmp_path, (10, 10, 500, 0), (20, 20, 600, 0))
    clock = Clock()
    meter = CpuMeter(proc, clock=clock)
    leaders = {"a": LEADER, "b": Leader(20, 600)}
    assert meter.sample(leaders) == {}
    (proc / "10" / "stat").write_text(stat_line(10, "w", 10, 500, (CLOCK_TICKS, 0, 0, 0)))
    clock.now += 2.0
    assert meter.sample(leaders) == {"a": 0.5, "b": 0.0}
    clock.now += 2.0
    assert meter.sample({"b": Leader(20, 600)}) == {"b": 0.0}
    clock.now += 2.0
    assert meter.sample(leaders) == {"b": 0.0}, "a was forgotten: it starts over"


def test_a_host_over_the_limit_gives_nothing_and_says_so_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    proc = fake_proc(tmp_path, (10, 10, 500, 0), (11, 10, 501, 0))
    meter = CpuMeter(proc, limit=1)
    for _ in range(3):
        assert meter.sample({"a": LEADER}) == {}
    assert caplog.text.count("more than 1 processes") == 1


# -- the real /proc ------------------------------------------------------------------


@pytest.fixture
def spinning() -> Iterator[subprocess.Popen[bytes]]:
    """A shell in a session of its own (as the supervisor starts a workload) that waits
    on a spinning python child: whatever the session uses, the shell does not."""
    script = f"{sys.executable} -c '{SPIN}' & wait"
    child = subprocess.Popen(["/bin/sh", "-c", script], start_new_session=True)
    yield child
    os.killpg(child.pid, signal.SIGKILL)  # the shell's group: it and its child
    child.wait()


def test_a_busy_child_counts_for_its_sessions_leader(
    spinning: subprocess.Popen[bytes],
) -> None:
    stat = proc_stat(spinning.pid)
    assert stat is not None
    meter = CpuMeter()
    leaders = {"busy": Leader(spinning.pid, stat[1])}
    meter.sample(leaders)
    cores = wait_until(
        lambda: meter.sample(leaders).get("busy"),
        "the spinning child's cpu, counted for its session",
        accept=lambda used: used > 0.3,
        every=0.5,  # a rate over 50 ms would be a few clock ticks
    )
    assert cores < (os.cpu_count() or 1) + 0.5, "more cores than the machine has"


FAST = Timings(poll_seconds=0.05, backoff_initial=0.2, backoff_cap=1.0, backoff_reset=30.0)


def ready(runtime: ProcessRuntime, key: str) -> InstanceStatus | None:
    status = runtime.statuses().get(key)
    if status is None or status.phase is not Phase.RUNNING or not status.ready:
        return None
    return status if status.pid is not None else None


async def test_the_runtime_measures_a_ready_instance_from_its_second_sample(
    tmp_path: Path,
) -> None:
    runtime = ProcessRuntime(tmp_path / "runtime", timings=FAST)
    await runtime.start()
    try:
        busy = {"command": sys.executable, "args": ["-c", SPIN]}
        await runtime.ensure(InstanceSpec("w", 1, busy))
        first = await wait_until_async(lambda: ready(runtime, "w"), "w running and ready")
        assert await runtime.sample_cpu(["w", "unknown"]) == {}, "one sample says no rate"
        uses = await wait_until_async(
            lambda: runtime.sample_cpu(["w"]),
            "w's cpu",
            accept=lambda u: bool(u) and u["w"][0].cores > 0.3,
            every=0.5,
        )
        assert uses["w"][0].requested is None  # the assignment's request says it
        await runtime.ensure(InstanceSpec("w", 2, {**busy, "args": ["-c", SPIN, "new"]}))
        await wait_until_async(
            lambda: ready(runtime, "w"), "w restarted", accept=lambda s: s.pid != first.pid
        )
        assert await runtime.sample_cpu(["w"]) == {}, "a new process starts over"
    finally:
        await runtime.close()
        kill_recorded(tmp_path / "runtime")
