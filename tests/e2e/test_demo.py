"""`make demo ARGS=--check` from start to finish, as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.ports import free_port

ROOT = Path(__file__).resolve().parents[2]


def run_demo(tmp_path: Path, port: int) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "EDGEPLANE_CONFIG": str(tmp_path / "config.yaml")}
    env.pop("EDGEPLANE_SERVER", None)
    env.pop("EDGEPLANE_TOKEN", None)
    cmd = [sys.executable, str(ROOT / "scripts/demo.py"), "--check"]
    cmd += ["--data-dir", str(tmp_path / "hub"), "--listen", f"127.0.0.1:{port}"]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)


def running_processes(data_dir: Path) -> list[str]:
    """Command lines of processes that still use the demo's data dir."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            cwd = os.readlink(proc / "cwd")
        except OSError:
            continue
        if str(data_dir) in cmdline or cwd.startswith(str(data_dir)):
            found.append(cmdline)
    return found


def test_demo_check_runs_everything_and_twice_is_unchanged(tmp_path: Path) -> None:
    port = free_port()
    first = run_demo(tmp_path, port)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "demo check passed: 7 instances of 2 applications ran and answered" in first.stdout
    assert "artifact demo-service:1.0.0 created" in first.stdout
    assert "application/shelf-monitor created" in first.stdout
    assert "discoveryprofile/factory-devices created" in first.stdout
    discovered = [line.split()[:5] for line in first.stdout.splitlines() if ".modbus-" in line]
    assert discovered and discovered[0][1:5] == ["lyon-factory", "plc", "modbus", "Available"]
    assert (tmp_path / "hub" / "hub" / "admin.token").stat().st_mode & 0o777 == 0o600
    sites = sorted(p.name for p in (tmp_path / "hub" / "sites").iterdir())
    assert len(sites) == 6
    for site in sites:
        credential = tmp_path / "hub" / "sites" / site / "credential"
        assert credential.stat().st_mode & 0o777 == 0o600
    assert "local" in (tmp_path / "config.yaml").read_text()
    assert running_processes(tmp_path) == []

    second = run_demo(tmp_path, port)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "artifact demo-service:1.0.0 unchanged" in second.stdout
    assert " created" not in second.stdout
    assert "demo check passed" in second.stdout
    assert running_processes(tmp_path) == []
