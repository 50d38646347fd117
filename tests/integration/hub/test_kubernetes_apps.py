"""Kubernetes applications through a real hub process: what the hub renders into each
Assignment (patches applied, namespace resolved, Divided replicas scaled), what
admission refuses (a namespace no Policy allows, a patch that cannot apply), the runtime
fit (a process-only site never gets a kubernetes application, and explain says why),
and a site whose nodes are all NotReady going Offline so its Replicas application moves.

Sites are joined with join tokens and write their own status with their own credential,
as agents do; no agent runs here (the agent side has its own tests in tests/k8s)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from tests.support.hub import running_hub
from tests.support.waiting import wait_until

API = "/api/v1alpha1"
MERGE = {"Content-Type": "application/merge-patch+json"}
T = TypeVar("T")


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    """One hub for the module; each test uses its own sites and applications."""
    data = Path(tmp_path_factory.mktemp("kube")) / "hub"
    with (
        running_hub(data, "--offline-after-seconds", "600") as process,
        httpx.Client(base_url=process.url + API, headers=process.headers(), timeout=20) as client,
    ):
        yield client


class SiteAgent:
    """A site as its agent is to the hub: joined, writing its own status."""

    def __init__(self, hub: httpx.Client, name: str, runtime: str, **labels: str) -> None:
        token = hub.post("/jointokens", json={"labels": labels, "ttlSeconds": 600})
        assert token.status_code == 201, token.text
        body = {"token": token.json()["token"], "site": name, "inventory": {"runtime": runtime}}
        joined = hub.post("/join", json=body, headers={"Authorization": ""})
        assert joined.status_code == 201, joined.text
        self.name, self.hub = name, hub
        self.headers = {"Authorization": f"Bearer {joined.json()['credential']}", **MERGE}
        self.inventory: dict[str, Any] = {"runtime": runtime}

    def report(self, **inventory: Any) -> dict[str, Any]:
        """Online, with these inventory facts (as an agent's status write)."""
        self.inventory.update(inventory)
        status = {"phase": "Online", "inventory": self.inventory}
        answer = self.hub.patch(
            f"/sites/{self.name}/status", json={"status": status}, headers=self.headers
        )
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()["status"]
        return found


def created(hub: httpx.Client, plural: str, obj: dict[str, Any]) -> None:
    answer = hub.post(f"/{plural}", json=obj)
    assert answer.status_code == 201, answer.text


def assignments(hub: httpx.Client, app: str) -> dict[str, dict[str, Any]]:
    answer = hub.get("/assignments", params={"labelSelector": f"edgeplane.io/application={app}"})
    assert answer.status_code == 200, answer.text
    return {a["spec"]["site"]: a for a in answer.json()["items"]}


DEPLOY = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web"},
    "spec": {
        "replicas": 5,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "web", "image": "web:1"}]},
        },
    },
}
SERVICE = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "web"},
    "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]},
}
SHARED = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {"name": "routes", "namespace": "shared"},
    "data": {"web": "on"},
}
NEW_IMAGE = {
    "target": {"kind": "Deployment", "name": "web"},
    "patch": {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "web:2"}]}}}},
}


def application(
    name: str,
    manifests: list[dict[str, Any]],
    placement: dict[str, Any],
    overrides: list[dict[str, Any]] | None = None,
    **labels: str,
) -> dict[str, Any]:
    return {
        "apiVersion": "edgeplane.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "workload": {"kubernetes": {"manifests": manifests}},
            "placement": placement,
            "overrides": overrides or [],
        },
    }


def test_a_kubernetes_application_is_rendered_per_site_and_kept_off_process_hosts(
    hub: httpx.Client,
) -> None:
    for name, runtime, tier in (("r-k1", "kubernetes", "edge"), ("r-k2", "kubernetes", "core")):
        SiteAgent(hub, name, runtime, suite="render", tier=tier).report(nodes=1, readyNodes=1)
    SiteAgent(hub, "r-p1", "process", suite="render").report()
    allow = {
        "apiVersion": "edgeplane.io/v1alpha1",
        "kind": "Policy",
        "metadata": {"name": "shop-may-write-shared"},
        "spec": {
            "scope": "Admission",
            "selector": {"matchLabels": {"team": "shop"}},
            "kubernetes": {"allowedNamespaces": ["shared"]},
        },
    }
    created(hub, "policies", allow)
    overrides: list[dict[str, Any]] = [
        {"site": "r-k1", "patches": [NEW_IMAGE]},
        {
            "siteSelector": {"matchLabels": {"tier": "core"}},
            "patches": [
                {
                    "target": {"kind": "ConfigMap", "name": "routes"},
                    "jsonPatch": [{"op": "replace", "path": "/data/web", "value": "off"}],
                }
            ],
        },
    ]
    placement = {"mode": "EverySite", "selector": {"matchLabels": {"suite": "render"}}}
    app = application("shop", [DEPLOY, SERVICE, SHARED], placement, overrides, team="shop")
    created(hub, "applications", app)

    found = wait_until(
        lambda: assignments(hub, "shop"), accept=lambda a: set(a) == {"r-k1", "r-k2"}
    )
    k1 = found["r-k1"]["spec"]["workload"]["kubernetes"]
    k2 = found["r-k2"]["spec"]["workload"]["kubernetes"]
    assert (k1["namespace"], k1["force"], k1["allowedNamespaces"]) == ("shop", False, ["shared"])
    image = [m["spec"]["template"]["spec"]["containers"][0]["image"] for m in k1["manifests"][:1]]
    assert image == ["web:2"]
    assert k2["manifests"][0] == DEPLOY  # no patch there; EverySite keeps 5 replicas
    assert (k1["manifests"][2]["data"], k2["manifests"][2]["data"]) == (
        {"web": "on"},
        {"web": "off"},
    )

    explained = hub.get("/applications/shop/explain", params={"site": "r-p1"})
    assert explained.status_code == 200, explained.text
    checks = {c["check"]: c["reason"] for c in explained.json()["site"]["checks"]}
    assert checks["runtime"] == "run process, the workload is kubernetes"
    status = wait_until(
        lambda: hub.get("/applications/shop").json().get("status") or {},
        accept=lambda s: s.get("sites") == ["r-k1", "r-k2"],
    )
    assert "1 site(s) run process, the workload is kubernetes" in status["message"]


