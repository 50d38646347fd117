"""Several clusters under one directory, started in parallel, with a state file
(``state.json``) so that ``python -m hack.kube down`` finds and stops them later."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from hack.kube.cluster import PORTS, PROCESS_ORDER, Cluster, HarnessError, binaries_dir, free_ports
from hack.kube.processes import binary_of, runs, stop_groups


@dataclass
class Fleet:
    """N clusters under one directory, with a state file so ``down`` finds them."""

    root: Path
    clusters: list[Cluster] = field(default_factory=list)

    def up(
        self,
        count: int,
        nodes: int = 3,
        pools: tuple[str, ...] = (),
        pool_nodes: int = 2,
        node_grace_seconds: int = 8,
    ) -> list[Cluster]:
        """``count`` single-site clusters ``site-N``, then, given ``pools``, one central
        cluster ``central`` with ``pool_nodes`` nodes per pool (last in the list)."""
        bin_dir = binaries_dir()
        self._refuse_if_running()
        self.root.mkdir(parents=True, exist_ok=True)
        total = count + (1 if pools else 0)
        ports = iter(free_ports(total * len(PORTS) + len(pools)))
        for i in range(count):
            self.clusters.append(Cluster(f"site-{i}", self.root / f"site-{i}", bin_dir, nodes))
        if pools:
            central = Cluster("central", self.root / "central", bin_dir, pool_nodes, pools=pools)
            central.node_grace_seconds = node_grace_seconds
            self.clusters.append(central)
        for cluster in self.clusters:
            cluster.ports = {name: next(ports) for name in cluster.port_names()}
        try:
            # In parallel: each start mostly waits for its apiserver to become ready.
            # Leaving the pool waits for every start, so down() then sees every process.
            with ThreadPoolExecutor(max_workers=total) as pool:
                for done in as_completed([pool.submit(c.start) for c in self.clusters]):
                    done.result()
                    self._save()
        except BaseException:
            self.down()
            raise
        return self.clusters

    def down(self) -> None:
        for cluster in self.clusters:
            cluster.stop()
        self.clusters.clear()
        state = self.root / "state.json"
        if state.exists():
            processes = json.loads(state.read_text()).get("processes", [])
            # Clients first, the store last: an apiserver whose kine is already gone
            # waits out its whole grace period instead of shutting down at once.
            for name in reversed(PROCESS_ORDER):
                stop_groups(
                    [
                        p["pgid"]
                        for p in processes
                        if p.get("binary", p["name"]) == name and runs(p["pgid"], name)
                    ]
                )
            state.unlink()

    def _refuse_if_running(self) -> None:
        state = self.root / "state.json"
        if not state.exists():
            return
        processes = json.loads(state.read_text()).get("processes", [])
        if any(runs(p["pgid"], p.get("binary", p["name"])) for p in processes):
            raise HarnessError(
                f"clusters from an earlier 'up' still run in {self.root}: "
                f"stop them with python -m hack.kube down --dir {self.root}"
            )

    def _save(self) -> None:
        processes = [
            {"cluster": c.name, "name": name, "binary": binary_of(name), "pgid": p.pid}
            for c in self.clusters
            for name, p in c.processes.items()
        ]
        (self.root / "state.json").write_text(
            json.dumps(
                {
                    "processes": processes,
                    "clusters": [
                        {"name": c.name, "server": c.server, "kubeconfig": str(c.kubeconfig)}
                        for c in self.clusters
                    ],
                },
                indent=2,
            )
        )
