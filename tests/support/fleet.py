"""A real hub and real agent processes on loopback, for integration tests of the agent.

The hub keeps one port for its whole life, so it can be stopped and started again
(an outage) at the same address the agents dial. It serves plain HTTP unless the fleet
is made with ``tls=True``; agents get their join token in a file, never on argv.

Faults between them: an agent may dial the hub through a proxy (``add_agent``'s
``hub_url``, e.g. a toxiproxy proxy's), and a fleet may run its hub and agents through
a ``wrap`` of their argv (``ip netns exec NAME ...``: a network namespace of their own)
while the test reaches the hub at ``reached_at`` (a port forwarded into it).
"""

from __future__ import annotations

import io
import os
import signal
import ssl
import subprocess
import sys
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx

from edgeplane.agent.runtimes.process.cleanup import kill_recorded
from tests.support.hub import hub_verify, wait_ready
from tests.support.ports import free_port
from tests.support.waiting import wait_until

API = "/api/v1alpha1"
ROOT = Path(__file__).resolve().parents[2]
DEMO_SERVICE = ROOT / "examples" / "demo-service"
T = TypeVar("T")
Wrap = Callable[[list[str]], list[str]]
"""What a hub's or an agent's argv is run through (``as_is``, or into a namespace)."""


def as_is(argv: list[str]) -> list[str]:
    return argv


# A hub or agent restarting (or not up yet) answers with these meanwhile.
TRANSIENT = (httpx.HTTPError, OSError, KeyError, ValueError)


def wait_for(check: Callable[..., T | None], what: str, timeout: float = 60.0) -> T:
    """``wait_until`` with a fleet's patience: transient errors count as "not yet"."""
    return wait_until(check, what, within=timeout, every=0.2, ignore=TRANSIENT)


