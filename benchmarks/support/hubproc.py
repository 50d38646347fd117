"""A real hub process for the scale benchmarks: pinned to a CPU, limits raised.

Unlike ``tests/support/hub.py`` (which it reuses for ports and readiness), the hub runs
under ``taskset -c <cpu>`` so that it and the load generator do not share a core, with
the descriptor limit raised to the hard limit, and with the flags a fleet of thousands
of sites needs (``LOAD_FLAGS``: connections per peer address, joins per second).
"""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from tests.support.hub import HubProcess, wait_ready
from tests.support.ports import free_port

WANTED_NOFILE = 65536
"""Descriptors for the hub (10,000 sites' connections and more) and the load generators."""
LOAD_FLAGS = (
    "--max-connections",
    "40000",
    "--connections-per-peer",
    "4096",
    "--anonymous-rate",
    "2000",
    "--anonymous-burst",
    "4000",
    "--admin-rate",
    "100000",
    "--admin-burst",
    "100000",
    "--admin-watches",
    "1024",
    "--watch-buffer-bytes",
    str(512 * 1024 * 1024),
)
"""Limits raised past what a fleet of 10,000 sites from 64 source addresses needs (the
hub still caps connections at its descriptor limit)."""


def raise_nofile(wanted: int = WANTED_NOFILE) -> int:
    """Raise this process's descriptor limit (children inherit it) to ``wanted``, or as
    near as the hard limit allows (root may raise the hard limit too); the soft limit
    now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < wanted:
        with contextlib.suppress(OSError, ValueError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, wanted))
            soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def pinned(cpu: int | None, argv: Sequence[str]) -> list[str]:
    """``argv`` under ``taskset -c cpu`` (it execs, so the pid is the command's)."""
    if cpu is None or shutil.which("taskset") is None:
        return list(argv)
    return ["taskset", "-c", str(cpu), *argv]


@contextlib.contextmanager
def pinned_hub(
    data_dir: Path,
    *extra: str,
    cpu: int | None = 0,
    database_url: str | None = None,
    tls: bool = False,
) -> Iterator[HubProcess]:
    """A hub on 127.0.0.1 (plain HTTP unless ``tls``), pinned to ``cpu``."""
    raise_nofile()
    port = free_port()
    url = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "edgeplane.hub", "--data-dir", str(data_dir)]
    cmd += ["--listen", f"127.0.0.1:{port}", *LOAD_FLAGS, *extra]
    cmd += [] if tls else ["--plain-http"]
    cmd += ["--database-url", database_url] if database_url else []
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    log = data_dir.parent / f"hub-{port}.log"
    with open(log, "w") as out:
        process = subprocess.Popen(
            pinned(cpu, cmd),
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    hub = HubProcess(url, data_dir, process, log, tls)
    try:
        wait_ready(url, process, log, ca_file=hub.ca_file if tls else None)
        yield hub
    finally:
        hub.stop()
