"""`make demo ARGS=--check` from start to finish, as a user runs it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_demo(tmp_path: Path, port: int) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "EDGEPLANE_CONFIG": str(tmp_path / "config.yaml")}
    env.pop("EDGEPLANE_SERVER", None)
    env.pop("EDGEPLANE_TOKEN", None)
    cmd = [sys.executable, str(ROOT / "scripts/demo.py"), "--check"]
    cmd += ["--data-dir", str(tmp_path / "hub"), "--listen", f"127.0.0.1:{port}"]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)


def test_demo_check_applies_examples_and_twice_is_unchanged(tmp_path: Path) -> None:
    port = free_port()
    first = run_demo(tmp_path, port)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "created" in first.stdout
    assert "demo check passed" in first.stdout
    assert (tmp_path / "hub" / "admin.token").stat().st_mode & 0o777 == 0o600
    assert "local" in (tmp_path / "config.yaml").read_text()

    second = run_demo(tmp_path, port)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "unchanged" in second.stdout
    assert "created" not in second.stdout