def test_divided_replicas_scale_the_deployments(hub: httpx.Client) -> None:
    for name in ("d-k1", "d-k2"):
        SiteAgent(hub, name, "kubernetes", suite="divided").report(nodes=1, readyNodes=1)
    placement = {
        "mode": "Replicas",
        "replicas": 3,
        "division": "Divided",
        "selector": {"matchLabels": {"suite": "divided"}},
    }
    created(hub, "applications", application("scaled", [DEPLOY, SERVICE], placement))
    found = wait_until(
        lambda: assignments(hub, "scaled"),
        accept=lambda a: sum(x["spec"]["replicas"] for x in a.values()) == 3,
    )
    for assignment in found.values():
        deploy = assignment["spec"]["workload"]["kubernetes"]["manifests"][0]
        assert deploy["spec"]["replicas"] == assignment["spec"]["replicas"]
    assert sorted(a["spec"]["replicas"] for a in found.values()) == [1, 2]


def test_admission_refuses_a_namespace_no_policy_allows_and_a_patch_that_cannot_apply(
    hub: httpx.Client,
) -> None:
    placement = {"mode": "EverySite", "selector": {"matchLabels": {"suite": "none"}}}
    elsewhere = {**SHARED, "metadata": {"name": "routes", "namespace": "kube-system"}}
    answer = hub.post("/applications", json=application("sneaky", [DEPLOY, elsewhere], placement))
    assert answer.status_code == 422, answer.text
    field = "spec.workload.kubernetes.manifests[1].metadata.namespace"
    assert answer.json()["field"] == field
    assert "spec.kubernetes.allowedNamespaces: [kube-system]" in answer.json()["message"]

    bad = {
        "site": "x",
        "patches": [
            {
                "target": {"kind": "Deployment", "name": "web"},
                "jsonPatch": [{"op": "remove", "path": "/spec/paused"}],
            }
        ],
    }
    answer = hub.post("/applications", json=application("clumsy", [DEPLOY], placement, [bad]))
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == "spec.overrides[0].patches[0].jsonPatch[0]"
    assert "'/spec/paused' does not exist" in answer.json()["message"]
    for name in ("sneaky", "clumsy"):
        assert hub.get(f"/applications/{name}").status_code == 404  # nothing stored


def test_a_site_whose_nodes_are_all_not_ready_is_offline_and_its_replicas_move(
    hub: httpx.Client,
) -> None:
    pools = {n: SiteAgent(hub, n, "kubernetes", suite="pools") for n in ("pool-a", "pool-b")}
    for pool in pools.values():
        pool.report(nodes=2, readyNodes=2, nodePool=f"edgeplane.io/site={pool.name}")
    placement = {"mode": "Replicas", "replicas": 1, "selector": {"matchLabels": {"suite": "pools"}}}
    created(hub, "applications", application("mover", [DEPLOY], placement))
    placed = wait_until(lambda: assignments(hub, "mover"), accept=lambda a: len(a) == 1)
    first = next(iter(placed))
    other = ({"pool-a", "pool-b"} - {first}).pop()

    status = pools[first].report(readyNodes=0)  # the agent is fine and says Online
    assert status["phase"] == "Offline"
    nodes = [c for c in status["conditions"] if c["type"] == "NodesReady"]
    assert [(c["status"], c["reason"]) for c in nodes] == [("False", "NodesNotReady")]
    wait_until(lambda: set(assignments(hub, "mover")), accept=lambda sites: sites == {other})

    status = pools[first].report(readyNodes=1)
    assert status["phase"] == "Online"
    assert hub.get(f"/sites/{first}").json()["status"]["phase"] == "Online"
