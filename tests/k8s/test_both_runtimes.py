"""One site, both runtimes: a real hub, a real agent run with ``--runtime
process,kubernetes --kubeconfig`` against a real control plane of hack/kube (a k3s edge
box that also runs legacy processes). A process Application and a kubernetes
Application are both Running at that site; the site declares both runtimes from its
join and reports the cluster's nodes with the host's arch. A site declaring both whose
agent runs kubernetes only never gets the process Application, and explain says why.
"""

from __future__ import annotations

import sys
from functools import partial
from typing import Any

from edgeplane.api.quantity import Quantity, cpu_millis
from hack.kube.cluster import Cluster
from tests.support.fleet import Fleet, wait_for
from tests.support.kube import API_VERSION, at, deployment_of, kube_app, running_pods, web

BOTH, KUBE_ONLY = "both-1", "kube-only-1"
MERGE_PATCH = {"Content-Type": "application/merge-patch+json"}


def process_app(name: str) -> dict[str, Any]:
    command = {"command": sys.executable, "args": ["-c", "import time; time.sleep(3600)"]}
    return {
        "apiVersion": API_VERSION,
        "kind": "Application",
        "metadata": {"name": name},
        "spec": {"workload": {"process": command}, "placement": at("box", "k3s")},
    }


def flags(cluster: Cluster) -> list[str]:
    return ["--kubeconfig", str(cluster.kubeconfig), "--kube-poll-seconds", "0.5"]


def running(fleet: Fleet, app: str, site: str) -> dict[str, Any] | None:
    found = fleet.assignments(app).get(site)
    status = (found or {}).get("status") or {}
    current = found and status.get("observedGeneration") == found["metadata"]["generation"]
    return found if current and status.get("phase") == "Running" else None


def test_one_site_runs_a_process_and_a_kubernetes_application(
    fleet: Fleet, kube_fleet: list[Cluster]
) -> None:
    # A cluster each (two sites in one cluster would fight over one namespace); the
    # applications' names are this test's own, so the session's agents leave them be.
    cluster, other = kube_fleet[1], kube_fleet[2]
    labels = {"box": "k3s"}
    fleet.add_agent(BOTH, labels, "--runtime", "process,kubernetes", "--cpu", "2", *flags(cluster))
    fleet.add_agent(KUBE_ONLY, labels, "--runtime", "kubernetes", *flags(other))
    wait_for(lambda: fleet.site_phase(BOTH) == "Online", "both-1 Online", 60)
    both = fleet.ok("GET", f"/sites/{BOTH}")
    assert both["spec"]["runtimes"] == ["process", "kubernetes"]  # declared by the join
    # Declared both by hand, but its agent runs kubernetes only.
    fleet.ok(
        "PATCH",
        f"/sites/{KUBE_ONLY}",
        {"spec": {"runtimes": ["process", "kubernetes"]}},
        headers=MERGE_PATCH,
    )

    fleet.ok("POST", "/applications", process_app("legacy"))
    fleet.ok("POST", "/applications", kube_app("boxshop", web("boxshop", 2), at("box", "k3s")))

    proc = wait_for(lambda: running(fleet, "legacy", BOTH), "the process app Running", 90)
    assert proc["status"]["ready"] == 1
    kube = wait_for(lambda: running(fleet, "boxshop", BOTH), "the kubernetes app Running", 90)
    assert kube["status"]["ready"] == 2
    assert len(running_pods(cluster, "boxshop", "boxshop")) == 2
    wait_for(lambda: running(fleet, "boxshop", KUBE_ONLY), "boxshop Running at kube-only", 90)

    status = fleet.ok("GET", f"/sites/{BOTH}")["status"]
    inventory = status["inventory"]
    assert (inventory["runtime"], inventory["runtimes"]) == ("process", ["process", "kubernetes"])
    assert inventory["nodes"] == 3 and inventory["arch"]  # the cluster's nodes, the host's arch
    assert cpu_millis(Quantity.parse(status["capacity"]["cpu"])) == 24_000  # not --cpu 2

    assert set(fleet.assignments("legacy")) == {BOTH}
    why = fleet.ok("GET", "/applications/legacy/explain", params={"site": KUBE_ONLY})
    checks = {c["check"]: c["reason"] for c in why["site"]["checks"]}
    assert checks["runtime"] == (
        "declare kubernetes and process but their agents run kubernetes only"
    )
    assert why["reasons"] == [
        "1 site(s) declare kubernetes and process but their agents run kubernetes only"
    ]

    # Leave the session's clusters as they were: the agents delete what they applied.
    for app in ("legacy", "boxshop"):
        fleet.ok("DELETE", f"/applications/{app}")
    for each in (cluster, other):
        wait_for(partial(gone, each, "boxshop"), f"boxshop deleted from {each.name}", 60)


def gone(cluster: Cluster, namespace: str) -> bool:
    found = deployment_of(cluster, namespace, namespace)
    return found is None or bool(found["metadata"].get("deletionTimestamp"))
