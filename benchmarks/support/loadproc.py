"""A load generator run as a child process that speaks the simulator's stdio protocol.

Both ``edgeplane sim`` (interfaces §5) and ``kube_leases`` take ``grow N`` / ``quit`` on
stdin and print one JSON line per report period on stdout. ``LoadProcess`` keeps those
lines (with the time each arrived), sends the commands, and waits, polling with a
deadline, until the generator reports every site joined and connected.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks.support.hubproc import pinned

ROOT = Path(__file__).resolve().parents[2]


def sim_command() -> list[str]:
    """``edgeplane`` of this interpreter's environment (the console script)."""
    script = Path(sys.executable).with_name("edgeplane")
    found = str(script) if script.exists() else shutil.which("edgeplane")
    if found is None:
        raise RuntimeError("no `edgeplane` command: pip install -e . into this venv")
    return [found]


def sim_against(hub: Any) -> list[str]:
    """``edgeplane sim`` aimed at ``hub`` with its admin token (and CA over TLS)."""
    argv = [*sim_command(), "sim", "--hub", hub.url]
    argv += ["--token-file", str(hub.data_dir / "admin.token")]
    return argv + (["--ca-file", str(hub.ca_file)] if hub.tls else [])


class LoadProcess:
    def __init__(self, name: str, argv: Sequence[str], log: Path, cpu: int | None = 1) -> None:
        self.name, self.argv, self.log, self.cpu = name, list(argv), log, cpu
        self.lines: list[dict[str, Any]] = []
        self.process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._err = open(log, "ab")  # noqa: SIM115 (closed in stop)

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            *pinned(self.cpu, self.argv),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=self._err,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            limit=1024 * 1024,
            cwd=ROOT,  # `python -m benchmarks.support...` finds the repository's packages
        )
        self._reader = asyncio.create_task(self._read())

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    async def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        while line := await self.process.stdout.readline():
            with contextlib.suppress(ValueError):
                row = json.loads(line)
                if isinstance(row, dict):
                    self.lines.append(row)

    def latest(self) -> dict[str, Any]:
        return self.lines[-1] if self.lines else {}

    def alive(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def send(self, command: str) -> None:
        assert self.process is not None and self.process.stdin is not None
        self.process.stdin.write(f"{command}\n".encode())
        await self.process.stdin.drain()

    async def wait_joined(
        self,
        sites: int,
        within: float,
        server_alive: Callable[[], bool] = lambda: True,
        *,
        tolerate_errors: bool = False,
    ) -> bool:
        """Until the latest line says ``sites`` joined and connected (with
        ``tolerate_errors``: every site joined and connected or gave up joining, its
        ``join_errors``); False when this process or the server exits, or ``within``
        seconds pass first. Says how far the joining got every 30 s on stderr."""
        deadline = time.monotonic() + within
        said = time.monotonic()
        while time.monotonic() < deadline and self.alive() and server_alive():
            row = self.latest()
            joined, connected = row.get("joined", 0), row.get("connected", 0)
            if joined >= sites and connected >= sites:
                return True
            failed = row.get("join_errors", 0) if tolerate_errors else 0
            if failed and joined + failed >= sites and connected >= joined:
                return True
            if time.monotonic() - said > 30:
                said = time.monotonic()
                print(f"  {self.name}: waiting for {sites}: {json.dumps(row)}", file=sys.stderr)
            await asyncio.sleep(0.5)
        return False

    def lines_between(self, start: float, end: float) -> list[dict[str, Any]]:
        """The lines stamped (``t``, unix time) in ``(start, end]``."""
        return [r for r in self.lines if start < float(r.get("t", 0)) <= end]

    def tail(self, size: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-size:] if self.log.exists() else ""

    async def stop(self) -> None:
        if self.process is None:
            self._err.close()
            return
        if self.alive():
            with contextlib.suppress(OSError, ConnectionError):
                await self.send("quit")
            try:
                async with asyncio.timeout(30):
                    await self.process.wait()
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        self._err.close()
