"""Health checks of a running workload: http, tcp and exec, as Kubernetes probes.

``probe`` runs one check and says why it failed; ``HealthCheck.parse`` reads the wire
dict with its defaults. The supervisor decides what failures mean (restart after
``failure_threshold`` in a row).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import re
import signal
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from edgeplane.agent.runtimes.process.accounts import Account
from edgeplane.api.confinement import probe_host_problem, probe_path_problem

STARTUP_PROBE_SECONDS = 1.0
"""How often a workload is probed before its first pass (if its period is longer)."""

MAX_STATUS_LINE = 4096
"""The most of an http answer a probe reads: its status line, nothing more."""

MAX_PROBE_SECONDS = 3600.0
"""Periods and timeouts beyond this (or not numbers) are taken as this."""

# ``HTTP/1.x NNN reason``: the code in ASCII digits (``\xb200`` is not 200), the reason
# phrase printable or obs-text, no controls but the line's own end.
_STATUS_LINE = re.compile(rb"HTTP/1\.[01] ([1-5][0-9]{2})(?: [\t\x20-\x7e\x80-\xff]*)?\r?\n")


class ProbeFailed(Exception):
    """One failed check; the message is the reason shown in the status."""


@dataclass(frozen=True)
class HealthCheck:
    kind: str
    """``http``, ``tcp`` or ``exec``; ``invalid`` for a check the agent cannot read."""
    target: Mapping[str, Any]
    period: float = 10.0
    timeout: float = 1.0
    failure_threshold: int = 3

    @classmethod
    def parse(cls, check: Mapping[str, Any] | None) -> HealthCheck | None:
        if not check:
            return None
        try:
            kind = next(k for k in ("http", "tcp", "exec") if check.get(k))
            return cls(
                kind,
                dict(check[kind]),
                _seconds(check.get("periodSeconds"), 10.0),
                _seconds(check.get("timeoutSeconds"), 1.0),
                max(1, int(check.get("failureThreshold") or 3)),
            )
        except (StopIteration, TypeError, ValueError, OverflowError):
            # Admission should have refused it; failing the check says so in the status
            # instead of stopping the supervisor.
            return cls("invalid", {})


def _seconds(value: object, default: float) -> float:
    seconds = float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0
    return min(seconds, MAX_PROBE_SECONDS) if math.isfinite(seconds) and seconds > 0 else default


def resolve_port(ref: object, ports: Mapping[str, int]) -> int:
    """A probe names one of the workload's own ports: by name, or by a number one of
    them has. Anything else is refused, so a probe cannot be aimed at another service."""
    if isinstance(ref, str) and ref in ports:
        return ports[ref]
    if isinstance(ref, int) and not isinstance(ref, bool) and ref in ports.values():
        return ref
    raise ProbeFailed(
        f"health check refused: port {str(ref)[:32]!r} is not one of the workload's ports"
    )


def resolve_host(host: object) -> str:
    """The loopback address to connect to; never a name to look up."""
    if host is not None and not isinstance(host, str):
        raise ProbeFailed("health check refused: its host is not a string")
    if problem := probe_host_problem(host):
        raise ProbeFailed(f"health check refused: {problem}")
    return "::1" if host == "::1" else "127.0.0.1"


def resolve_path(path: object) -> str:
    text = "/" if path is None else path
    if not isinstance(text, str) or (problem := probe_path_problem(text)):
        raise ProbeFailed(f"health check refused: path {problem or 'is not a string'}")
    return text


async def probe(
    check: HealthCheck,
    ports: Mapping[str, int],
    env: Mapping[str, str],
    account: Account | None = None,
    cwd: str | None = None,
) -> None:
    """Raise ``ProbeFailed`` with a reason unless the check passes within its timeout.
    Nothing else escapes: whatever the workload answers, a probe only fails."""
    try:
        async with asyncio.timeout(check.timeout):
            await _run(check, ports, env, account, cwd)
    except ProbeFailed:
        raise
    except TimeoutError:
        raise ProbeFailed(
            f"{check.kind} health check timed out after {check.timeout:g} s"
        ) from None
    except OSError as e:
        raise ProbeFailed(f"{check.kind} health check failed: {e.strerror or e}") from e
    except Exception as e:
        raise ProbeFailed(f"{check.kind} health check failed: {type(e).__name__}") from e


async def _run(
    check: HealthCheck,
    ports: Mapping[str, int],
    env: Mapping[str, str],
    account: Account | None,
    cwd: str | None = None,
) -> None:
    if check.kind == "exec":
        await _exec(_command(check.target.get("command")), env, account, cwd)
    elif check.kind in ("http", "tcp"):
        host = resolve_host(check.target.get("host"))
        port = resolve_port(check.target.get("port"), ports)
        if check.kind == "http":
            await _http(host, port, resolve_path(check.target.get("path")))
        else:
            await _tcp(host, port)
    else:
        raise ProbeFailed("health check refused: the agent cannot read it (one of http, tcp, exec)")


def _command(command: object) -> list[str]:
    if not (isinstance(command, list) and command and all(isinstance(a, str) for a in command)):
        raise ProbeFailed("health check refused: exec.command must be a list of strings")
    return command


async def _tcp(host: str, port: int) -> None:
    _, writer = await asyncio.open_connection(host, port)
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()


async def _http(host: str, port: int, path: str) -> None:
    reader, writer = await asyncio.open_connection(host, port, limit=MAX_STATUS_LINE)
    authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        request = f"GET {path} HTTP/1.0\r\nHost: {authority}\r\nConnection: close\r\n\r\n"
        writer.write(request.encode("ascii"))
        await writer.drain()
        line = await _status_line(reader)
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    match = _STATUS_LINE.fullmatch(line)
    if match is None:
        raise ProbeFailed(f"http health check on port {port}: no HTTP answer")
    code = int(match.group(1))
    if not 200 <= code < 400:
        raise ProbeFailed(f"http health check GET {path[:64]} on port {port} answered {code}")


async def _status_line(reader: asyncio.StreamReader) -> bytes:
    try:
        return await reader.readuntil(b"\n")
    except asyncio.IncompleteReadError as e:
        return e.partial  # closed before a full line: not an answer (fails the match)
    except asyncio.LimitOverrunError:
        return b""  # a line longer than any status line


async def _exec(
    command: list[str], env: Mapping[str, str], account: Account | None, cwd: str | None = None
) -> None:
    """In the workload's working directory (``./check.sh`` of its artifact), never the
    agent's own (which may be its data dir)."""
    switch: dict[str, Any] = {}
    if account is not None:  # as the workload, never as the agent
        switch = {"user": account.uid, "group": account.gid, "extra_groups": account.groups}
    proc = await asyncio.create_subprocess_exec(
        *command,
        env=dict(env),
        cwd=cwd,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        start_new_session=True,
        **switch,
    )
    try:
        code = await proc.wait()
    finally:
        # Timed out, cancelled or done: leave nothing behind. A probe that started
        # something in the background (``cmd &``) used to leave it running, one more
        # process every period, outliving the workload itself.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        if proc.returncode is None:
            await proc.wait()
    if code != 0:
        raise ProbeFailed(f"exec health check {command[0]} exited with code {code}")
