"""Health checks of a running workload: http, tcp and exec, as Kubernetes probes.

``probe`` runs one check and says why it failed; ``HealthCheck.parse`` reads the wire
dict with its defaults. The supervisor decides what failures mean (restart after
``failure_threshold`` in a row).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

STARTUP_PROBE_SECONDS = 1.0
"""How often a workload is probed before its first pass (if its period is longer)."""


class ProbeFailed(Exception):
    """One failed check; the message is the reason shown in the status."""


@dataclass(frozen=True)
class HealthCheck:
    kind: str
    """``http``, ``tcp`` or ``exec``."""
    target: Mapping[str, Any]
    period: float = 10.0
    timeout: float = 1.0
    failure_threshold: int = 3

    @classmethod
    def parse(cls, check: Mapping[str, Any] | None) -> HealthCheck | None:
        if not check:
            return None
        kind = next(k for k in ("http", "tcp", "exec") if check.get(k))
        return cls(
            kind,
            check[kind],
            float(check.get("periodSeconds") or 10.0),
            float(check.get("timeoutSeconds") or 1.0),
            int(check.get("failureThreshold") or 3),
        )


def resolve_port(ref: int | str, ports: Mapping[str, int]) -> int:
    """A probe names its port by number or by the name of one of the workload's ports."""
    if isinstance(ref, int) or str(ref).isdigit():
        return int(ref)
    if ref not in ports:
        raise ProbeFailed(f"health check names port {ref!r}, which the workload does not declare")
    return ports[ref]


async def probe(check: HealthCheck, ports: Mapping[str, int], env: Mapping[str, str]) -> None:
    """Raise ``ProbeFailed`` with a reason unless the check passes within its timeout."""
    try:
        async with asyncio.timeout(check.timeout):
            if check.kind == "exec":
                await _exec(list(check.target["command"]), env)
            else:
                host = check.target.get("host") or "127.0.0.1"
                port = resolve_port(check.target["port"], ports)
                if check.kind == "http":
                    await _http(host, port, str(check.target.get("path") or "/"))
                else:
                    await _tcp(host, port)
    except TimeoutError:
        raise ProbeFailed(
            f"{check.kind} health check timed out after {check.timeout:g} s"
        ) from None
    except OSError as e:
        raise ProbeFailed(f"{check.kind} health check failed: {e.strerror or e}") from e


async def _tcp(host: str, port: int) -> None:
    _, writer = await asyncio.open_connection(host, port)
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()


async def _http(host: str, port: int, path: str) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(f"GET {path} HTTP/1.0\r\nHost: {host}:{port}\r\n\r\n".encode())
        await writer.drain()
        line = (await reader.readline()).decode("latin-1").split()
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    if len(line) < 2 or not line[1].isdigit():
        raise ProbeFailed(f"http health check on port {port}: no HTTP answer")
    if not 200 <= int(line[1]) < 400:
        raise ProbeFailed(f"http health check GET {path} on port {port} answered {line[1]}")


async def _exec(command: list[str], env: Mapping[str, str]) -> None:
    proc = await asyncio.create_subprocess_exec(
        *command,
        env=dict(env),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        code = await proc.wait()
    finally:
        if proc.returncode is None:  # timed out or cancelled: leave nothing behind
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
    if code != 0:
        raise ProbeFailed(f"exec health check {command[0]} exited with code {code}")
