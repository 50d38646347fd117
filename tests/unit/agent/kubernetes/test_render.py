"""render: namespaces, labels and node-pool pinning of an assignment's manifests, and
the RenderError every manifest that cannot be applied gets."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from edgeplane.agent.runtimes.kubernetes.render import (
    APPLICATION_LABEL,
    ASSIGNMENT_LABEL,
    LIFECYCLE_TOLERATIONS,
    MANAGED_BY_LABEL,
    REVISION_LABEL,
    SITE_LABEL,
    Identity,
    NodePool,
    RenderError,
    label_value,
    render,
)
from edgeplane.api.labels import check_label_value

IDENTITY = Identity(site="s1", application="shop", assignment="shop.s1.0123456789", revision=3)
LABELS = {
    APPLICATION_LABEL: "shop",
    ASSIGNMENT_LABEL: "shop.s1.0123456789",
    REVISION_LABEL: "3",
    SITE_LABEL: "s1",
    MANAGED_BY_LABEL: "edgeplane",
}
TEMPLATE_LABELS = {APPLICATION_LABEL: "shop", ASSIGNMENT_LABEL: "shop.s1.0123456789"}
SCOPES = {
    ("v1", "ConfigMap"): True,
    ("v1", "Namespace"): False,
    ("apps/v1", "Deployment"): True,
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): False,
    ("example.com/v1", "Gadget"): True,
}
POOL = NodePool(
    selector={"edgeplane.io/site": "pool-a"},
    tolerations=({"key": "edge", "operator": "Exists", "effect": "NoSchedule"},),
)
POD_SPEC = {"containers": [{"name": "c", "image": "nginx"}]}
TEMPLATE = {"metadata": {"labels": {"app": "web"}}, "spec": POD_SPEC}


def obj(api_version: str, kind: str, name: str, **fields: Any) -> dict[str, Any]:
    namespace = fields.pop("namespace", None)
    metadata: dict[str, Any] = {"name": name}
    if namespace is not None:
        metadata["namespace"] = namespace
    return {"apiVersion": api_version, "kind": kind, "metadata": metadata, **fields}


def crd(kind: str, scope: str) -> dict[str, Any]:
    spec = {
        "group": "gadgets.io",
        "names": {"kind": kind, "plural": kind.lower() + "s"},
        "scope": scope,
        "versions": [{"name": "v1"}, {"name": "v2"}],
    }
    return obj("apiextensions.k8s.io/v1", "CustomResourceDefinition", "crd", spec=spec)


def workload(*manifests: Any, **fields: Any) -> dict[str, Any]:
    return {"manifests": list(manifests), "namespace": "shop", "force": False, **fields}


def by_kind(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    [found] = [o for o in objects if o["kind"] == kind]
    return found


@pytest.mark.parametrize(
    ("manifests", "kind", "namespace"),
    [
        ([obj("v1", "ConfigMap", "cfg")], "ConfigMap", "shop"),
        ([obj("v1", "ConfigMap", "cfg", namespace="shop")], "ConfigMap", "shop"),
        ([obj("v1", "ConfigMap", "cfg", namespace="monitoring")], "ConfigMap", "monitoring"),
        (
            [obj("rbac.authorization.k8s.io/v1", "ClusterRole", "r", namespace="x")],
            "ClusterRole",
            None,
        ),
        ([obj("storage.k8s.io/v1", "StorageClass", "fast")], "StorageClass", None),
        ([crd("Widget", "Cluster"), obj("gadgets.io/v2", "Widget", "w")], "Widget", None),
        ([crd("Widget", "Namespaced"), obj("gadgets.io/v1", "Widget", "w")], "Widget", "shop"),
        ([obj("unknown.io/v1", "Thing", "t")], "Thing", "shop"),
        ([obj("example.com/v1", "Gadget", "g")], "Gadget", "shop"),
    ],
    ids=[
        "namespaced-gets-the-namespace",
        "own-namespace-kept",
        "allowed-namespace-kept",
        "cluster-scoped-loses-namespace",
        "built-in-cluster-kind-without-discovery",
        "kind-of-a-cluster-crd-in-the-manifests",
        "kind-of-a-namespaced-crd",
        "unknown-kind-is-namespaced",
        "discovered-scope",
    ],
)
def test_objects_land_in_their_namespace(
    manifests: list[dict[str, Any]], kind: str, namespace: str | None
) -> None:
    rendered = render(
        workload(*manifests, allowedNamespaces=["monitoring"]), IDENTITY, scopes=SCOPES
    )
    assert by_kind(rendered, kind)["metadata"].get("namespace") == namespace


def test_discovery_wins_over_a_crd_in_the_manifests() -> None:
    scopes = {**SCOPES, ("gadgets.io/v1", "Widget"): True}
    rendered = render(
        workload(crd("Widget", "Cluster"), obj("gadgets.io/v1", "Widget", "w")),
        IDENTITY,
        scopes=scopes,
    )
    assert by_kind(rendered, "Widget")["metadata"]["namespace"] == "shop"


@pytest.mark.parametrize(
    ("manifests", "kinds"),
    [
        ([obj("v1", "ConfigMap", "cfg")], ["Namespace", "ConfigMap"]),
        (
            [obj("v1", "ConfigMap", "cfg"), obj("v1", "Namespace", "shop", namespace="zz")],
            ["ConfigMap", "Namespace"],
        ),
        (
            [obj("v1", "ConfigMap", "cfg"), obj("v1", "Namespace", "other")],
            ["Namespace", "ConfigMap", "Namespace"],
        ),
    ],
    ids=["added-first", "held-by-the-manifests", "an-allowed-namespace-is-not-ours"],
)
def test_the_namespace_object(manifests: list[dict[str, Any]], kinds: list[str]) -> None:
    given = workload(*manifests, allowedNamespaces=["other"])
    rendered = render(given, IDENTITY, scopes=SCOPES)
    assert [o["kind"] for o in rendered] == kinds
    [own] = [o for o in rendered if o["kind"] == "Namespace" and o["metadata"]["name"] == "shop"]
    assert own == {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "shop", "labels": LABELS},
    }


@pytest.mark.parametrize(
    ("manifest", "template_paths"),
    [
        (obj("v1", "ConfigMap", "cfg", data={"a": "1"}), []),
        (obj("apps/v1", "Deployment", "web", spec={"template": TEMPLATE}), [("spec", "template")]),
        (
            obj("batch/v1", "Job", "migrate", spec={"template": {"spec": POD_SPEC}}),
            [("spec", "template")],
        ),
        (
            obj(
                "batch/v1",
                "CronJob",
                "nightly",
                spec={"jobTemplate": {"spec": {"template": TEMPLATE}}},
            ),
            [("spec", "jobTemplate"), ("spec", "jobTemplate", "spec", "template")],
        ),
        (obj("v1", "Pod", "p", spec=POD_SPEC), []),
    ],
    ids=["configmap", "deployment", "job-template-without-metadata", "cronjob", "bare-pod"],
)
def test_labels_on_objects_and_pod_templates(
    manifest: dict[str, Any], template_paths: list[tuple[str, ...]]
) -> None:
    manifest["metadata"]["labels"] = {"tier": "front", SITE_LABEL: "forged"}
    rendered = by_kind(render(workload(manifest), IDENTITY, scopes=SCOPES), manifest["kind"])
    assert rendered["metadata"]["labels"] == {"tier": "front", **LABELS}
    for path in template_paths:
        node: Any = rendered
        for key in path:
            node = node[key]
        assert TEMPLATE_LABELS.items() <= node["metadata"]["labels"].items()
        assert REVISION_LABEL not in node["metadata"]["labels"]


def test_render_changes_nothing_it_was_given() -> None:
    deployment = obj("apps/v1", "Deployment", "web", spec={"template": TEMPLATE})
    given = workload(deployment, obj("v1", "ConfigMap", "cfg", namespace="shop"))
    before = copy.deepcopy(given)
    pool = copy.deepcopy(POOL)
    first = render(given, IDENTITY, scopes=SCOPES, pool=pool)
    assert given == before and pool == POOL and TEMPLATE["metadata"] == {"labels": {"app": "web"}}
    first[1]["spec"]["template"]["spec"]["tolerations"].append({"key": "mutated"})
    assert POOL.tolerations[0] == {"key": "edge", "operator": "Exists", "effect": "NoSchedule"}


POD_KINDS = [
    ("v1", "Pod", {"spec": POD_SPEC}, ("spec",)),
    ("apps/v1", "Deployment", {"spec": {"template": TEMPLATE}}, ("spec", "template", "spec")),
    ("apps/v1", "StatefulSet", {"spec": {"template": TEMPLATE}}, ("spec", "template", "spec")),
    ("apps/v1", "DaemonSet", {"spec": {"template": TEMPLATE}}, ("spec", "template", "spec")),
    ("apps/v1", "ReplicaSet", {"spec": {"template": TEMPLATE}}, ("spec", "template", "spec")),
    ("batch/v1", "Job", {"spec": {"template": TEMPLATE}}, ("spec", "template", "spec")),
    (
        "batch/v1",
        "CronJob",
        {"spec": {"jobTemplate": {"spec": {"template": TEMPLATE}}}},
        ("spec", "jobTemplate", "spec", "template", "spec"),
    ),
]


@pytest.mark.parametrize(
    ("api_version", "kind", "fields", "path"), POD_KINDS, ids=[k[1] for k in POD_KINDS]
)
def test_a_pool_pins_every_pod_spec(
    api_version: str, kind: str, fields: dict[str, Any], path: tuple[str, ...]
) -> None:
    manifest = copy.deepcopy(obj(api_version, kind, "w", **fields))
    spec = manifest
    for key in path:
        spec = spec[key]
    spec["nodeSelector"] = {"disk": "ssd", "edgeplane.io/site": "pool-b"}
    spec["tolerations"] = [
        {"key": "gpu", "operator": "Exists"},
        {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "tolerationSeconds": 5},
    ]
    rendered = by_kind(render(workload(manifest), IDENTITY, scopes=SCOPES, pool=POOL), kind)
    pinned = rendered
    for key in path:
        pinned = pinned[key]
    assert pinned["nodeSelector"] == {"disk": "ssd", "edgeplane.io/site": "pool-a"}
    assert pinned["tolerations"] == [
        {"key": "gpu", "operator": "Exists"},
        *POOL.tolerations,
        *LIFECYCLE_TOLERATIONS,
    ]
    again = render(workload(rendered), IDENTITY, scopes=SCOPES, pool=POOL)
    assert by_kind(again, kind) == rendered, "rendering twice adds nothing twice"


def test_without_a_pool_pod_specs_are_left_alone() -> None:
    manifest = obj("apps/v1", "Deployment", "web", spec={"template": TEMPLATE})
    rendered = by_kind(render(workload(manifest), IDENTITY, scopes=SCOPES), "Deployment")
    assert rendered["spec"]["template"]["spec"] == POD_SPEC


def test_a_pool_keeps_its_namespaces_and_may_hold_crds() -> None:
    # The runtime has already moved the namespaces to the pool's own (pool.site_workload).
    manifests = [
        obj("v1", "ConfigMap", "cfg", namespace="shop-pool-a"),
        obj("v1", "ConfigMap", "scrape", namespace="monitoring-pool-a"),
        crd("Widget", "Namespaced"),
    ]
    rendered = render(
        workload(*manifests, namespace="shop-pool-a", allowedNamespaces=["monitoring-pool-a"]),
        IDENTITY,
        scopes=SCOPES,
        pool=POOL,
    )
    assert [(o["kind"], o["metadata"].get("namespace")) for o in rendered] == [
        ("Namespace", None),
        ("ConfigMap", "shop-pool-a"),
        ("ConfigMap", "monitoring-pool-a"),
        ("CustomResourceDefinition", None),
    ]
    assert by_kind(rendered, "Namespace")["metadata"]["name"] == "shop-pool-a"
    assert all(o["metadata"]["labels"] == LABELS for o in rendered)


def _many(n: int) -> dict[str, Any]:
    return workload(*[obj("v1", "ConfigMap", f"c{i}") for i in range(n)])


BAD = [
    (
        workload(obj("v1", "ConfigMap", "cfg", namespace="kube-system")),
        None,
        ["manifests[0] (ConfigMap cfg)", "'kube-system' is not allowed", "allowedNamespaces"],
    ),
    (
        workload(obj("v1", "ConfigMap", "cfg", namespace="shop"), namespace="shop-pool-a"),
        POOL,
        ["manifests[0] (ConfigMap cfg)", "'shop' is not allowed", "'shop-pool-a'"],
    ),
    (
        workload(
            obj("v1", "ConfigMap", "ok"),
            obj("rbac.authorization.k8s.io/v1", "ClusterRole", "reader"),
        ),
        POOL,
        ["manifests[1] (ClusterRole reader)", "cluster-scoped", "cluster site"],
    ),
    (
        workload(obj("v1", "Namespace", "other")),
        POOL,
        ["manifests[0] (Namespace other)", "cluster-scoped"],
    ),
    (_many(257), None, ["holds 257 objects", "at most 256"]),
    (workload(), None, ["manifests must be a list of 1 or more"]),
    ({"manifests": [obj("v1", "ConfigMap", "c")]}, None, ["namespace is missing"]),
    (workload(obj("v1", "ConfigMap", "c"), namespace="Shop"), None, ["namespace 'Shop' must"]),
    (workload(obj("v1", "ConfigMap", "c"), allowedNamespaces="x"), None, ["allowedNamespaces"]),
    (workload("not an object"), None, ["manifests[0] must be an object"]),
    (
        workload({"apiVersion": "v1", "kind": "ConfigMap"}),
        None,
        ["manifests[0] needs metadata.name"],
    ),
    (
        workload({"kind": "ConfigMap", "metadata": {"name": "c"}}),
        None,
        ["(ConfigMap c) needs apiVersion"],
    ),
    (
        workload(obj("v1", "ConfigMap", "c", namespace=["x"])),
        None,
        ["manifests[0] (ConfigMap c)", "metadata.namespace must be a string"],
    ),
    (
        workload({**obj("v1", "ConfigMap", "c"), "metadata": {"name": "c", "labels": ["x"]}}),
        None,
        ["manifests[0] (ConfigMap c)", "metadata.labels must be a map"],
    ),
    (
        workload(obj("apps/v1", "Deployment", "web", spec={"replicas": 2})),
        POOL,
        ["manifests[0] (Deployment web)", "spec.template must be an object"],
    ),
    (
        workload(obj("apps/v1", "Deployment", "web", spec={"template": "x"})),
        None,
        ["manifests[0] (Deployment web)", "spec.template must be an object"],
    ),
    (
        workload(obj("v1", "Pod", "p", spec={**POD_SPEC, "tolerations": {"key": "x"}})),
        POOL,
        ["manifests[0] (Pod p)", "tolerations must be a list"],
    ),
    (
        workload(obj("v1", "Pod", "p", spec={**POD_SPEC, "nodeSelector": ["x"]})),
        POOL,
        ["manifests[0] (Pod p)", "spec.nodeSelector must be a map"],
    ),
    ("not a workload", None, ["spec.workload.kubernetes must be an object"]),
]


@pytest.mark.parametrize(
    ("given", "pool", "words"),
    BAD,
    ids=[
        "namespace-not-allowed",
        "unmoved-namespace-in-a-pool",
        "cluster-scoped-in-a-pool",
        "namespace-manifest-in-a-pool",
        "too-many-manifests",
        "no-manifests",
        "no-namespace",
        "namespace-not-a-dns-label",
        "allowed-namespaces-not-a-list",
        "manifest-not-an-object",
        "no-name",
        "no-api-version",
        "namespace-not-a-string",
        "labels-not-a-map",
        "deployment-without-a-pod-template-in-a-pool",
        "template-not-an-object",
        "tolerations-not-a-list",
        "node-selector-not-a-map",
        "workload-not-an-object",
    ],
)
def test_what_cannot_be_rendered_is_a_render_error(
    given: Any, pool: NodePool | None, words: list[str]
) -> None:
    before = copy.deepcopy(given)
    with pytest.raises(RenderError) as error:
        render(given, IDENTITY, scopes=SCOPES, pool=pool)
    for word in words:
        assert word in str(error.value)
    assert given == before


@pytest.mark.parametrize(
    ("identity", "words"),
    [
        (Identity("s1", "shop", "a", True), ["revision must be an integer"]),
        (Identity("s1", "shop", "a", -1), ["revision is out of range"]),
        (Identity("s1", "shop", "a", 10**5000), ["revision is out of range"]),
        (Identity("s 1", "shop", "a", 1), ["identity.site 's 1' cannot be a label value"]),
    ],
    ids=["revision-bool", "revision-negative", "revision-huge", "site-not-a-label-value"],
)
def test_a_bad_identity_is_a_render_error(identity: Identity, words: list[str]) -> None:
    with pytest.raises(RenderError) as error:
        render(workload(obj("v1", "ConfigMap", "c")), identity, scopes=SCOPES)
    for word in words:
        assert word in str(error.value)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("shop", "shop"),
        ("shop.s1.0123456789", "shop.s1.0123456789"),
        ("a" * 63, "a" * 63),
        ("a" * 64, None),
        ("web." + "b" * 240 + ".0123456789", None),
        ("x" * 52 + "." + "y" * 20, None),
    ],
    ids=["short", "dotted", "63-chars", "64-chars", "253-chars", "cut-at-a-dot"],
)
def test_label_values_of_long_names(name: str, expected: str | None) -> None:
    value = label_value(name)
    assert check_label_value(value) is None
    if expected is not None:
        assert value == expected
    else:
        assert len(value) <= 63 and value.startswith(name[:40])
        assert label_value(name) == value
        assert label_value(name + "z") != value


def test_long_identity_names_label_objects_with_valid_values() -> None:
    long_app = "a" * 200
    identity = Identity("s1", long_app, f"{long_app}.s1.0123456789"[:253], 1)
    [_namespace, config] = render(workload(obj("v1", "ConfigMap", "c")), identity, scopes=SCOPES)
    labels = config["metadata"]["labels"]
    assert labels[APPLICATION_LABEL] == label_value(long_app)
    assert all(check_label_value(v) is None for v in labels.values())
    assert labels[APPLICATION_LABEL] != labels[ASSIGNMENT_LABEL]
