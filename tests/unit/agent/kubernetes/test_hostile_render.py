"""Hostile manifests against render and the ownership rules: a Namespace object naming
a namespace the application was not given, a ConfigMap taking an inventory's name,
nesting deep enough to break copying, a forged ``created-by`` annotation, and the largest input
the API allows."""

from __future__ import annotations

from typing import Any

import pytest

from edgeplane.agent.runtimes.kubernetes.client import ObjectRef
from edgeplane.agent.runtimes.kubernetes.fields import MAX_DEPTH
from edgeplane.agent.runtimes.kubernetes.health import assess
from edgeplane.agent.runtimes.kubernetes.ownership import CREATED, claim
from edgeplane.agent.runtimes.kubernetes.render import (
    ASSIGNMENT_LABEL,
    MANAGED_BY_LABEL,
    Identity,
    NodePool,
    RenderError,
    render,
)

IDENTITY = Identity(site="s1", application="shop", assignment="shop.s1", revision=1)
SCOPES = {("v1", "Namespace"): False, ("v1", "ConfigMap"): True, ("apps/v1", "Deployment"): True}


def workload(*manifests: Any, allowed: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"manifests": list(manifests), "namespace": "shop", "allowedNamespaces": list(allowed)}


def namespace(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def config_map(name: str, **metadata: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, **metadata}}


@pytest.mark.parametrize("name", ["kube-system", "default", "other-tenant"])
def test_a_namespace_object_the_application_was_not_given_is_refused(name: str) -> None:
    with pytest.raises(RenderError) as e:
        render(workload(namespace(name)), IDENTITY, scopes=SCOPES)
    assert str(e.value) == (
        f"manifests[0] (Namespace {name}): the namespace {name!r} is not this "
        "application's: remove the manifest, name it 'shop', or have an admin list it "
        "in a Policy's spec.kubernetes.allowedNamespaces"
    )


def test_a_namespace_object_a_policy_allows_is_rendered() -> None:
    given = workload(namespace("monitoring"), allowed=("monitoring",))
    rendered = render(given, IDENTITY, scopes=SCOPES)
    assert [o["metadata"]["name"] for o in rendered] == ["shop", "monitoring"]


@pytest.mark.parametrize("name", ["kube-system", "kube-public", "kube-node-lease", "kube-x"])
def test_a_namespace_of_kubernetes_own_is_refused_unless_a_policy_allows_it(name: str) -> None:
    given = {**workload(config_map("c")), "namespace": name}
    with pytest.raises(RenderError) as e:
        render(given, IDENTITY, scopes=SCOPES)
    assert str(e.value) == (
        f"spec.workload.kubernetes.namespace {name!r}: namespaces starting 'kube-' are "
        "Kubernetes' own: choose another, or have an admin list it in a Policy's "
        "spec.kubernetes.allowedNamespaces"
    )
    rendered = render({**given, "allowedNamespaces": [name]}, IDENTITY, scopes=SCOPES)
    assert rendered[1]["metadata"]["namespace"] == name


@pytest.mark.parametrize("name", ["edgeplane-inventory-shop.s1", "edgeplane-inventory-other"])
def test_a_config_map_named_as_an_inventory_is_refused(name: str) -> None:
    with pytest.raises(RenderError, match=r"are the agent's inventories: rename the ConfigMap"):
        render(workload(config_map(name)), IDENTITY, scopes=SCOPES)


def nested(depth: int) -> dict[str, Any]:
    """A ConfigMap-like object nested ``depth`` levels deep in all."""
    inner: Any = "leaf"
    for _ in range(depth - 1):
        inner = {"a": inner}
    return {**config_map("deep"), "x": inner}


def test_nesting_past_the_bound_is_a_render_error_not_a_recursion_error() -> None:
    assert render(workload(nested(MAX_DEPTH - 1)), IDENTITY, scopes=SCOPES)
    for depth in (MAX_DEPTH + 1, 5000):
        with pytest.raises(RenderError, match=r"manifests\[0\] is nested more than 100 levels"):
            render(workload(nested(depth)), IDENTITY, scopes=SCOPES)
    deep_list: Any = []
    for _ in range(5000):
        deep_list = [deep_list]
    with pytest.raises(RenderError, match=r"nested more than"):
        render(workload({**config_map("l"), "x": deep_list}), IDENTITY, scopes=SCOPES)


