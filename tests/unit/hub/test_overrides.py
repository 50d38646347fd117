"""The kubernetes workload an Assignment carries (``hub.overrides`` through
``controllers.rendering.render``): override values then patches, by kind and name;
Divided replicas scale the scalable kinds; the namespace resolved; force and
allowedNamespaces always set; a manifest's own namespace only where Policies allow."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from edgeplane.api.wire import Object
from edgeplane.hub.controllers.rendering import render
from edgeplane.hub.overrides import OverrideError, apply_override, scaled, site_workload

DEPLOY = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web"},
    "spec": {
        "replicas": 3,
        "template": {"spec": {"containers": [{"name": "web", "image": "web:1"}]}},
    },
}
STATEFUL = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db"}, "spec": {}}
CONFIG = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web"}, "data": {"a": "1"}}
CUSTOM = {"apiVersion": "example.com/v1", "kind": "Deployment", "metadata": {"name": "x"}}
SHARED = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "shared"}}


def app(
    manifests: list[dict[str, Any]],
    overrides: list[dict[str, Any]] | None = None,
    divided: bool = False,
    name: str = "shop",
    **kubernetes: Any,
) -> Object:
    placement: dict[str, Any] = {"mode": "Replicas", "replicas": 3}
    if divided:
        placement["division"] = "Divided"
    return {
        "apiVersion": "edgeplane.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": name, "generation": 2},
        "spec": {
            "workload": {"kubernetes": {"manifests": manifests, **kubernetes}},
            "placement": placement,
            "overrides": overrides or [],
        },
    }


def site(name: str = "s1", **labels: str) -> Object:
    return {"kind": "Site", "metadata": {"name": name, "labels": labels}}


def rendered(application: Object, at: Object | None = None, **kw: Any) -> Any:
    obj = render(application, at or site(), application["spec"]["workload"], **kw)
    return obj["spec"]["workload"]["kubernetes"]


SET_IMAGE = {
    "target": {"kind": "Deployment", "name": "web"},
    "patch": {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "web:2"}]}}}},
}
JSON_DATA = {
    "target": {"kind": "ConfigMap", "name": "web", "apiVersion": "v1"},
    "jsonPatch": [
        {"op": "test", "path": "/data/a", "value": "1"},
        {"op": "add", "path": "/data/b", "value": "2"},
    ],
}


def test_a_plain_workload_gets_namespace_force_and_no_allowed_namespaces() -> None:
    kube = rendered(app([DEPLOY, CONFIG]))
    assert kube["namespace"] == "shop"
    assert kube["force"] is False
    assert kube["allowedNamespaces"] == []
    assert kube["manifests"] == [DEPLOY, CONFIG]  # Duplicated: replicas as written


def test_namespace_and_force_as_the_application_says() -> None:
    kube = rendered(app([DEPLOY], namespace="web-ns", force=True))
    assert (kube["namespace"], kube["force"]) == ("web-ns", True)


@pytest.mark.parametrize(
    ("overrides", "where", "image", "data"),
    [
        ([], site("s1"), "web:1", {"a": "1"}),
        ([{"site": "s1", "patches": [SET_IMAGE]}], site("s1"), "web:2", {"a": "1"}),
        ([{"site": "s1", "patches": [SET_IMAGE]}], site("s2"), "web:1", {"a": "1"}),
        (
            [
                {
                    "siteSelector": {"matchLabels": {"tier": "edge"}},
                    "patches": [SET_IMAGE, JSON_DATA],
                }
            ],
            site("s2", tier="edge"),
            "web:2",
            {"a": "1", "b": "2"},
        ),
        (
            [
                {
                    "site": "s1",
                    "values": {
                        "kubernetes": {
                            "manifests": [DEPLOY, {**CONFIG, "data": {"a": "1", "z": "0"}}]
                        }
                    },
                    "patches": [JSON_DATA],
                },
            ],
            site("s1"),
            "web:1",
            {"a": "1", "z": "0", "b": "2"},
        ),
    ],
    ids=["none", "by-name", "other-site", "by-label-two-patches", "values-then-patches"],
)
def test_patches_change_the_matching_manifests_at_the_covered_sites(
    overrides: list[dict[str, Any]], where: Object, image: str, data: dict[str, str]
) -> None:
    application = app([DEPLOY, CONFIG], overrides)
    before = copy.deepcopy(application)
    deploy, config = rendered(application, where)["manifests"]
    assert deploy["spec"]["template"]["spec"]["containers"][0]["image"] == image
    assert config["data"] == data
    assert application == before  # the Application is never modified


@pytest.mark.parametrize(
    ("divided", "replicas", "expected"),
    [(True, 2, (2, 2, None)), (True, 0, (0, 0, None)), (False, 2, (3, None, None))],
    ids=["divided", "divided-zero", "duplicated-untouched"],
)
def test_divided_replicas_scale_the_scalable_kinds(
    divided: bool, replicas: int, expected: tuple[int | None, ...]
) -> None:
    kube = rendered(app([DEPLOY, STATEFUL, CUSTOM], divided=divided), replicas=replicas)
    found = tuple((m.get("spec") or {}).get("replicas") for m in kube["manifests"])
    assert found == expected


def test_scaled_leaves_other_kinds_and_groups_alone() -> None:
    assert scaled([CONFIG, CUSTOM], 4) == [CONFIG, CUSTOM]


@pytest.mark.parametrize(
    ("manifests", "allowed", "expected"),
    [
        ([SHARED], frozenset({"shared"}), ["shared"]),
        ([SHARED], frozenset({"shared", "other"}), ["shared"]),
        ([{**CONFIG, "metadata": {"name": "c", "namespace": "shop"}}], frozenset(), []),
    ],
    ids=["allowed", "only-what-is-used", "own-namespace-needs-nothing"],
)
def test_allowed_namespaces_are_those_used_and_allowed(
    manifests: list[dict[str, Any]], allowed: frozenset[str], expected: list[str]
) -> None:
    assert rendered(app(manifests), allowed=allowed)["allowedNamespaces"] == expected


def test_a_namespace_no_policy_allows_is_refused_with_the_fix() -> None:
    with pytest.raises(OverrideError) as raised:
        rendered(app([CONFIG, SHARED]))
    assert raised.value.field == "spec.workload.kubernetes.manifests[1].metadata.namespace"
    assert "spec.kubernetes.allowedNamespaces: [shared]" in raised.value.message


@pytest.mark.parametrize("namespace", ["kube-system", "kube-public"])
def test_a_kubernetes_system_namespace_needs_a_policy(namespace: str) -> None:
    """The agent refuses a ``kube-`` namespace the Assignment does not list as allowed:
    the hub refuses it at admission, or lists it when a Policy allows it."""
    with pytest.raises(OverrideError) as raised:
        rendered(app([CONFIG], namespace=namespace))
    assert raised.value.field == "spec.workload.kubernetes.namespace"
    assert f"spec.kubernetes.allowedNamespaces: [{namespace}]" in raised.value.message
    allowed = rendered(app([CONFIG], namespace=namespace), allowed=frozenset({namespace}))
    assert allowed["allowedNamespaces"] == [namespace]


@pytest.mark.parametrize(
    ("override", "field", "words"),
    [
        (
            {
                "site": "s1",
                "patches": [{"target": {"kind": "Deployment", "name": "nope"}, "patch": {}}],
            },
            "spec.overrides[0].patches[0].target",
            "matches no manifest",
        ),
        (
            {
                "site": "s1",
                "patches": [
                    {
                        "target": {"kind": "ConfigMap", "name": "web"},
                        "jsonPatch": [{"op": "remove", "path": "/data/zz"}],
                    }
                ],
            },
            "spec.overrides[0].patches[0].jsonPatch[0]",
            "'/data/zz' does not exist",
        ),
        (
            {
                "site": "s1",
                "patches": [
                    {
                        "target": {"kind": "ConfigMap", "name": "web"},
                        "jsonPatch": [{"op": "replace", "path": "", "value": 3}],
                    }
                ],
            },
            "spec.overrides[0].patches[0].jsonPatch",
            "leaves no object",
        ),
    ],
    ids=["target-missing", "bad-path", "not-an-object"],
)
def test_a_patch_that_cannot_apply_names_its_field(
    override: dict[str, Any], field: str, words: str
) -> None:
    with pytest.raises(OverrideError) as raised:
        rendered(app([DEPLOY, CONFIG], [override]))
    assert raised.value.field == field
    assert words in raised.value.message


def test_two_manifests_of_one_name_need_a_finer_target() -> None:
    twin = {**CONFIG, "metadata": {"name": "web", "namespace": "shared"}}
    patch: dict[str, Any] = {
        "target": {"kind": "ConfigMap", "name": "web"},
        "patch": {"data": {"b": "2"}},
    }
    with pytest.raises(OverrideError) as raised:
        apply_override(app([CONFIG, twin])["spec"]["workload"], {"patches": [patch]}, 0)
    assert "matches 2 manifests" in raised.value.message
    patch["target"] = {**patch["target"], "namespace": "shared"}
    workload = apply_override(app([CONFIG, twin])["spec"]["workload"], {"patches": [patch]}, 0)
    assert [m["data"] for m in workload["kubernetes"]["manifests"]] == [
        {"a": "1"},
        {"a": "1", "b": "2"},
    ]


def test_a_process_workload_passes_through() -> None:
    application = app([DEPLOY])
    application["spec"]["workload"] = {"process": {"command": "true"}}
    assert site_workload(application["spec"]["workload"], application, site(), 1, frozenset()) == {
        "process": {"command": "true"}
    }
