"""A kube-apiserver on kine/SQLite (what k3s runs) from ``hack/kube``, and nothing else.

The Lease baseline needs no scheduler, controller manager or KWOK: kubelets' Lease
renewals are plain writes to the apiserver. ``ApiserverOnly`` starts kine and the
apiserver exactly as ``hack.kube.cluster.Cluster`` does (same flags, PKI and admin
token), each under ``taskset -c <cpu>`` so that the load generator has the other core.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from benchmarks.support.hubproc import pinned
from hack.kube.cluster import Cluster, HarnessError, binaries_dir, build, free_ports
from hack.kube.pki import write_pki

LEASE_NAMESPACE = "kube-node-lease"


@dataclass
class ApiserverOnly(Cluster):
    cpu: int | None = 0

    def process_names(self) -> list[str]:
        return ["kine", "kube-apiserver"]

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        write_pki(self.workdir / "pki")
        (self.workdir / "tokens.csv").write_text(
            f'{self.token},edgeplane-admin,edgeplane-admin,"system:masters"\n'
        )
        self.ports = dict(zip(("kine", "kine-metrics", "apiserver"), free_ports(3), strict=True))
        self._write_kubeconfig()
        self._spawn("kine", self._kine_args())
        self._wait_port(self.ports["kine"], "kine")
        self.start_apiserver()
        self._wait_namespace(LEASE_NAMESPACE)

    def _spawn(self, name: str, args: list[str], binary: str | None = None) -> None:
        with open(self.log(name), "ab") as log:
            self.processes[name] = subprocess.Popen(
                pinned(self.cpu, [str(self.bin_dir / (binary or name)), *args]),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def _wait_namespace(self, name: str, timeout: float = 60) -> None:
        """The apiserver creates kube-node-lease itself, shortly after it is ready."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                answer = json.loads(self.request("GET", "/api/v1/namespaces"))
                if name in {n["metadata"]["name"] for n in answer["items"]}:
                    return
            time.sleep(0.2)
        raise HarnessError(f"namespace {name} not created within {timeout}s")

    @property
    def ca_file(self) -> Path:
        return self.workdir / "pki" / "ca.crt"

    @property
    def token_file(self) -> Path:
        path = self.workdir / "admin.token"
        path.write_text(self.token + "\n")
        path.chmod(0o600)
        return path

    def pids(self) -> list[int]:
        return [p.pid for p in self.processes.values()]


@contextlib.contextmanager
def running_apiserver(cpu: int | None = 0) -> Iterator[ApiserverOnly]:
    """kine + kube-apiserver in a temporary directory, stopped at the end; the binaries
    are built (or found in the cache) by hack/kube/build."""
    try:
        bin_dir = binaries_dir()
    except HarnessError:
        bin_dir = build()
    with tempfile.TemporaryDirectory(prefix="ep-kube-bench-") as tmp:
        cluster = ApiserverOnly("bench", Path(tmp), bin_dir, nodes=0, cpu=cpu)
        try:
            cluster.start()
            yield cluster
        finally:
            cluster.stop()
