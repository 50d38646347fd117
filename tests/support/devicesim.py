"""Device simulators as processes (``edgeplane.sim.devices``): ``running`` starts one
and waits for its port."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from edgeplane.sim.devices import OPCUA_URI, REGISTER_VALUE, VENDOR
from tests.support.toxiproxy import stop_process
from tests.support.waiting import wait_until

__all__ = ["OPCUA_URI", "REGISTER_VALUE", "VENDOR", "running"]
REPO = Path(__file__).resolve().parents[2]


def _listening(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
        return True
    return False


@contextlib.contextmanager
def running(kind: str, port: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """The simulator ``kind`` on ``port`` until the block ends (its output in ``log``)."""
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "edgeplane.sim.devices", kind, str(port)],
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until(lambda: _listening(port) or process.poll() is not None, f"the {kind} simulator")
        assert process.poll() is None, f"the {kind} simulator exited: see {log}"
        yield process
    finally:
        stop_process(process)
