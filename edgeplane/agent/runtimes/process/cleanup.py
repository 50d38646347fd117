"""Killing the workloads a site's records name, without an agent: for tools that must
leave nothing running (the demo on Ctrl-C, test teardown) even when the agent that
would stop them was killed."""

from __future__ import annotations

import contextlib
import json
import os
import signal
from pathlib import Path

from edgeplane.agent.runtimes.process.processes import is_ours


def kill_recorded(runtime_dir: Path) -> list[int]:
    """SIGKILL the process group of every recorded workload whose pid is still the one
    recorded (same start time); the pids killed."""
    killed = []
    for path in (runtime_dir / "instances").glob("*.json"):
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        pid, ticks = record.get("pid"), record.get("start_ticks")
        if pid and ticks and is_ours(pid, ticks):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
                killed.append(pid)
    return killed
