"""`make demo`: a hub on SQLite plus six local sites, each with its own agent process.

1. starts ``edgeplane hub`` in ``./.edgeplane/hub``: HTTPS with the hub's own CA (it
   writes the CLI context "local", which trusts that CA);
2. pushes ``examples/demo-service`` as an artifact;
3. for each site in ``examples/10-sites.yaml`` makes a join token with its labels (it
   pins the hub's CA) and starts ``edgeplane agent`` with its own data dir
   (``./.edgeplane/sites/<name>``), the token in a file rather than on its command line;
4. applies ``examples/`` (site specs, site groups, policies, two applications);
5. waits until every application is Running where placement put it, calls each
   instance over HTTP, and prints where it runs and how to reach it;
6. simulates a Modbus PLC and an OPC UA server on loopback (``scripts/demo_devices.py``)
   and waits until lyon-factory's agent has discovered both as Devices.

Ctrl-C stops the agents (which stop their workloads) and the hub. ``--check`` does the
same without waiting for the user, and exits 0 only if every application ran where
expected and nothing was left running afterwards.

``--kubernetes`` (``make demo ARGS=--kubernetes``) adds real Kubernetes control planes
from ``hack/kube`` (scripts/demo_kubernetes.py): two single-cluster sites and a central
cluster with two node pools, four more agents run with ``--runtime kubernetes``, and the
applications of ``examples/demo-kubernetes``; ``--check`` then also reads every
kubernetes assignment's Deployments from its cluster.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import demo_devices  # beside this script
import httpx
import yaml

from edgeplane.agent.runtimes.process.cleanup import kill_recorded

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent / "edgeplane"
API = "/api/v1alpha1"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Run the edgeplane demo.")
    parser.add_argument("--check", action="store_true", help="verify, stop and exit")
    parser.add_argument("--data-dir", default=str(ROOT / ".edgeplane"))
    parser.add_argument("--listen", default="127.0.0.1:8080")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds to converge")
    parser.add_argument(
        "--kubernetes",
        action="store_true",
        help="add Kubernetes sites: two clusters and two node pools of a central one",
    )
    return parser.parse_args()


def demo_sites() -> list[tuple[str, dict[str, str]]]:
    docs = yaml.safe_load_all((ROOT / "examples/10-sites.yaml").read_text())
    return [(d["metadata"]["name"], d["metadata"].get("labels") or {}) for d in docs if d]


class Fleet:
    """The demo's processes: one hub and one agent per site."""

    def __init__(self, data_dir: Path, listen: str) -> None:
        self.data_dir, self.listen = data_dir, listen
        self.server = f"https://{listen}"
        self.ca_file = data_dir / "hub" / "tls" / "ca.crt"
        self.hub: subprocess.Popen[bytes] | None = None
        self.agents: dict[str, subprocess.Popen[bytes]] = {}
        self.env = dict(os.environ)
        self.clusters: Any = None  # demo_kubernetes.Clusters, imported only when asked
        self.devices: demo_devices.Devices | None = None

    def start_hub(self) -> None:
        hub_dir = self.data_dir / "hub"
        hub_dir.mkdir(parents=True, exist_ok=True)
        cmd = [str(BIN), "hub", "--data-dir", str(hub_dir), "--listen", self.listen]
        self.hub = subprocess.Popen(cmd)
        self._wait_ready()
        token = (hub_dir / "admin.token").read_text().strip()
        self.env.update(
            EDGEPLANE_SERVER=self.server,
            EDGEPLANE_TOKEN=token,
            EDGEPLANE_CERTIFICATE_AUTHORITY=str(self.ca_file),
        )

    @property
    def verify(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))

    def _wait_ready(self, timeout: float = 60) -> None:
        assert self.hub is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.hub.poll() is not None:
                code = self.hub.returncode
                sys.exit(f"demo: the hub exited with code {code} (is {self.server} in use?)")
            try:
                ready = self.ca_file.exists() and httpx.get(
                    f"{self.server}/readyz", timeout=1, verify=self.verify
                )
                if ready and ready.status_code == 200:
                    return
            except (httpx.HTTPError, ssl.SSLError):
                pass
            time.sleep(0.1)
        sys.exit(f"demo: the hub at {self.server} did not become ready within {timeout:.0f}s")

    def cli(self, *args: str, quiet: bool = False) -> str:
        if not quiet:
            print(f"\n$ edgeplane {' '.join(args)}", flush=True)
        done = subprocess.run([str(BIN), *args], env=self.env, capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"demo: `edgeplane {' '.join(args)}` failed:\n{done.stdout}{done.stderr}")
        if not quiet:
            print(done.stdout, end="", flush=True)
        return done.stdout

    def start_agent(
        self, name: str, labels: dict[str, str], runtime: list[str] | None = None
    ) -> None:
        """An agent of the process runtime, or of the one ``runtime`` flags choose."""
        site_dir = self.data_dir / "sites" / name
        site_dir.mkdir(parents=True, exist_ok=True)
        cmd = [str(BIN), "agent", "--hub", self.server, "--name", name]
        cmd += ["--data-dir", str(site_dir), "--heartbeat-seconds", "5"]
        cmd += runtime or [
            *("--cpu", "2", "--memory", "2Gi", "--stop-workloads-on-exit"),
            *("--workload-dir", str(self.data_dir / "workloads" / name)),
        ]
        if not (site_dir / "credential").exists():
            pairs = ",".join(f"{k}={v}" for k, v in labels.items())
            answer = json.loads(
                self.cli(
                    "site", "token", "--labels", pairs, "--ttl", "10m", "-o", "json", quiet=True
                )
            )
            # In a file only we can read: a command line is visible to every user.
            token_file = self.join_token_file(name)
            fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(answer["token"] + "\n")
            cmd += ["--join-token-file", str(token_file)]
        log = open(site_dir / "agent.log", "ab")  # noqa: SIM115 - the agent owns it
        self.agents[name] = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        print(f"  agent for {name:<18} {pairs_of(labels)}  (log: {site_dir / 'agent.log'})")

    def join_token_file(self, name: str) -> Path:
        return self.data_dir / "sites" / f"{name}.join-token"

    def stop(self) -> None:
        for agent in self.agents.values():
            if agent.poll() is None:
                agent.send_signal(signal.SIGTERM)
        for agent in self.agents.values():
            try:
                agent.wait(timeout=60)
            except subprocess.TimeoutExpired:
                agent.kill()
        for name in self.agents:
            kill_recorded(self.data_dir / "sites" / name / "runtime" / "process")
        if self.clusters is not None:
            self.clusters.stop()
        if self.devices is not None:
            self.devices.stop()
        if self.hub is not None and self.hub.poll() is None:
            self.hub.send_signal(signal.SIGTERM)
            self.hub.wait(timeout=30)


