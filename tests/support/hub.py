"""A real hub process on a free loopback port, for integration and end-to-end tests.

Hubs serve HTTPS by default; tests start them with ``--plain-http`` unless they ask for
``tls=True`` (then ``verify`` trusts the hub's own CA, made in its data dir).
"""

from __future__ import annotations

import contextlib
import os
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.ports import free_port


@dataclass
class HubProcess:
    url: str
    data_dir: Path
    process: subprocess.Popen[str]
    log: Path
    tls: bool = False
    trusted: Path | None = None
    """The CA to verify the hub with, when not its own (``--tls-cert``)."""

    @property
    def ca_file(self) -> Path:
        return self.trusted or self.data_dir / "tls" / "ca.crt"

    @property
    def verify(self) -> ssl.SSLContext | bool:
        """What httpx should verify this hub with."""
        return hub_verify(self.ca_file) if self.tls else True

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


def hub_verify(ca_file: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca_file))


def wait_ready(
    url: str,
    process: subprocess.Popen[str],
    log: Path,
    timeout: float = 60,
    ca_file: Path | None = None,
) -> None:
    """Until ``/readyz`` answers 200; over HTTPS verified with ``ca_file`` once the hub
    has written it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"hub exited with {process.returncode}:\n{log.read_text()}")
        ready = ca_file is None or ca_file.exists()
        verify = hub_verify(ca_file) if ca_file is not None and ready else True
        with contextlib.suppress(httpx.HTTPError, ssl.SSLError):
            if ready and httpx.get(f"{url}/readyz", timeout=1, verify=verify).status_code == 200:
                return
        time.sleep(0.05)
    raise RuntimeError(f"hub at {url} not ready after {timeout}s:\n{log.read_text()}")


@contextlib.contextmanager
def running_hub(
    data_dir: Path,
    *extra: str,
    database_url: str | None = None,
    tls: bool = False,
    trusted: Path | None = None,
) -> Iterator[HubProcess]:
    """A hub on plain HTTP (``--plain-http``), or on HTTPS (``tls``) with its own CA or,
    given ``--tls-cert`` in ``extra``, one that ``trusted`` verifies."""
    port = free_port()
    url = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
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
    if not tls:
        cmd.append("--plain-http")
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
    hub = HubProcess(url, data_dir, process, log, tls, trusted)
    try:
        wait_ready(url, process, log, ca_file=hub.ca_file if tls else None)
        yield hub
    finally:
        hub.stop()
