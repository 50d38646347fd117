"""Start and stop small real Kubernetes control planes on loopback ports.

One ``Cluster`` is kine (etcd API over SQLite), kube-apiserver (TLS, token auth,
RBAC), kube-controller-manager, kube-scheduler and KWOK, each a process with its log
in the cluster's directory. Nodes are KWOK-simulated ``Node`` objects carrying
``edgeplane.io/site`` and ``topology.kubernetes.io/zone`` labels and a capacity.

A central cluster (``pools``) has ``nodes`` nodes per pool, labelled
``edgeplane.io/pool=<pool>``, each pool's nodes simulated by a KWOK process of its own
(``kwok-<pool>``, as each edge node runs its own kubelet). ``cut_off(pool)`` stops that
process, so nobody renews those nodes' leases and the node lifecycle controller marks
them Unknown and taints them unreachable after ``node_grace_seconds``, as when an edge
site's link goes down; ``reconnect(pool)`` starts it again. (Removing KWOK's annotation
from the nodes does not do it: KWOK v0.8.0 keeps heartbeating a node it once managed.)
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from hack.kube.pki import write_pki

HERE = Path(__file__).resolve().parent
KWOK_ANNOTATION = "kwok.x-k8s.io/node"
POOL_LABEL = "edgeplane.io/pool"
PROCESS_ORDER = ("kine", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")


class HarnessError(RuntimeError):
    pass


def cache_dir() -> Path:
    default = Path.home() / ".cache" / "edgeplane" / "kube"
    return Path(os.environ.get("EDGEPLANE_KUBE_CACHE", default))


def binaries_dir() -> Path:
    """Where hack/kube/build put the binaries; HarnessError when it has not run."""
    current = cache_dir() / "current"
    missing = [n for n in (*PROCESS_ORDER, "kwok-stages.yaml") if not (current / n).exists()]
    if missing:
        raise HarnessError(f"missing {', '.join(missing)} in {current}: run hack/kube/build")
    return current.resolve()


def build() -> Path:
    """Run hack/kube/build (reusing cached binaries) and return their directory."""
    result = subprocess.run([str(HERE / "build")], capture_output=True, text=True)
    if result.returncode != 0:
        raise HarnessError(f"hack/kube/build failed:\n{result.stdout}\n{result.stderr}")
    return Path(result.stdout.strip().splitlines()[-1])


PORTS = ("kine", "kine-metrics", "apiserver", "kwok")


def free_ports(count: int) -> list[int]:
    """``count`` distinct free loopback ports (all held open at once while picked)."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in sockets]