def tarball(directory: Path, replace: dict[str, str] | None = None) -> bytes:
    """A .tar.gz of ``directory``, with some files' text replaced."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path in sorted(directory.rglob("*")):
            if path.is_dir() or "__pycache__" in path.parts:
                continue
            rel = path.relative_to(directory).as_posix()
            data = (replace or {}).get(rel, None)
            content = data.encode() if data is not None else path.read_bytes()
            info = tarfile.TarInfo(rel)
            info.size, info.mode = len(content), 0o644
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


@dataclass
class Agent:
    name: str
    data_dir: Path
    hub_url: str
    flags: list[str] = field(default_factory=list)
    process: subprocess.Popen[bytes] | None = None
    wrap: Wrap = as_is

    @property
    def log(self) -> Path:
        return self.data_dir.parent / f"{self.name}.agent.log"

    @property
    def join_token_file(self) -> Path:
        return self.data_dir.parent / f"{self.name}.join-token"

    def start(self, join: str | None = None) -> subprocess.Popen[bytes]:
        cmd = [sys.executable, "-m", "edgeplane.agent", "--hub", self.hub_url]
        cmd += ["--name", self.name, "--data-dir", str(self.data_dir), *self.flags]
        self.log.parent.mkdir(parents=True, exist_ok=True)
        if join:
            # A file, as an operator would: argv is readable by every user of the host.
            fd = os.open(self.join_token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(join + "\n")
            cmd += ["--join-token-file", str(self.join_token_file)]
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(self.wrap(cmd), stdout=out, stderr=subprocess.STDOUT)
        return self.process

    def kill9(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait()

    def stop(self, timeout: float = 30) -> int | None:
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def kill_leftovers(self) -> list[int]:
        """Kill every workload the agent's records still name (a test that ends
        mid-way must leave nothing running); the pids killed."""
        return kill_recorded(self.data_dir / "runtime" / "process")


class Fleet:
    def __init__(
        self,
        root: Path,
        tls: bool = False,
        hub_args: tuple[str, ...] = (),
        *,
        wrap: Wrap = as_is,
        port: int | None = None,
        reached_at: str | None = None,
    ) -> None:
        """``wrap``: what the hub's and the agents' argv run through; ``port``: the
        hub's (a free one by default); ``reached_at``: the URL this test reaches the
        hub at, when not the one agents dial (``hub_url``)."""
        self.root = root
        self.tls = tls
        self.hub_args = hub_args
        self.wrap = wrap
        self.port = free_port() if port is None else port
        self.hub_url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self.url = reached_at or self.hub_url
        self.hub_dir = root / "hub"
        self.hub: subprocess.Popen[str] | None = None
        self.agents: dict[str, Agent] = {}

    # -- the hub --------------------------------------------------------------------
    def start_hub(self) -> None:
        self.hub_dir.mkdir(parents=True, exist_ok=True)
        log = self.root / "hub.log"
        cmd = [sys.executable, "-m", "edgeplane.hub", "--data-dir", str(self.hub_dir)]
        cmd += ["--listen", f"127.0.0.1:{self.port}", *self.hub_args]
        cmd += [] if self.tls else ["--plain-http"]
        with open(log, "a") as out:
            env = {**os.environ, "PYTHONUNBUFFERED": "1"}
            self.hub = subprocess.Popen(
                self.wrap(cmd), stdout=out, stderr=subprocess.STDOUT, text=True, env=env
            )
        wait_ready(self.url, self.hub, log, ca_file=self.ca_file if self.tls else None)

    @property
    def ca_file(self) -> Path:
        return self.hub_dir / "tls" / "ca.crt"

    @property
    def verify(self) -> ssl.SSLContext | bool:
        """What httpx should verify this fleet's hub with."""
        return hub_verify(self.ca_file) if self.tls else True

    def stop_hub(self) -> None:
        """SIGTERM; a hub still running 30 s later is killed (so it does not leak into
        the next test) and fails the test: a hub stops in about a second."""
        if self.hub is not None and self.hub.poll() is None:
            self.hub.send_signal(signal.SIGTERM)
            try:
                self.hub.wait(30)
            except subprocess.TimeoutExpired:
                self.hub.kill()
                self.hub.wait()
                raise AssertionError(f"hub {self.hub.pid} ignored SIGTERM for 30 s") from None

    @property
    def token(self) -> str:
        return (self.hub_dir / "admin.token").read_text().strip()

    def api(self, method: str, path: str, body: Any = None, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}
        return httpx.request(
            method,
            f"{self.url}{API}{path}",
            json=body,
            headers=headers,
            timeout=30,
            verify=self.verify,
            **kwargs,
        )

    def ok(self, method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
        response = self.api(method, path, body, **kwargs)
        assert response.status_code < 300, (
            f"{method} {path}: {response.status_code} {response.text}"
        )
        return response.json() if response.content else None

    # -- sites ----------------------------------------------------------------------
    def join_token(self, labels: dict[str, str] | None = None, ttl: int = 600) -> str:
        answer = self.ok("POST", "/jointokens", {"labels": labels or {}, "ttlSeconds": ttl})
        return str(answer["token"])

    def add_agent(
        self,
        name: str,
        labels: dict[str, str] | None = None,
        *flags: str,
        hub_url: str | None = None,
    ) -> Agent:
        """A new site's agent, joined; it dials ``hub_url`` (a proxy's) when given."""
        agent = Agent(
            name,
            self.root / "sites" / name,
            hub_url or self.hub_url,
            ["--heartbeat-seconds", "2", *flags],
            wrap=self.wrap,
        )
        agent.start(join=self.join_token(labels))
        self.agents[name] = agent
        return agent

    def site_phase(self, name: str) -> str | None:
        """The site's phase, None while it has not joined."""
        response = self.api("GET", f"/sites/{name}")
        return (
            (response.json().get("status") or {}).get("phase")
            if response.status_code == 200
            else None
        )

    def push_artifact(self, name: str, version: str, data: bytes) -> dict[str, Any]:
        headers = {"Content-Type": "application/gzip"}
        response = self.api("PUT", f"/artifacts/{name}/{version}", content=data, headers=headers)
        assert response.status_code in (200, 201), response.text
        return dict(response.json())

    def assignments(self, app: str) -> dict[str, dict[str, Any]]:
        items = self.ok(
            "GET", "/assignments", params={"labelSelector": f"edgeplane.io/application={app}"}
        )
        return {i["spec"]["site"]: i for i in items["items"]}

    def running(
        self, app: str, sites: set[str], generation: int | None = None
    ) -> dict[str, Any] | None:
        """The assignments of ``app`` by site once each of ``sites`` is Running and ready."""
        found = self.assignments(app)
        if set(found) != sites:
            return None
        for item in found.values():
            status = item.get("status") or {}
            if status.get("phase") != "Running" or status.get("ready") != 1:
                return None
            if generation and status.get("observedGeneration") != item["metadata"]["generation"]:
                return None
        return found

    def close(self) -> None:
        for agent in self.agents.values():
            agent.stop()
            agent.kill_leftovers()
        self.stop_hub()


def who(url: str) -> dict[str, Any]:
    """What a demo-service instance says about itself."""
    return dict(httpx.get(url, timeout=5).json())


def endpoint(assignment: dict[str, Any]) -> str:
    return str(assignment["status"]["endpoints"][0]["url"])


def demo_app(name: str, version: str = "1.0.0", **placement: Any) -> dict[str, Any]:
    return {
        "apiVersion": "edgeplane.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": name},
        "spec": {
            "workload": {
                "process": {
                    "command": sys.executable,
                    "args": ["server.py"],
                    "artifacts": [{"name": "demo-service", "version": version}],
                    "ports": [{"name": "http"}],
                    "healthCheck": {
                        "http": {"path": "/healthz", "port": "http"},
                        "periodSeconds": 1,
                        "failureThreshold": 3,
                    },
                    "terminationGracePeriodSeconds": 5,
                }
            },
            "resources": {"cpu": "100m", "memory": "32Mi"},
            "placement": placement or {"mode": "EverySite"},
        },
    }