def pairs_of(labels: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in labels.items())


def get(fleet: Fleet, path: str) -> Any:
    headers = {"Authorization": f"Bearer {fleet.env['EDGEPLANE_TOKEN']}"}
    response = httpx.get(
        f"{fleet.server}{API}/{path}", headers=headers, timeout=10, verify=fleet.verify
    )
    response.raise_for_status()
    return response.json()


def wait_online(fleet: Fleet, names: list[str], timeout: float) -> None:
    """Until every agent has joined and reported its site Online."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        phases = {
            s["metadata"]["name"]: (s.get("status") or {}).get("phase")
            for s in get(fleet, "sites")["items"]
        }
        if all(phases.get(n) == "Online" for n in names):
            for name in names:  # used up: single-use tokens are worth nothing now
                fleet.join_token_file(name).unlink(missing_ok=True)
            return
        for name, agent in fleet.agents.items():
            if agent.poll() is not None:
                raise SystemExit(f"demo: the agent of {name} exited with {agent.returncode}")
        time.sleep(0.2)
    raise SystemExit(f"demo: not every site came Online within {timeout:.0f}s")


def converged(fleet: Fleet, apps: list[str]) -> tuple[bool, str]:
    """Whether every application is ready everywhere it is placed, and what is missing."""
    for app in apps:
        status = get(fleet, f"applications/{app}").get("status") or {}
        want, ready = status.get("replicas") or 0, status.get("ready") or 0
        if want == 0 or ready < want or status.get("unplaced"):
            return False, f"{app}: {ready}/{want} ready {status.get('message') or ''}".strip()
    # Each instance too: a kubernetes assignment's ready counts pods, so an application's
    # sum can reach its count of sites while one site still starts.
    for item in get(fleet, "assignments")["items"]:
        phase = (item.get("status") or {}).get("phase")
        if item["spec"]["application"] in apps and phase != "Running":
            return False, f"{item['spec']['application']} at {item['spec']['site']}: {phase}"
    return True, ""


def wait_converged(fleet: Fleet, apps: list[str], timeout: float) -> float:
    started = time.monotonic()
    why = ""
    while time.monotonic() - started < timeout:
        done, why = converged(fleet, apps)
        if done:
            return time.monotonic() - started
        for name, agent in fleet.agents.items():
            if agent.poll() is not None:
                raise SystemExit(f"demo: the agent of {name} exited with {agent.returncode}")
        time.sleep(0.5)
    raise SystemExit(f"demo: not converged within {timeout:.0f}s: {why}")


def endpoints(fleet: Fleet) -> list[tuple[str, str, str, str]]:
    """(application, site, phase, url) of every assignment."""
    rows = []
    for item in get(fleet, "assignments")["items"]:
        status = item.get("status") or {}
        urls = [e.get("url", "") for e in status.get("endpoints") or []]
        rows.append(
            (
                item["spec"]["application"],
                item["spec"]["site"],
                status.get("phase", "-"),
                urls[0] if urls else "-",
            )
        )
    return sorted(rows)


def call_each(rows: list[tuple[str, str, str, str]]) -> list[str]:
    """Ask every instance who it is; the problems found."""
    problems = []
    for app, site, _, url in rows:
        if url == "-":
            continue  # a kubernetes instance: its cluster is asked instead
        try:
            facts = httpx.get(url, timeout=5).json()
        except (httpx.HTTPError, ValueError) as e:
            problems.append(f"{app} at {site}: {url} did not answer ({e})")
            continue
        if (facts.get("application"), facts.get("site")) != (app, site):
            problems.append(f"{app} at {site}: {url} answered as {facts}")
    return problems


def still_listening(rows: list[tuple[str, str, str, str]]) -> list[str]:
    left = []
    for app, site, _, url in rows:
        if url == "-":
            continue
        host, _, port = url.removeprefix("http://").partition(":")
        with socket.socket() as s:
            s.settimeout(1)
            if s.connect_ex((host, int(port))) == 0:
                left.append(f"{app} at {site} ({url})")
    return left


def check_dashboard(fleet: Fleet, names: list[str]) -> list[str]:
    """Sign in to the dashboard as a browser would and find every site in its table."""
    token = fleet.env["EDGEPLANE_TOKEN"]
    with httpx.Client(base_url=fleet.server, verify=fleet.verify, timeout=30) as browser:
        signed_in = browser.post("/ui/login", data={"token": token})
        page = browser.get("/ui/sites").text if signed_in.status_code == 303 else ""
    missing = [name for name in names if f'id="site-{name}"' not in page]
    if signed_in.status_code != 303 or missing:
        return [f"dashboard: sign-in answered {signed_in.status_code}, sites missing: {missing}"]
    print(f"\ndashboard: signed in at {fleet.server}/ui/ and found all {len(names)} sites")
    return []


def run(fleet: Fleet, args: argparse.Namespace) -> int:
    fleet.start_hub()
    fleet.cli(
        "artifact",
        "push",
        str(ROOT / "examples/demo-service"),
        "--name",
        "demo-service",
        "--version",
        "1.0.0",
    )
    print("\nStarting one agent per site:")
    for name, labels in demo_sites():
        fleet.start_agent(name, labels)
    names = [name for name, _ in demo_sites()] + start_kubernetes(fleet, args)
    wait_online(fleet, names, args.timeout)
    fleet.devices = demo_devices.Devices(fleet.data_dir)
    fleet.cli("apply", "-f", str(ROOT / "examples"))
    fleet.cli("apply", "-f", str(fleet.devices.start()))
    if fleet.clusters is not None:
        fleet.cli("apply", "-f", str(ROOT / "examples" / "demo-kubernetes"))
    apps = [i["metadata"]["name"] for i in get(fleet, "applications")["items"]]
    print(f"\nWaiting for {', '.join(apps)} to run where they are placed ...", flush=True)
    seconds = wait_converged(fleet, apps, args.timeout)
    print(f"converged in {seconds:.1f} s")
    fleet.cli("get", "sites", "-o", "wide")
    fleet.cli("get", "applications", "-o", "wide")
    rows = endpoints(fleet)
    print("\nWhere each application runs and how to reach it:")
    for app, site, phase, url in rows:
        if url != "-":
            print(f"  {app:<15} {site:<18} {phase:<9} curl -s {url}")
    problems = call_each(rows)
    problems += check_dashboard(fleet, names)
    problems += fleet.devices.wait_found(lambda: get(fleet, "devices")["items"], args.timeout)
    fleet.cli("get", "devices")
    if fleet.clusters is not None:
        assignments = get(fleet, "assignments")["items"]
        print("\nKubernetes instances, as their clusters hold them:")
        print("\n".join(fleet.clusters.table(assignments)))
        problems += fleet.clusters.problems(assignments)
    for problem in problems:
        print(f"  PROBLEM: {problem}")
    if args.check:
        fleet.stop()
        left = still_listening(rows)
        if problems or left:
            print(f"demo check FAILED: {problems + [f'still running: {x}' for x in left]}")
            return 1
        answered = "ran and answered"
        if fleet.clusters is not None:
            kube = sum(1 for row in rows if row[3] == "-")
            answered += f" ({len(rows) - kube} over HTTP, {kube} Ready in their clusters)"
        print(
            f"demo check passed: {len(rows)} instances of {len(apps)} applications "
            f"{answered}; all stopped"
        )
        return 0
    print(TOUR.format(server=fleet.server, data_dir=fleet.data_dir), flush=True)
    if fleet.clusters is not None:
        print(KUBE_TOUR, flush=True)
    assert fleet.hub is not None
    fleet.hub.wait()
    return 0


def start_kubernetes(fleet: Fleet, args: argparse.Namespace) -> list[str]:
    """With --kubernetes: the control planes and one agent per Kubernetes site; their names."""
    if not args.kubernetes:
        return []
    import demo_kubernetes  # beside this script; only --kubernetes needs hack/kube

    print("\nStarting Kubernetes control planes (hack/kube: kine, apiserver, controllers, KWOK):")
    fleet.clusters = demo_kubernetes.Clusters(fleet.data_dir)
    fleet.clusters.start()
    for site in demo_kubernetes.SITES:
        fleet.start_agent(site.name, site.labels, fleet.clusters.agent_flags(site))
    return [site.name for site in demo_kubernetes.SITES]


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> int:
    # Ctrl-C, and SIGTERM from a supervisor, stop the whole fleet; set both explicitly,
    # since a shell that starts the demo in the background ignores SIGINT for it.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    args = parse_args()
    fleet = Fleet(Path(args.data_dir), args.listen)
    try:
        return run(fleet, args)
    except KeyboardInterrupt:
        print("\nstopping the agents (and their workloads) and the hub ...")
        return 0
    finally:
        fleet.stop()


TOUR = """
The hub runs at {server} with six agents; everything lives in {data_dir}.
The dashboard is at {server}/ui/: sign in with the token in {data_dir}/hub/admin.token
(the browser will not know the hub's own CA, {data_dir}/hub/tls/ca.crt: trust it or
accept the warning). The CLI context "local" points at the hub. Try:

  .venv/bin/edgeplane get sites -o wide
  .venv/bin/edgeplane get apps -o wide
  .venv/bin/edgeplane get assignments
  .venv/bin/edgeplane get devices --site lyon-factory -o wide
  .venv/bin/edgeplane logs shelf-monitor --site dublin-store-1 --tail 20
  .venv/bin/edgeplane get apps -w          # in another terminal, then edit replicas

Press Ctrl-C to stop the agents, their workloads and the hub.
"""

KUBE_TOUR = """With --kubernetes, four of the sites are Kubernetes: each line of "Kubernetes
instances" above has the kubectl command to look inside (any Kubernetes client works
with those kubeconfigs). Try:

  .venv/bin/edgeplane explain shelf-monitor   # why no process runs on a cluster site
  .venv/bin/edgeplane get assignments -o wide
"""

if __name__ == "__main__":
    sys.exit(main())
