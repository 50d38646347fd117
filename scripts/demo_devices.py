"""The demo's devices: a Modbus PLC and an OPC UA server simulated on loopback
(``edgeplane.sim.devices``), and a DiscoveryProfile that has the factory site's agent
find them (``site-type: factory`` is lyon-factory's label in examples/10-sites.yaml).
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

SITE = "lyon-factory"
KINDS = ("modbus", "opcua")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Devices:
    def __init__(self, data_dir: Path) -> None:
        self.dir = data_dir / "devices"
        self.ports = {kind: _free_port() for kind in KINDS}
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self) -> Path:
        """Start the simulators; the profile to apply."""
        self.dir.mkdir(parents=True, exist_ok=True)
        print(f"\nSimulating devices at {SITE}:")
        for kind, port in self.ports.items():
            log = open(self.dir / f"{kind}.log", "ab")  # noqa: SIM115 - the simulator owns it
            cmd = [sys.executable, "-m", "edgeplane.sim.devices", kind, str(port)]
            self.processes.append(subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT))
            print(f"  {kind:<7} on 127.0.0.1:{port}  (log: {self.dir / f'{kind}.log'})")
        profile = self.dir / "discoveryprofile.yaml"
        profile.write_text(yaml.safe_dump(self.profile(), sort_keys=False))
        return profile

    def profile(self) -> dict[str, Any]:
        return {
            "apiVersion": "edgeplane.io/v1alpha1",
            "kind": "DiscoveryProfile",
            "metadata": {"name": "factory-devices"},
            "spec": {
                "siteSelector": {"matchLabels": {"site-type": "factory"}},
                "intervalSeconds": 10,
                "labels": {"line": "assembly"},
                "modbus": {"hosts": ["127.0.0.1"], "ports": [self.ports["modbus"]]},
                "opcua": {"endpoints": [f"opc.tcp://127.0.0.1:{self.ports['opcua']}/"]},
            },
        }

    def wait_found(self, devices: Callable[[], list[dict[str, Any]]], timeout: float) -> list[str]:
        """Until both are Devices of the factory, Available; the problems otherwise."""
        deadline = time.monotonic() + timeout
        print(f"\nWaiting for {SITE}'s agent to discover its devices ...", flush=True)
        while True:
            found = {
                d["spec"].get("protocol")
                for d in devices()
                if d["spec"].get("site") == SITE
                and (d.get("status") or {}).get("phase") == "Available"
            }
            if found >= set(KINDS):
                return []
            if time.monotonic() > deadline:
                return [f"devices not discovered at {SITE}: {sorted(set(KINDS) - found)}"]
            time.sleep(1)

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
