"""benchmarks/support/procstat: CPU and RSS read from /proc, on this very process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.support.procstat import (
    CpuWindow,
    alive,
    children,
    cpu_seconds,
    parent_of,
    pids_with,
    rss_mb,
)


def spin(rounds: int = 2_000_000) -> int:
    total = 0
    for i in range(rounds):
        total += i * i
    return total


def test_cpu_seconds_grow_with_work_and_agree_with_the_interpreter() -> None:
    before, process_before = cpu_seconds(os.getpid()), os.times()
    spin()
    after, process_after = cpu_seconds(os.getpid()), os.times()
    used = sum(process_after[:2]) - sum(process_before[:2])  # user + system
    assert after > before
    assert abs((after - before) - used) < 0.05  # both count clock ticks of the same process


def test_rss_is_what_the_kernel_says() -> None:
    with open(f"/proc/{os.getpid()}/status") as f:
        vmrss = next(int(x.split()[1]) for x in f if x.startswith("VmRSS:"))
    assert abs(rss_mb(os.getpid()) - vmrss / 1024) < 5  # a few MB may move between reads


def test_cpu_window_and_pids_with_see_a_child_spinning() -> None:
    code = "import sys\nwhile True: pass  # marker-procstat-test"
    child = subprocess.Popen([sys.executable, "-c", code])
    try:
        deadline = time.monotonic() + 30
        while not pids_with("marker-procstat-test") and time.monotonic() < deadline:
            time.sleep(0.01)  # until the child has exec'd (its argv is the parent's before)
        assert pids_with("marker-procstat-test") == [child.pid]
        window = CpuWindow([child.pid])
        window.start()
        deadline = time.monotonic() + 30
        while window.percent() == 0 and time.monotonic() < deadline:
            spin(100_000)  # the child gets scheduled meanwhile, on a busy machine too
        assert window.percent() > 0
    finally:
        child.kill()
        child.wait()
    assert pids_with("marker-procstat-test") == []


def test_children_lists_a_child_and_parent_of_names_us() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert child.pid in children(os.getpid())
        assert parent_of(child.pid) == os.getpid()
    finally:
        child.kill()
        child.wait()


def test_alive_is_false_for_an_exited_unreaped_child() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 30
    while alive(child.pid) and time.monotonic() < deadline:
        time.sleep(0.01)  # until it has exited (a zombie: not reaped yet)
    assert not alive(child.pid)
    assert Path(f"/proc/{child.pid}").exists()  # still there, as a zombie
    child.wait()
    assert alive(os.getpid())
