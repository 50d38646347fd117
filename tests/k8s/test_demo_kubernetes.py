"""`make demo ARGS="--kubernetes --check"` from start to finish, as a user runs it: a hub,
six process sites, two single-cluster sites and two node pools of a central cluster
(real control planes of its own from hack/kube), one application of each kind."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.test_demo import running_processes
from tests.k8s.conftest import BUILD_PROBLEM, unavailable
from tests.support.ports import free_port

ROOT = Path(__file__).resolve().parents[2]


def test_demo_with_kubernetes_sites_checks_every_instance(
    tmp_path: Path, pytestconfig: pytest.Config
) -> None:
    if problem := pytestconfig.stash.get(BUILD_PROBLEM, "hack/kube/build did not run"):
        unavailable(problem)
    env = {**os.environ, "EDGEPLANE_CONFIG": str(tmp_path / "config.yaml")}
    env.pop("EDGEPLANE_SERVER", None)
    env.pop("EDGEPLANE_TOKEN", None)
    cmd = [sys.executable, str(ROOT / "scripts/demo.py"), "--check", "--kubernetes"]
    cmd += ["--data-dir", str(tmp_path / "demo"), "--listen", f"127.0.0.1:{free_port()}"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert (
        "demo check passed: 11 instances of 4 applications ran and answered "
        "(7 over HTTP, 4 Ready in their clusters); all stopped"
    ) in done.stdout, out
    for site in ("k8s-zurich", "k8s-oslo", "central-pool-a", "central-pool-b"):
        assert f"storefront      {site}" in out or f"line-sensor     {site}" in out, site
    assert "2 site(s) run kubernetes, the workload is process" in out
    assert running_processes(tmp_path) == []
