"""Probes: aimed only at the workload's own ports on loopback, with a request line built
from checked parts, and answers read strictly (the status line alone, bounded in size
and time). Whatever comes back, a probe passes or raises ``ProbeFailed``, nothing else.

Real sockets on loopback: a tiny asyncio server answers what each case says.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from edgeplane.agent.runtimes import InstanceSpec
from edgeplane.agent.runtimes.process import ProcessRuntime, Timings
from edgeplane.agent.runtimes.process.probes import (
    MAX_STATUS_LINE,
    HealthCheck,
    ProbeFailed,
    probe,
)
from edgeplane.agent.runtimes.process.processes import proc_stat
from tests.support.waiting import wait_until_async

Answer = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Answer], Awaitable[int]]]:
    servers: list[asyncio.Server] = []
    requests: list[bytes] = []

    async def start(answer: Answer) -> int:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            requests.append(await reader.readuntil(b"\r\n\r\n"))
            try:
                await answer(reader, writer)
            finally:
                writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        servers.append(server)
        return int(server.sockets[0].getsockname()[1])

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


def replying(data: bytes) -> Answer:
    async def answer(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(data)
        await writer.drain()

    return answer


async def silent(reader: asyncio.StreamReader, _: asyncio.StreamWriter) -> None:
    await reader.read()  # never answers; the probe's timeout ends it


def http(port: Any = "http", **target: Any) -> HealthCheck:
    check = HealthCheck.parse({"http": {"port": port, **target}, "timeoutSeconds": 0.5})
    assert check is not None
    return check


ANSWERS = [
    ("ok", b"HTTP/1.0 200 OK\r\n\r\n", None),
    ("ok-1.1-no-reason", b"HTTP/1.1 204\r\n\r\n", None),
    ("redirect", b"HTTP/1.1 302 Found\r\nLocation: /\r\n\r\n", None),
    ("superscript-two", b"HTTP/1.0 \xb200 OK\r\n\r\n", "no HTTP answer"),
    ("arabic-digits", "HTTP/1.0 \u0662\u0660\u0660 OK\r\n".encode(), "no HTTP answer"),
    ("server-error", b"HTTP/1.0 500 Oops\r\n\r\n", "answered 500"),
    ("not-http", b"SSH-2.0-OpenSSH_9.6\r\n", "no HTTP answer"),
    ("nul-in-reason", b"HTTP/1.0 200 O\x00K\r\n\r\n", "no HTTP answer"),
    ("no-line-end", b"HTTP/1.0 200 OK", "no HTTP answer"),
    ("empty", b"", "no HTTP answer"),
    ("huge-line", b"HTTP/1.0 200 " + b"x" * (MAX_STATUS_LINE * 4) + b"\r\n", "no HTTP answer"),
]


@pytest.mark.parametrize(("data", "error"), [a[1:] for a in ANSWERS], ids=[a[0] for a in ANSWERS])
async def test_http_answers_are_parsed_strictly(
    serve: Callable[[Answer], Awaitable[int]], data: bytes, error: str | None
) -> None:
    port = await serve(replying(data))
    if error is None:
        await probe(http(), {"http": port}, {})
        return
    with pytest.raises(ProbeFailed, match=error):
        await probe(http(), {"http": port}, {})


async def test_a_silent_workload_times_out(serve: Callable[[Answer], Awaitable[int]]) -> None:
    port = await serve(silent)
    with pytest.raises(ProbeFailed, match=r"timed out after 0\.5 s"):
        await probe(http(), {"http": port}, {})


REFUSED = [
    ("other-host", http(host="10.0.0.1"), "reach only the workload itself"),
    ("name-to-resolve", http(host="metadata.internal"), "reach only the workload itself"),
    ("crlf-in-path", http(path="/a\r\nHost: evil"), "path must start with '/'"),
    ("space-in-path", http(path="/a HTTP/1.1"), "path must start with '/'"),
    ("non-ascii-path", http(path="/\u00e9"), "path must start with '/'"),
    ("undeclared-number", http(port=22), "port '22' is not one of the workload's ports"),
    ("undeclared-name", http(port="admin"), "port 'admin' is not one of the workload's ports"),
    ("number-as-text", http(port="8080"), "port '8080' is not one of the workload's ports"),
    ("unreadable", HealthCheck.parse({"grpc": {"port": 1}}), "the agent cannot read it"),
    ("exec-not-a-list", HealthCheck.parse({"exec": {"command": "true"}}), "list of strings"),
]


@pytest.mark.parametrize(("check", "error"), [r[1:] for r in REFUSED], ids=[r[0] for r in REFUSED])
async def test_probes_elsewhere_are_refused_without_connecting(
    check: HealthCheck, error: str
) -> None:
    # Port 8080 is "ours" by number; nothing listens there, and nothing is dialled.
    with pytest.raises(ProbeFailed, match=f"refused: .*{error}"):
        await probe(check, {"http": 9, "other": 8080}, {})


async def test_the_request_line_holds_only_the_checked_path(
    serve: Callable[[Answer], Awaitable[int]],
) -> None:
    seen: list[bytes] = []

    async def record(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.0 200 OK\r\n\r\n")
        await writer.drain()

    port = await serve(record)
    original = asyncio.open_connection

    async def spy(*args: Any, **kwargs: Any) -> Any:
        reader, writer = await original(*args, **kwargs)
        write = writer.write

        def spied(data: bytes | bytearray | memoryview) -> None:
            seen.append(bytes(data))
            write(data)

        writer.write = spied  # type: ignore[method-assign]
        return reader, writer

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(asyncio, "open_connection", spy)
        await probe(http(path="/healthz?full=1"), {"http": port}, {})
    assert seen == [
        f"GET /healthz?full=1 HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n"
        "Connection: close\r\n\r\n".encode()
    ]


@pytest.mark.parametrize(
    "raw",
    [
        {"http": {"port": "http"}, "periodSeconds": float("nan")},
        {"http": {"port": "http"}, "timeoutSeconds": -1},
    ],
    ids=["nan-period", "negative-timeout"],
)
def test_unusable_numbers_fall_back_to_the_defaults(raw: dict[str, Any]) -> None:
    check = HealthCheck.parse(raw)
    assert check is not None and (check.period, check.timeout) == (10.0, 1.0)


async def test_an_exec_probe_leaves_nothing_running(tmp_path: Path) -> None:
    """What an exec probe starts in the background goes when the probe is done: it
    used to stay, one more process every period, after the workload was gone too."""
    pid_file = tmp_path / "pid"
    command = ["sh", "-c", f"sleep 300 & echo $! > {pid_file}; exit 0"]
    await probe(HealthCheck("exec", {"command": command}, timeout=5.0), {}, {})
    pid = int(pid_file.read_text())
    for _ in range(100):
        stat = proc_stat(pid)
        if stat is None or stat[0] == "Z":  # gone, or dead and not yet reaped by init
            return
        await asyncio.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    raise AssertionError(f"the probe's background process {pid} still runs")


async def test_an_exec_probe_runs_in_the_workloads_working_directory(tmp_path: Path) -> None:
    """``./check.sh`` is the workload's: the probe ran in the agent's own working
    directory instead (where no such script is, or the agent's data dir)."""
    runtime = ProcessRuntime(tmp_path / "runtime", timings=Timings(poll_seconds=0.05))
    await runtime.start()
    make = "import os, time\nopen('ok.sh', 'w').write('#!/bin/sh\\nexit 0\\n')\n"
    make += "os.chmod('ok.sh', 0o755)\ntime.sleep(600)"
    workload = {
        "command": sys.executable,
        "args": ["-c", make],
        "healthCheck": {"exec": {"command": ["./ok.sh"]}, "periodSeconds": 1},
    }
    try:
        await runtime.ensure(InstanceSpec("probed", 1, workload))
        await wait_until_async(lambda: runtime.statuses()["probed"].ready, "ready by ./ok.sh", 15)
    finally:
        await runtime.remove("probed")
        await runtime.close()
