"""``dashboard.py``'s fleet: the simulator as a child process, the hub's API read directly.

Synchronous on purpose: the benchmark drives the browser with Playwright's sync API,
which refuses to run inside an event loop. ``SimRun`` starts ``edgeplane sim --sites N
--locations`` (pinned to the client CPU) and keeps its JSON lines from a reader thread;
``fleet_state`` reads every Site over the API (paged, 500 a page) and counts those
Online and those with a location; ``list_all`` is the baseline, what a dashboard without
a server-side view would pay on each page: every Site, page by page.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import httpx

from benchmarks.support.hubproc import pinned

API = "/api/v1alpha1"
PAGE = 500
ROOT = Path(__file__).resolve().parents[2]


class SimRun:
    """``edgeplane sim`` as a child: its report lines, ``quit`` on stdin to stop it."""

    def __init__(self, argv: Sequence[str], log: Path, cpu: int | None) -> None:
        self._err = open(log, "ab")  # noqa: SIM115 (closed in stop)
        self.log = log
        self.process = subprocess.Popen(
            pinned(cpu, argv),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._err,
            text=True,
            bufsize=1,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            cwd=ROOT,
        )
        self.lines: list[dict[str, Any]] = []
        self._reader = threading.Thread(target=self._read, args=(self.process.stdout,))
        self._reader.daemon = True
        self._reader.start()

    def _read(self, out: TextIO | None) -> None:
        assert out is not None
        for line in out:
            with contextlib.suppress(ValueError):
                row = json.loads(line)
                if isinstance(row, dict):
                    self.lines.append(row)

    def latest(self) -> dict[str, Any]:
        return self.lines[-1] if self.lines else {}

    def alive(self) -> bool:
        return self.process.poll() is None

    def tail(self, size: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-size:] if self.log.exists() else ""

    def stop(self) -> None:
        """``quit``, then SIGTERM, then SIGKILL: never left running."""
        if self.alive():
            with contextlib.suppress(OSError, ValueError):
                assert self.process.stdin is not None
                self.process.stdin.write("quit\n")
                self.process.stdin.flush()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.terminate()
                try:
                    self.process.wait(10)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
        with contextlib.suppress(OSError, ValueError):
            if self.process.stdin is not None:
                self.process.stdin.close()
        self._reader.join(5)
        self._err.close()


@contextlib.contextmanager
def running_sim(argv: Sequence[str], log: Path, cpu: int | None) -> Iterator[SimRun]:
    sim = SimRun(argv, log, cpu)
    try:
        yield sim
    finally:
        sim.stop()


def wait_until(
    check: Callable[[], bool], within: float, every: float, say: Callable[[], str]
) -> bool:
    """Poll ``check`` until it holds (True) or ``within`` seconds pass (False); what
    ``say`` says on stderr every 30 s."""
    deadline, said = time.monotonic() + within, time.monotonic()
    while time.monotonic() < deadline:
        if check():
            return True
        if time.monotonic() - said > 30:
            said = time.monotonic()
            print(f"  waiting: {say()}", file=sys.stderr, flush=True)
        time.sleep(every)
    return False


@dataclass(frozen=True)
class Listing:
    """One listing of every Site over the API."""

    seconds: float
    bytes: int
    """Bytes of the answers' bodies as received (the hub does not compress them)."""
    pages: int
    sites: list[dict[str, Any]]


def list_all(client: httpx.Client, page_size: int = PAGE, max_pages: int = 1000) -> Listing:
    """Every Site, ``page_size`` a page (``limit``/``continue``), timed from the first
    request to the last answer read and decoded."""
    started = time.perf_counter()
    params: dict[str, Any] = {"limit": page_size}
    sites: list[dict[str, Any]] = []
    received = pages = 0
    for _ in range(max_pages):
        answer = client.get(f"{API}/sites", params=params)
        answer.raise_for_status()
        received += answer.num_bytes_downloaded
        pages += 1
        body = answer.json()
        sites += body.get("items", [])
        token = body.get("metadata", {}).get("continue")
        if not token:
            break
        params["continue"] = token
    return Listing(time.perf_counter() - started, received, pages, sites)


@dataclass(frozen=True)
class FleetState:
    sites: int
    online: int
    located: int
    regions: dict[str, int]


def fleet_state(client: httpx.Client, prefix: str) -> FleetState:
    """How many of the simulator's Sites the hub holds Online and with a location."""
    found = [s for s in list_all(client).sites if s["metadata"]["name"].startswith(prefix)]
    regions: dict[str, int] = {}
    for site in found:
        region = (site["metadata"].get("labels") or {}).get("region", "")
        regions[region] = regions.get(region, 0) + 1
    return FleetState(
        sites=len(found),
        online=sum(1 for s in found if (s.get("status") or {}).get("phase") == "Online"),
        located=sum(1 for s in found if (s.get("spec") or {}).get("location")),
        regions=regions,
    )


def admin_client(url: str, token: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=120)
