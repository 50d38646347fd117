"""The kubernetes fields of the API, table by table: manifests (identity fully
matched, counts and sizes bounded), namespace and force, override patches, a Policy's
allowedNamespaces, a Site's runtimes and its nodes inventory. Bad input names the field
and the fix; good input round-trips unchanged."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from edgeplane.api.kubernetes import (
    JSON_PATCH_OPS_MAX,
    MANIFEST_MAX_BYTES,
    MANIFESTS_MAX,
    PATCHES_MAX,
)
from edgeplane.api.validation import InvalidObject, to_wire, validate_object
from tests.support.builders import good

API = "edgeplane.io/v1alpha1"
DEPLOY: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web"},
    "spec": {"replicas": 1},
}
K = "spec.workload.kubernetes"


def application(name: str = "shop", overrides: Any = None, **kubernetes: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "workload": {"kubernetes": {"manifests": [copy.deepcopy(DEPLOY)], **kubernetes}},
        "placement": {"mode": "Replicas", "replicas": 1},
    }
    if overrides is not None:
        spec["overrides"] = overrides
    return {"apiVersion": API, "kind": "Application", "metadata": {"name": name}, "spec": spec}


def manifest(**fields: Any) -> dict[str, Any]:
    found = copy.deepcopy(DEPLOY)
    for key, value in fields.items():
        if key in ("name", "namespace"):
            found["metadata"][key] = value
        else:
            found[key] = value
    return found


def patch(**fields: Any) -> dict[str, Any]:
    return {"target": {"kind": "Deployment", "name": "web"}, **fields}


def refused(obj: dict[str, Any]) -> InvalidObject:
    with pytest.raises(InvalidObject) as raised:
        validate_object(obj)
    return raised.value


GOOD = [
    application(),
    application(namespace="web", force=True),
    application(manifests=[manifest(apiVersion="v1", kind="ConfigMap", namespace="shop")]),
    application(manifests=[manifest(apiVersion="example.com/v1beta1", kind="Widget")]),
    application(
        "a.b",
        namespace="ab",
        overrides=[
            {"site": "s1", "patches": [patch(patch={"spec": {"replicas": None}})]},
            {
                "siteSelector": {"matchLabels": {"tier": "edge"}},
                "patches": [
                    patch(jsonPatch=[{"op": "add", "path": "/spec/x", "value": None}]),
                    patch(jsonPatch=[{"op": "move", "from": "/spec/a~1b", "path": "/spec/c"}]),
                ],
            },
        ],
    ),
]


@pytest.mark.parametrize("obj", GOOD, ids=["plain", "namespace-force", "core", "crd", "patches"])
def test_good_kubernetes_applications_round_trip(obj: dict[str, Any]) -> None:
    wire = to_wire(validate_object(obj))
    assert wire["spec"]["workload"] == obj["spec"]["workload"]  # manifests as written
    patches = [o.get("patches") for o in wire["spec"].get("overrides") or ()]
    assert patches == [o.get("patches") for o in obj["spec"].get("overrides") or ()]
    assert to_wire(validate_object(wire)) == wire


@pytest.mark.parametrize(
    ("obj", "field", "words"),
    [
        (application(manifests=[manifest(apiVersion="apps/v1/x")]), f"{K}.manifests[0]", "group/"),
        (application(manifests=[manifest(apiVersion="V1")]), f"{K}.manifests[0]", "'v1'"),
        (application(manifests=[manifest(kind="deployment")]), f"{K}.manifests[0]", "capital"),
        (application(manifests=[manifest(kind="Deploy\n")]), f"{K}.manifests[0]", "not a kind"),
        (application(manifests=[manifest(name="Web")]), f"{K}.manifests[0]", "lower case"),
        (application(manifests=[manifest(name="web\n")]), f"{K}.manifests[0]", "lower case"),
        (application(manifests=[manifest(namespace="a.b")]), f"{K}.manifests[0]", "DNS-1123"),
        (application(manifests=[manifest(metadata=[])]), f"{K}.manifests[0]", "metadata"),
        (
            application(manifests=[manifest(data="x" * MANIFEST_MAX_BYTES)]),
            f"{K}.manifests",
            "manifests[0] is",
        ),
        (
            application(manifests=[manifest(name=f"m{i}") for i in range(MANIFESTS_MAX + 1)]),
            f"{K}.manifests",
            f"at most {MANIFESTS_MAX}",
        ),
        (
            application(manifests=[manifest(name=f"m{i}", d="x" * 200_000) for i in range(6)]),
            f"{K}.manifests",
            "split the application",
        ),
        (application(namespace="Shop"), f"{K}.namespace", "lower case"),
        (application(force="yes"), f"{K}.force", "boolean"),
        (application(allowedNamespaces=["x"]), f"{K}.allowedNamespaces", "remove it"),
        (application("a.b"), f"{K}.namespace", "set a namespace"),
        (application("x" * 64), f"{K}.namespace", "DNS-1123 label"),
    ],
    ids=[
        "apiversion-three-parts",
        "apiversion-capital",
        "kind-lower-case",
        "kind-newline",
        "name-capital",
        "name-newline",
        "namespace-with-dot",
        "metadata-not-object",
        "manifest-too-big",
        "too-many-manifests",
        "all-too-big",
        "bad-namespace",
        "force-not-bool",
        "allowed-namespaces-are-the-hubs",
        "name-not-a-label",
        "name-too-long-for-a-label",
    ],
)
def test_bad_manifests_and_fields_name_the_field(
    obj: dict[str, Any], field: str, words: str
) -> None:
    error = refused(obj)
    assert error.field == field, error.errors
    assert words in str(error), error.errors


O = "spec.overrides[0]"  # noqa: E741


@pytest.mark.parametrize(
    ("patches", "field", "words"),
    [
        ([{"target": {"kind": "Deployment", "name": "web"}}], f"{O}.patches[0]", "exactly one"),
        (
            [patch(patch={}, jsonPatch=[{"op": "remove", "path": "/a"}])],
            f"{O}.patches[0]",
            "exactly one",
        ),
        ([patch(jsonPatch=[])], f"{O}.patches[0].jsonPatch", "at least 1"),
        ([patch(jsonPatch=[{"op": "frob", "path": "/a"}])], f"{O}.patches[0].jsonPatch[0]", "frob"),
        (
            [patch(jsonPatch=[{"op": "add", "path": "/a"}])],
            f"{O}.patches[0].jsonPatch[0]",
            "needs a value",
        ),
        ([patch(jsonPatch=[{"op": "copy", "path": "/a"}])], f"{O}.patches[0].jsonPatch[0]", "from"),
        (
            [patch(jsonPatch=[{"op": "remove", "path": "a"}])],
            f"{O}.patches[0].jsonPatch[0]",
            "JSON pointer",
        ),
        (
            [patch(jsonPatch=[{"op": "remove", "path": "/a~"}])],
            f"{O}.patches[0].jsonPatch[0]",
            "'~0'",
        ),
        (
            [patch(jsonPatch=[{"op": "remove", "path": "/a", "value": 1}])],
            f"{O}.patches[0].jsonPatch[0]",
            "not a field",
        ),
        (
            [
                patch(
                    jsonPatch=[{"op": "test", "path": "/a", "value": 1}] * (JSON_PATCH_OPS_MAX + 1)
                )
            ],
            f"{O}.patches[0].jsonPatch",
            f"at most {JSON_PATCH_OPS_MAX}",
        ),
        ([patch(patch={})] * (PATCHES_MAX + 1), f"{O}.patches", f"at most {PATCHES_MAX}"),
        (
            [{"target": {"kind": "Deployment", "name": "nope"}, "patch": {}}],
            f"{O}.patches[0].target",
            "matches no manifest",
        ),
        (
            [
                {
                    "target": {"kind": "Deployment", "name": "web", "apiVersion": "apps/v2"},
                    "patch": {},
                }
            ],
            f"{O}.patches[0].target",
            "no manifest",
        ),
        (
            [{"target": {"kind": "Deployment", "name": "web\n"}, "patch": {}}],
            f"{O}.patches[0].target.name",
            "lower case",
        ),
        (
            [{"target": {"kind": "Deployment"}, "patch": {}}],
            f"{O}.patches[0].target.name",
            "required",
        ),
    ],
    ids=[
        "no-patch",
        "both-kinds",
        "empty-json-patch",
        "unknown-op",
        "add-without-value",
        "copy-without-from",
        "relative-path",
        "bad-escape",
        "remove-with-value",
        "too-many-ops",
        "too-many-patches",
        "target-missing",
        "target-other-version",
        "target-name-newline",
        "target-without-name",
    ],
)
def test_bad_patches_name_the_field(patches: list[Any], field: str, words: str) -> None:
    error = refused(application(overrides=[{"site": "s1", "patches": patches}]))
    assert error.field == field, error.errors
    assert words in str(error), error.errors


def test_patches_of_a_process_workload_are_refused() -> None:
    obj = copy.deepcopy(good("Application"))
    obj["spec"]["overrides"] = [{"site": "s1", "patches": [patch(patch={})]}]
    error = refused(obj)
    assert error.field == "spec.overrides[0].patches"
    assert "use spec.overrides[].values" in str(error)


def test_targets_are_checked_against_the_manifests_the_values_leave() -> None:
    other = manifest(name="other")
    values = {"kubernetes": {"manifests": [other]}}
    target = {"kind": "Deployment", "name": "other"}
    validate_object(
        application(
            overrides=[
                {"site": "s", "values": values, "patches": [{"target": target, "patch": {}}]}
            ]
        )
    )
    error = refused(
        application(overrides=[{"site": "s", "values": values, "patches": [patch(patch={})]}])
    )
    assert error.field == f"{O}.patches[0].target"


# -- Policy -----------------------------------------------------------------------------


def policy(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": API, "kind": "Policy", "metadata": {"name": "p"}, "spec": spec}


def test_a_policy_may_allow_namespaces_without_rules() -> None:
    obj = policy(scope="Admission", kubernetes={"allowedNamespaces": ["shared", "monitoring"]})
    spec = to_wire(validate_object(obj))["spec"]
    assert spec["kubernetes"] == {"allowedNamespaces": ["shared", "monitoring"]}
    assert spec["rules"] == []


@pytest.mark.parametrize(
    ("spec", "field", "words"),
    [
        (
            {"scope": "Placement", "kubernetes": {"allowedNamespaces": ["a"]}},
            "spec.kubernetes",
            "scope: Admission",
        ),
        (
            {"scope": "Admission", "kubernetes": {"allowedNamespaces": []}},
            "spec.kubernetes.allowedNamespaces",
            "at least 1",
        ),
        (
            {"scope": "Admission", "kubernetes": {"allowedNamespaces": ["a", "a"]}},
            "spec.kubernetes.allowedNamespaces",
            "twice",
        ),
        (
            {"scope": "Admission", "kubernetes": {"allowedNamespaces": ["A"]}},
            "spec.kubernetes.allowedNamespaces[0]",
            "lower case",
        ),
        ({"scope": "Admission"}, "spec.rules", "at least one rule"),
    ],
    ids=["placement-scope", "empty", "twice", "not-a-namespace", "says-nothing"],
)
def test_bad_policies_name_the_field(spec: dict[str, Any], field: str, words: str) -> None:
    error = refused(policy(**spec))
    assert error.field == field, error.errors
    assert words in str(error), error.errors


# -- Site -------------------------------------------------------------------------------


def site(spec: dict[str, Any], inventory: dict[str, Any] | None = None) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": API,
        "kind": "Site",
        "metadata": {"name": "s"},
        "spec": spec,
    }
    if inventory is not None:
        obj["status"] = {"inventory": inventory}
    return obj


def test_sites_declare_runtimes_and_report_their_nodes() -> None:
    inventory = {
        "runtime": "kubernetes",
        "nodes": 3,
        "readyNodes": 2,
        "architectures": ["amd64", "arm64"],
        "nodePool": "edgeplane.io/site=pool-a",
        "kubernetesVersion": "v1.31.0",
    }
    obj = site({"runtimes": ["process", "kubernetes"]}, inventory)
    wire = to_wire(validate_object(obj))
    assert (wire["spec"], wire["status"]) == (obj["spec"], obj["status"])


@pytest.mark.parametrize(
    ("obj", "field", "words"),
    [
        (site({"runtimes": []}), "spec.runtimes", "at least 1"),
        (site({"runtimes": ["process", "process"]}), "spec.runtimes", "twice"),
        (site({"runtimes": ["docker"]}), "spec.runtimes[0]", "'process'"),
        (site({}, {"readyNodes": -1}), "status.inventory.readyNodes", "greater than or equal"),
        (
            site({}, {"architectures": ["amd64"] * 17}),
            "status.inventory.architectures",
            "at most 16",
        ),
        (site({}, {"nodePool": "a\nb"}), "status.inventory.nodePool", "control character"),
    ],
    ids=[
        "no-runtimes",
        "runtime-twice",
        "unknown-runtime",
        "negative-ready",
        "many-arch",
        "pool-newline",
    ],
)
def test_bad_sites_name_the_field(obj: dict[str, Any], field: str, words: str) -> None:
    error = refused(obj)
    assert error.field == field, error.errors
    assert words in str(error), error.errors