def largest() -> list[dict[str, Any]]:
    """256 Deployments of about 4 KiB each: the API's 1 MiB of manifests."""
    env = [{"name": f"E{j}", "value": "x" * 40} for j in range(60)]
    spec = {"containers": [{"name": "c", "image": "x", "env": env}]}
    return [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": f"web{i}"},
            "spec": {"selector": {}, "template": {"metadata": {"labels": {}}, "spec": spec}},
        }
        for i in range(256)
    ]


def test_render_of_the_largest_input_renders_every_object() -> None:
    """The largest input the API takes (~45 ms here; the runtime renders in a worker
    thread, so the event loop is not held for it)."""
    pool = NodePool({"pool": "a"}, ({"key": "edge", "operator": "Exists"},))
    rendered = render(workload(*largest()), IDENTITY, scopes=SCOPES, pool=pool)
    assert len(rendered) == 257


class Stored:
    """``client.get`` of a cluster holding ``objects`` (the only call claim makes)."""

    def __init__(self, *objects: dict[str, Any]) -> None:
        self.objects = {ObjectRef.of(o): o for o in objects}

    async def get(self, ref: ObjectRef) -> dict[str, Any] | None:
        return self.objects.get(ref)


async def test_a_forged_created_annotation_is_never_sent() -> None:
    forged = {"annotations": {CREATED: "shop.s1", "keep": "1"}}
    handed_over = {ASSIGNMENT_LABEL: "shop.s1"}  # labelled ours by its owner: no CREATED
    cluster = Stored(namespace("shop"), config_map("cm", namespace="shop", labels=handed_over))
    mine = [
        {**namespace("shop"), "metadata": {"name": "shop", **forged}},
        config_map("cm", namespace="shop", **forged),
    ]
    out, missing, problem = await claim(cluster, mine, "shop.s1")  # type: ignore[arg-type]
    assert problem is None and missing == set()
    assert [o["metadata"]["annotations"] for o in out] == [{"keep": "1"}, {"keep": "1"}]
    out, missing, problem = await claim(Stored(), mine, "shop.s1")  # type: ignore[arg-type]
    assert [o["metadata"]["annotations"][CREATED] for o in out] == ["shop.s1", "shop.s1"]
    assert missing == {ObjectRef.of(m) for m in mine}


async def test_an_object_edgeplane_did_not_make_is_refused() -> None:
    cluster = Stored(config_map("coredns", namespace="shop"))
    mine = [config_map("coredns", namespace="shop")]
    _, _, problem = await claim(cluster, mine, "shop.s1")  # type: ignore[arg-type]
    assert problem == (
        "ConfigMap shop/coredns exists and edgeplane did not create it: rename it, or have "
        "its owner hand it over by labelling it edgeplane.io/assignment=shop.s1"
    )


async def test_another_assignments_object_is_refused_but_a_shared_namespace_is_not() -> None:
    theirs = {ASSIGNMENT_LABEL: "other.s1", MANAGED_BY_LABEL: "edgeplane"}
    cluster = Stored(
        config_map("cm", namespace="shop", labels=theirs),
        {**namespace("shop"), "metadata": {"name": "shop", "labels": theirs}},
    )
    mine = [namespace("shop"), config_map("cm", namespace="shop")]
    _, _, problem = await claim(cluster, mine, "shop.s1")  # type: ignore[arg-type]
    assert problem == (
        "ConfigMap shop/cm belongs to assignment 'other.s1': two applications cannot "
        "apply one object; rename it in one of them"
    )
    out, _, problem = await claim(cluster, mine[:1], "shop.s1")  # type: ignore[arg-type]
    assert problem is None and out[0]["metadata"]["name"] == "shop"


def test_an_object_relabelled_as_another_assignments_is_not_our_ready_status() -> None:
    ready: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop", "generation": 1, "labels": {}},
        "spec": {"replicas": 1},
        "status": {
            "observedGeneration": 1,
            "replicas": 1,
            "updatedReplicas": 1,
            "availableReplicas": 1,
            "readyReplicas": 1,
        },
    }
    ref = ObjectRef.of(ready)
    ready["metadata"]["labels"] = {ASSIGNMENT_LABEL: "shop.s1"}
    assert assess([ref], {ref: ready}, {}, None, "shop.s1").phase == "Running"
    ready["metadata"]["labels"] = {ASSIGNMENT_LABEL: "intruder.s1"}
    summary = assess([ref], {ref: ready}, {}, None, "shop.s1")
    assert (summary.phase, summary.ready) == ("Failed", 0)
    assert summary.message is not None
    assert "labelled as assignment 'intruder.s1''s, not this one's" in summary.message