@dataclass
class Cluster:
    name: str
    workdir: Path
    bin_dir: Path
    nodes: int = 3
    zones: tuple[str, ...] = ("zone-a", "zone-b")
    pools: tuple[str, ...] = ()
    # Node heartbeats by leases (KWOK renews them) and a short grace period: a node
    # nobody renews is NotReady within seconds instead of the default 50 s. Pods without
    # an unreachable toleration get one of the same length (the default is 300 s).
    node_grace_seconds: int | None = None
    ports: dict[str, int] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    token: str = field(default_factory=lambda: secrets.token_hex(16))

    # --- paths and addresses ---------------------------------------------------------

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.ports['apiserver']}"

    @property
    def kubeconfig(self) -> Path:
        return self.workdir / "kubeconfig.yaml"

    def log(self, process: str) -> Path:
        return self.workdir / f"{process}.log"

    def logs(self) -> str:
        """Tail of every process log, for a failing test's report."""
        parts = []
        for name in self.process_names():
            path = self.log(name)
            if path.exists():
                parts.append(f"--- {self.name}/{name} ({path}) ---\n{path.read_text()[-3000:]}")
        return "\n".join(parts)

    # --- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        write_pki(self.workdir / "pki")
        (self.workdir / "tokens.csv").write_text(
            f'{self.token},edgeplane-admin,edgeplane-admin,"system:masters"\n'
        )
        if not self.ports:
            names = self.port_names()
            self.ports = dict(zip(names, free_ports(len(names)), strict=True))
        self._write_kubeconfig()
        self._spawn("kine", self._kine_args())
        self._wait_port(self.ports["kine"], "kine")
        self.start_apiserver()
        self._spawn("kube-controller-manager", self._controller_manager_args())
        self._spawn("kube-scheduler", self._scheduler_args())
        for name in self.kwok_names():
            self._spawn(name, self._kwok_args(name), "kwok")
        self.create_nodes()

    def start_apiserver(self) -> None:
        self._spawn("kube-apiserver", self._apiserver_args())
        self.wait_ready()

    def stop_apiserver(self) -> None:
        self._stop("kube-apiserver")

    def stop(self) -> None:
        for name in reversed(self.process_names()):
            self._stop(name)

    def kwok_names(self) -> list[str]:
        return [f"kwok-{pool}" for pool in self.pools] if self.pools else ["kwok"]

    def process_names(self) -> list[str]:
        return [*PROCESS_ORDER[:-1], *self.kwok_names()]

    def port_names(self) -> list[str]:
        return [*PORTS[:-1], *self.kwok_names()]

    def _spawn(self, name: str, args: list[str], binary: str | None = None) -> None:
        with open(self.log(name), "ab") as log:
            self.processes[name] = subprocess.Popen(
                [str(self.bin_dir / (binary or name)), *args],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def _stop(self, name: str, grace: float = 10) -> None:
        process = self.processes.pop(name, None)
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def _check_alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise HarnessError(
                    f"{self.name}/{name} exited with {process.returncode}:\n"
                    f"{self.log(name).read_text()[-3000:]}"
                )

    def _wait_port(self, port: int, what: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive()
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                return
            time.sleep(0.05)
        raise HarnessError(f"{self.name}/{what} did not listen on {port} within {timeout}s")

    def request(
        self, method: str, path: str, body: object = None, content_type: str = "application/json"
    ) -> bytes:
        """A raw API call with the admin token (used before clients exist)."""
        context = ssl.create_default_context(cafile=str(self.workdir / "pki" / "ca.crt"))
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            f"{self.server}{path}",
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": content_type},
        )
        with urllib.request.urlopen(req, context=context, timeout=10) as response:
            return bytes(response.read())

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive()
            with contextlib.suppress(OSError, urllib.error.URLError):
                if self.request("GET", "/readyz") == b"ok":
                    return
            time.sleep(0.1)
        raise HarnessError(f"{self.name}/kube-apiserver not ready within {timeout}s\n{self.logs()}")

    # --- nodes -----------------------------------------------------------------------

    def node_name(self, index: int, pool: str | None = None) -> str:
        return f"{self.name}-{pool}-node-{index}" if pool else f"{self.name}-node-{index}"

    def node(self, index: int, pool: str | None = None) -> dict[str, object]:
        name = self.node_name(index, pool)
        labels = {
            "edgeplane.io/site": self.name,
            "topology.kubernetes.io/zone": self.zones[index % len(self.zones)],
            "kubernetes.io/hostname": name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
            "type": "kwok",
        }
        if pool:
            labels[POOL_LABEL] = pool
        return {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": name,
                "annotations": {KWOK_ANNOTATION: "fake", "node.alpha.kubernetes.io/ttl": "0"},
                "labels": labels,
            },
            "spec": {},
            "status": {
                "allocatable": {"cpu": "8", "memory": "32Gi", "pods": "110"},
                "capacity": {"cpu": "8", "memory": "32Gi", "pods": "110"},
                "nodeInfo": {
                    "architecture": "amd64",
                    "operatingSystem": "linux",
                    "kubeletVersion": "fake",
                    "kubeProxyVersion": "fake",
                },
                "phase": "Running",
            },
        }

    def create_nodes(self) -> None:
        for pool in self.pools or (None,):
            for index in range(self.nodes):
                self.request("POST", "/api/v1/nodes", self.node(index, pool))

    def pool_nodes(self, pool: str) -> list[str]:
        return [self.node_name(i, pool) for i in range(self.nodes)]

    def cut_off(self, pool: str) -> None:
        """Stop every heartbeat of ``pool``'s nodes, as if their link went down."""
        self._stop(f"kwok-{pool}")

    def reconnect(self, pool: str) -> None:
        """Start ``pool``'s KWOK again, which heartbeats its nodes Ready, and report
        their pods Ready again as a kubelet would (KWOK only readies pending pods)."""
        self._spawn(f"kwok-{pool}", self._kwok_args(f"kwok-{pool}"), "kwok")
        deadline = time.monotonic() + 60
        while not all(self.node_ready(n) for n in self.pool_nodes(pool)):
            if time.monotonic() > deadline:
                raise HarnessError(f"{self.name}: pool {pool} not Ready 60 s after reconnect")
            time.sleep(0.2)
        for name in self.pool_nodes(pool):
            self._ready_pods_on(name)

    def node_ready(self, name: str) -> bool:
        node = json.loads(self.request("GET", f"/api/v1/nodes/{name}"))
        conditions = node.get("status", {}).get("conditions") or []
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

    def _ready_pods_on(self, node: str) -> None:
        found = json.loads(self.request("GET", f"/api/v1/pods?fieldSelector=spec.nodeName={node}"))
        for pod in found["items"]:
            meta = pod["metadata"]
            if meta.get("deletionTimestamp") or pod["status"].get("phase") != "Running":
                continue
            conditions = [
                {**c, "status": "True"} if c["type"] in ("Ready", "ContainersReady") else c
                for c in pod["status"].get("conditions") or []
            ]
            try:
                self.request(
                    "PATCH",
                    f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/status",
                    {"status": {"conditions": conditions}},
                    "application/merge-patch+json",
                )
            except urllib.error.HTTPError as e:
                if e.code != 404:
                    raise  # a pod evicted since the list is gone: nothing to make Ready

    # --- arguments -------------------------------------------------------------------

    def _kine_args(self) -> list[str]:
        db = self.workdir / "kine.db"
        return [
            f"--listen-address=127.0.0.1:{self.ports['kine']}",
            f"--metrics-bind-address=127.0.0.1:{self.ports['kine-metrics']}",
            f"--endpoint=sqlite://{db}?_journal=WAL&cache=shared&_busy_timeout=30000",
        ]

    def _apiserver_args(self) -> list[str]:
        pki = self.workdir / "pki"
        grace = []
        if self.node_grace_seconds:
            grace = [
                f"--default-not-ready-toleration-seconds={self.node_grace_seconds}",
                f"--default-unreachable-toleration-seconds={self.node_grace_seconds}",
            ]
        return [
            *grace,
            f"--etcd-servers=http://127.0.0.1:{self.ports['kine']}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={self.ports['apiserver']}",
            f"--tls-cert-file={pki}/apiserver.crt",
            f"--tls-private-key-file={pki}/apiserver.key",
            f"--client-ca-file={pki}/ca.crt",
            f"--token-auth-file={self.workdir}/tokens.csv",
            "--authorization-mode=RBAC",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={pki}/sa.pub",
            f"--service-account-signing-key-file={pki}/sa.key",
            "--service-cluster-ip-range=10.96.0.0/16",
            "--allow-privileged=true",
            "--enable-priority-and-fairness=false",
            "--endpoint-reconciler-type=none",
            # Close watches within 2 s on SIGTERM (the default waits up to 60 s for them).
            "--shutdown-send-retry-after=true",
        ]

    def _controller_manager_args(self) -> list[str]:
        grace = []
        if self.node_grace_seconds:
            grace = [
                f"--node-monitor-grace-period={self.node_grace_seconds}s",
                "--node-monitor-period=1s",
            ]
        return [
            *grace,
            f"--kubeconfig={self.kubeconfig}",
            "--leader-elect=false",
            "--secure-port=0",
            f"--root-ca-file={self.workdir}/pki/ca.crt",
            f"--service-account-private-key-file={self.workdir}/pki/sa.key",
            "--controllers=*,-node-ipam-controller,"
            "-persistentvolume-binder-controller,-persistentvolume-attach-detach-controller",
        ]

    def _scheduler_args(self) -> list[str]:
        return [f"--kubeconfig={self.kubeconfig}", "--leader-elect=false", "--secure-port=0"]

    def _kwok_args(self, name: str) -> list[str]:
        # KWOK's own status heartbeat comes every 20 to 45 s, longer than a short grace
        # period; a lease renewed by KWOK is the heartbeat the lifecycle controller reads.
        lease = [f"--node-lease-duration-seconds={self.node_grace_seconds}"]
        pool = name.removeprefix("kwok-")
        nodes = (
            f"--manage-nodes-with-label-selector={POOL_LABEL}={pool}"
            if self.pools
            else f"--manage-nodes-with-annotation-selector={KWOK_ANNOTATION}=fake"
        )
        return [
            *(lease if self.node_grace_seconds else []),
            f"--kubeconfig={self.kubeconfig}",
            f"--config={self.bin_dir / 'kwok-stages.yaml'}",
            "--manage-all-nodes=false",
            nodes,
            "--cidr=10.244.0.1/16",
            "--node-ip=10.0.0.1",
            f"--server-address=127.0.0.1:{self.ports[name]}",
        ]

    def _write_kubeconfig(self) -> None:
        ca = self.workdir / "pki" / "ca.crt"
        self.kubeconfig.write_text(
            json.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "current-context": self.name,
                    "clusters": [
                        {
                            "name": self.name,
                            "cluster": {
                                "server": f"https://127.0.0.1:{self.ports['apiserver']}",
                                "certificate-authority": str(ca),
                            },
                        }
                    ],
                    "users": [{"name": "admin", "user": {"token": self.token}}],
                    "contexts": [
                        {"name": self.name, "context": {"cluster": self.name, "user": "admin"}}
                    ],
                },
                indent=2,
            )
        )
        self.kubeconfig.chmod(0o600)
