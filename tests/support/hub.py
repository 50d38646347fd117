"""A real hub process on a free loopback port, for integration and end-to-end tests."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class HubProcess:
    url: str
    data_dir: Path
    process: subprocess.Popen[str]
    log: Path

    @property
    def token(self) -> str:
        return (self.data_dir / "admin.token").read_text().strip()

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def stop(self, timeout: float = 20) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def wait_ready(url: str, process: subprocess.Popen[str], log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"hub exited with {process.returncode}:\n{log.read_text()}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        time.sleep(0.05)
    raise RuntimeError(f"hub at {url} not ready after {timeout}s:\n{log.read_text()}")


@contextlib.contextmanager
def running_hub(
    data_dir: Path, *extra: str, database_url: str | None = None
) -> Iterator[HubProcess]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [
        sys.executable,
        "-m",
        "edgeplane.hub",
        "--data-dir",
        str(data_dir),
        "--listen",
        f"127.0.0.1:{port}",
        *extra,
    ]
    if database_url:
        cmd += ["--database-url", database_url]
    log = data_dir.parent / f"hub-{port}.log"
    with open(log, "w") as out:
        process = subprocess.Popen(
            cmd,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    hub = HubProcess(url, data_dir, process, log)
    try:
        wait_ready(url, process, log)
        yield hub
    finally:
        hub.stop()
