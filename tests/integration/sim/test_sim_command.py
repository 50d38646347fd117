"""``edgeplane sim`` as an operator runs it, against a real hub: one JSON line per report
period with the keys of the contract, ``grow N`` on stdin, ``quit``; bad flags are
refused naming the flag; over TLS, verified with ``--ca-file``."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import httpx
import pytest

from tests.support.hub import HubProcess, running_hub

KEYS = {
    "t", "sites", "joined", "connected", "hb_sent", "hb_errors", "hb_p50_ms", "hb_p99_ms",
    "assignments", "running", "cpu_seconds", "rss_mb",
}  # fmt: skip
EDGEPLANE = [sys.executable, "-c", "from edgeplane.main import main; main()"]


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[HubProcess]:
    with running_hub(tmp_path / "hub") as hub:
        yield hub


def start(hub: HubProcess, tmp_path: Path, *flags: str) -> subprocess.Popen[str]:
    token_file = tmp_path / "admin.token"
    token_file.write_text(hub.token + "\n")
    command = [*EDGEPLANE, "sim", "--hub", hub.url, "--token-file", str(token_file), *flags]
    return subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def line_where(out: IO[str], wanted: Any, within: float = 60.0) -> dict[str, Any]:
    """The first JSON line of ``out`` for which ``wanted`` holds; every line must parse
    and carry the contract's keys."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        line = out.readline()
        assert line, "the simulator ended its output"
        stats = json.loads(line)
        assert set(stats) >= KEYS, KEYS - set(stats)
        if wanted(stats):
            return dict(stats)
    raise AssertionError(f"no line as wanted within {within} s")


def site_names(hub: HubProcess, **kwargs: Any) -> set[str]:
    answer = httpx.get(f"{hub.url}/api/v1alpha1/sites", headers=hub.headers(), **kwargs)
    return {s["metadata"]["name"] for s in answer.json()["items"]}


def test_the_command_reports_grows_and_quits(hub: HubProcess, tmp_path: Path) -> None:
    sim = start(hub, tmp_path, "--sites", "5", "--prefix", "cli", "--report-seconds", "0.5")
    assert sim.stdin is not None and sim.stdout is not None
    try:
        first = line_where(sim.stdout, lambda s: s["joined"] == 5 and s["connected"] == 5)
        assert first["sites"] == 5 and first["hb_errors"] == 0
        sim.stdin.write("grow 8\n")
        sim.stdin.flush()
        grown = line_where(sim.stdout, lambda s: s["joined"] == 8 and s["hb_sent"] > 0)
        assert grown["sites"] == 8 and grown["hb_p50_ms"] is not None
        sim.stdin.write("quit\n")
        sim.stdin.flush()
        assert sim.wait(30) == 0
    finally:
        sim.kill()
        sim.wait()
        sim.stdin.close()
        sim.stdout.close()
        assert sim.stderr is not None
        sim.stderr.close()
    assert site_names(hub) == {f"cli-0000{i}" for i in range(8)}


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        (["--sites", "-3"], "argument --sites"),
        (["--sites", "1", "--start-delay", "2:1"], "argument --start-delay"),
        (["--sites", "1", "--ca-file", "/nonexistent.pem"], "--ca-file /nonexistent.pem"),
    ],
)
def test_bad_flags_are_refused_naming_them(
    hub: HubProcess, tmp_path: Path, flags: list[str], says: str
) -> None:
    sim = start(hub, tmp_path, *flags)
    out, err = sim.communicate(timeout=60)
    assert sim.returncode == 2 and says in err and out == ""
    assert site_names(hub) == set()  # nothing joined


def test_over_tls_with_the_hubs_ca(tmp_path: Path) -> None:
    with running_hub(tmp_path / "hub", tls=True) as hub:
        flags = ["--sites", "3", "--ca-file", str(hub.ca_file), "--report-seconds", "0.5"]
        sim = start(hub, tmp_path, *flags)
        assert sim.stdin is not None and sim.stdout is not None
        try:
            line_where(sim.stdout, lambda s: s["connected"] == 3 and s["hb_sent"] > 0)
            sim.stdin.write("quit\n")
            sim.stdin.flush()
            assert sim.wait(30) == 0
        finally:
            sim.kill()
            sim.communicate()
        assert len(site_names(hub, verify=hub.verify)) == 3


def test_without_stdin_it_runs_until_sigterm(hub: HubProcess, tmp_path: Path) -> None:
    token_file = tmp_path / "admin.token"
    token_file.write_text(hub.token + "\n")
    command = [*EDGEPLANE, "sim", "--hub", hub.url, "--token-file", str(token_file)]
    command += ["--sites", "2", "--prefix", "quiet", "--report-seconds", "0.5"]
    sim = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)
    assert sim.stdout is not None
    try:
        line_where(sim.stdout, lambda s: s["connected"] == 2)
        sim.send_signal(signal.SIGTERM)
        rest = sim.stdout.read()  # to its end: the last line, printed on the way out
        assert sim.wait(30) == 0
        assert json.loads(rest.splitlines()[-1])["joined"] == 2
    finally:
        sim.kill()
        sim.wait()
        sim.stdout.close()
