"""benchmarks/support/loadproc: a child speaking the simulator's stdio protocol."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from benchmarks.support.loadproc import LoadProcess

# A generator in miniature: grows on `grow N`, reports a line per command, ends on quit.
CHILD = """
import json, sys, time
sites = int(sys.argv[1])
print("not json"); print(json.dumps([1]))  # noise the reader skips
for line in sys.stdin:
    words = line.split()
    if words == ["quit"]:
        break
    if words[0] == "grow":
        sites = int(words[1])
    print(json.dumps({"t": time.time(), "sites": sites, "joined": sites, "connected": sites}),
          flush=True)
"""


async def test_grow_join_and_quit(tmp_path: Path) -> None:
    load = LoadProcess("mini", [sys.executable, "-c", CHILD, "10"], tmp_path / "mini.log", None)
    await load.start()
    try:
        started = time.time()
        await load.send("grow 10")
        assert await load.wait_joined(10, within=30)
        await load.send("grow 25")
        assert await load.wait_joined(25, within=30)
        assert [r["sites"] for r in load.lines] == [10, 25]
        assert load.lines_between(started, time.time()) == load.lines
        assert load.lines_between(time.time(), time.time() + 1) == []
    finally:
        await load.stop()
    assert not load.alive() and load.process is not None and load.process.returncode == 0


async def test_a_generator_that_exits_is_not_waited_for(tmp_path: Path) -> None:
    load = LoadProcess("dead", [sys.executable, "-c", "pass"], tmp_path / "dead.log", None)
    await load.start()
    try:
        assert not await load.wait_joined(10, within=60)  # returns once it has exited
    finally:
        await load.stop()
