"""The Kubernetes part of ``make demo ARGS=--kubernetes`` (scripts/demo.py drives it).

Starts real control planes from ``hack/kube`` on loopback: two small clusters (a cluster
per site: ``k8s-zurich``, ``k8s-oslo``) and a central cluster with two node pools (sites
``central-pool-a``, ``central-pool-b``), each site served by an agent run with
``--runtime kubernetes``. After convergence it checks, in each cluster, that every
assignment's Deployments are available where the hub placed them.
"""

from __future__ import annotations

import json
import shutil
import sys
import urllib.error
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from hack.kube.cluster import POOL_LABEL, Cluster, HarnessError, build  # noqa: E402
from hack.kube.fleet import Fleet  # noqa: E402

APPLICATIONS = ROOT / "examples" / "demo-kubernetes"
POOLS = ("pool-a", "pool-b")


@dataclass(frozen=True)
class KubeSite:
    name: str
    labels: dict[str, str]
    cluster: str
    pool: str | None = None

    def namespace(self, application: str) -> str:
        """Where the agent puts ``application`` (a pool gets its own namespace)."""
        return f"{application}-{self.name}" if self.pool else application


SITES = (
    KubeSite("k8s-zurich", {"region": "eu-central", "tier": "edge", "shape": "cluster"}, "site-0"),
    KubeSite("k8s-oslo", {"region": "eu-north", "tier": "edge", "shape": "cluster"}, "site-1"),
    KubeSite("central-pool-a", {"region": "eu-west", "shape": "pool"}, "central", POOLS[0]),
    KubeSite("central-pool-b", {"region": "eu-west", "shape": "pool"}, "central", POOLS[1]),
)


class Clusters:
    """The demo's control planes, under ``<data-dir>/kube``."""

    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir / "kube"
        self.fleet = Fleet(self.root)
        self.by_name: dict[str, Cluster] = {}

    def start(self) -> None:
        Fleet(self.root).down()  # what a demo killed with -9 left behind
        shutil.rmtree(self.root, ignore_errors=True)  # fresh clusters: kine keeps old nodes
        try:
            build()  # reuses the cached binaries; a cold build takes about 15 minutes
            clusters = self.fleet.up(2, nodes=2, pools=POOLS, pool_nodes=2)
        except HarnessError as e:
            raise SystemExit(f"demo: the Kubernetes control planes did not start: {e}") from e
        self.by_name = {c.name: c for c in clusters}
        for cluster in clusters:
            print(f"  cluster {cluster.name:<8} {cluster.server}  KUBECONFIG={cluster.kubeconfig}")

    def stop(self) -> None:
        self.fleet.down()

    def agent_flags(self, site: KubeSite) -> list[str]:
        cluster = self.by_name[site.cluster]
        flags = ["--runtime", "kubernetes", "--kubeconfig", str(cluster.kubeconfig)]
        flags += ["--kube-poll-seconds", "1"]
        return flags + (["--node-pool", f"{POOL_LABEL}={site.pool}"] if site.pool else [])

    def problems(self, assignments: list[dict[str, Any]]) -> list[str]:
        """What is not as the hub says for the kubernetes assignments: each Deployment
        available in full, its pods on the site's own nodes."""
        sites = {s.name: s for s in SITES}
        found = []
        for item in assignments:
            site = sites.get(item["spec"]["site"])
            if site is not None:
                found += self._check(site, item["spec"]["application"])
        return found

    def _check(self, site: KubeSite, app: str) -> list[str]:
        cluster, namespace = self.by_name[site.cluster], site.namespace(app)
        deployments = _get(cluster, f"/apis/apps/v1/namespaces/{namespace}/deployments")
        if not deployments:
            return [f"{app} at {site.name}: no Deployment in {cluster.name}/{namespace}"]
        found = []
        for each in deployments:
            want = each["spec"].get("replicas", 1)
            have = (each.get("status") or {}).get("availableReplicas", 0)
            if have != want:
                name = each["metadata"]["name"]
                found.append(f"{app} at {site.name}: Deployment {name} {have}/{want} available")
        for pod in _get(cluster, f"/api/v1/namespaces/{namespace}/pods"):
            node = pod["spec"].get("nodeName") or ""
            if site.pool and f"-{site.pool}-" not in node:
                found.append(f"{app} at {site.name}: pod on {node}, not a {site.pool} node")
        return found

    def table(self, assignments: list[dict[str, Any]]) -> list[str]:
        sites = {s.name: s for s in SITES}
        lines = []
        for item in assignments:
            site = sites.get(item["spec"]["site"])
            if site is None:
                continue
            app = item["spec"]["application"]
            where = f"{site.cluster}/{site.namespace(app)}"
            lines.append(
                f"  {app:<15} {site.name:<18} {(item.get('status') or {}).get('phase', '-'):<9} "
                f"kubectl --kubeconfig {self.by_name[site.cluster].kubeconfig} -n "
                f"{site.namespace(app)} get all   # {where}"
            )
        return lines


def _get(cluster: Cluster, path: str) -> list[dict[str, Any]]:
    try:
        return list(json.loads(cluster.request("GET", path))["items"])
    except urllib.error.HTTPError as e:
        if e.code == 404:
            return []
        raise
