"""What this host is and can hold: the inventory a Site reports, and its capacity."""

from __future__ import annotations

import dataclasses
import os
import platform
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeplane.api.quantity import Quantity, cpu_millis, memory_bytes


def memory_total_bytes(meminfo: Path = Path("/proc/meminfo")) -> int | None:
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def host_inventory(runtime: str = "process") -> dict[str, Any]:
    inventory: dict[str, Any] = {
        "arch": platform.machine(),
        "os": f"{platform.system()} {platform.release()}",
        "cpus": os.cpu_count() or 1,
        "hostname": socket.gethostname(),
        "runtime": runtime,
    }
    if (memory := memory_total_bytes()) is not None:
        inventory["memory"] = f"{memory // 1024}Ki"
    return inventory


MAX_INSTANCES = 256
"""Instances a site runs at most, of all its assignments (``--max-instances``)."""


@dataclass(frozen=True)
class Capacity:
    """CPU in millicores and memory in bytes, with the text the site reports, and how
    many instances the site runs at most (an application asking for no resources would
    otherwise have no bound: 2^31-1 replicas of nothing fit anywhere)."""

    cpu_millis: int
    memory_bytes: int
    cpu: str
    memory: str
    instances: int = MAX_INSTANCES

    @classmethod
    def of(cls, cpu: str, memory: str) -> Capacity:
        return cls(
            cpu_millis(Quantity.parse(cpu)), memory_bytes(Quantity.parse(memory)), cpu, memory
        )

    @classmethod
    def detect(
        cls, cpu: str | None, memory: str | None, instances: int = MAX_INSTANCES
    ) -> Capacity:
        """The host's capacity, or what the operator declared for this site."""
        host_memory = memory_total_bytes() or 0
        found = cls.of(cpu or str(os.cpu_count() or 1), memory or f"{host_memory // 1024}Ki")
        return dataclasses.replace(found, instances=instances)
