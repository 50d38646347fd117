"""Patching one manifest (``hub.manifests``), table by table: strategic merge as
Kubernetes merges the core kinds' lists, and RFC 6902 JSON patch (the RFC's own
examples among them), all or nothing, never modifying its input."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from edgeplane.hub.manifests import COPY_MAX_BYTES, PatchError, json_equal, json_patch
from edgeplane.hub.manifests import strategic_merge as merge

POD = {
    "containers": [
        {
            "name": "web",
            "image": "web:1",
            "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
            "ports": [{"containerPort": 80, "name": "http"}],
            "volumeMounts": [{"name": "data", "mountPath": "/data"}],
        },
        {"name": "sidecar", "image": "proxy:1"},
    ],
    "volumes": [{"name": "data", "emptyDir": {}}],
    "tolerations": [{"key": "a", "operator": "Exists"}],
    "imagePullSecrets": [{"name": "one"}],
}
DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "labels": {"app": "web", "tier": "front"}},
    "spec": {"replicas": 3, "template": {"spec": POD}},
}
SERVICE = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "web"},
    "spec": {"ports": [{"port": 80, "targetPort": 8080}, {"port": 443, "targetPort": 8443}]},
}


def pod(patch: dict[str, Any]) -> dict[str, Any]:
    return {"spec": {"template": {"spec": patch}}}


def containers(result: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = result["spec"]["template"]["spec"]["containers"]
    return found


@pytest.mark.parametrize(
    ("patch", "path", "expected"),
    [
        ({"spec": {"replicas": 5}}, ("spec", "replicas"), 5),
        (
            {"metadata": {"labels": {"tier": None, "zone": "a"}}},
            ("metadata", "labels"),
            {"app": "web", "zone": "a"},
        ),
        (
            pod({"containers": [{"name": "web", "image": "web:2"}]}),
            ("spec", "template", "spec", "containers", 0, "image"),
            "web:2",
        ),
        (
            pod({"containers": [{"name": "web", "image": "web:2"}]}),
            ("spec", "template", "spec", "containers", 1, "image"),
            "proxy:1",
        ),
        (
            pod({"containers": [{"name": "extra", "image": "x:1"}]}),
            ("spec", "template", "spec", "containers", 2, "name"),
            "extra",
        ),
        (
            pod({"containers": [{"name": "web", "env": [{"name": "B", "value": "9"}]}]}),
            ("spec", "template", "spec", "containers", 0, "env"),
            [{"name": "A", "value": "1"}, {"name": "B", "value": "9"}],
        ),
        (
            pod({"containers": [{"name": "web", "env": [{"name": "A", "$patch": "delete"}]}]}),
            ("spec", "template", "spec", "containers", 0, "env"),
            [{"name": "B", "value": "2"}],
        ),
        (
            pod({"containers": [{"name": "web", "ports": [{"containerPort": 80, "name": "w"}]}]}),
            ("spec", "template", "spec", "containers", 0, "ports"),
            [{"containerPort": 80, "name": "w"}],
        ),
        (
            pod(
                {
                    "containers": [
                        {"name": "web", "volumeMounts": [{"mountPath": "/data", "readOnly": True}]}
                    ]
                }
            ),
            ("spec", "template", "spec", "containers", 0, "volumeMounts"),
            [{"name": "data", "mountPath": "/data", "readOnly": True}],
        ),
        (
            pod({"volumes": [{"name": "cache", "emptyDir": {}}]}),
            ("spec", "template", "spec", "volumes"),
            [{"name": "data", "emptyDir": {}}, {"name": "cache", "emptyDir": {}}],
        ),
        (
            pod({"imagePullSecrets": [{"name": "two"}]}),
            ("spec", "template", "spec", "imagePullSecrets"),
            [{"name": "one"}, {"name": "two"}],
        ),
        (
            pod({"tolerations": [{"key": "b", "operator": "Exists"}]}),
            ("spec", "template", "spec", "tolerations"),
            [{"key": "b", "operator": "Exists"}],
        ),
        (
            pod({"containers": [{"$patch": "replace"}, {"name": "only", "image": "o:1"}]}),
            ("spec", "template", "spec", "containers"),
            [{"name": "only", "image": "o:1"}],
        ),
        (
            {"metadata": {"labels": {"$patch": "replace", "new": "yes"}}},
            ("metadata", "labels"),
            {"new": "yes"},
        ),
        (pod({"volumes": None}), ("spec", "template", "spec", "volumes"), "absent"),
        (
            {"metadata": {"labels": {"$patch": "delete"}}},
            ("metadata", "labels"),
            "absent",
        ),
    ],
    ids=[
        "scalar",
        "map-merges-null-deletes",
        "container-by-name",
        "other-container-kept",
        "new-container-appended",
        "env-by-name",
        "env-item-deleted",
        "container-ports-by-containerPort",
        "volume-mounts-by-mountPath",
        "volumes-by-name",
        "pull-secrets-by-name",
        "tolerations-replaced",
        "list-replace-directive",
        "map-replace-directive",
        "null-deletes-list",
        "map-delete-directive",
    ],
)
def test_strategic_merge(patch: dict[str, Any], path: tuple[Any, ...], expected: Any) -> None:
    before = copy.deepcopy(DEPLOYMENT)
    node: Any = merge(DEPLOYMENT, patch)
    for step in path[:-1]:
        node = node[step]
    found = node.get(path[-1], "absent") if isinstance(node, dict) else node[path[-1]]
    assert found == expected
    assert before == DEPLOYMENT  # the input is never modified


def test_service_ports_merge_by_port() -> None:
    result = merge(SERVICE, {"spec": {"ports": [{"port": 443, "targetPort": 9443}]}})
    assert result["spec"]["ports"] == [
        {"port": 80, "targetPort": 8080},
        {"port": 443, "targetPort": 9443},
    ]


@pytest.mark.parametrize(
    ("patch", "field", "words"),
    [
        (pod({"containers": [{"image": "x"}]}), "patch.spec.template.spec.containers[0]", "'name'"),
        ({"metadata": {"$patch": "merge-ish"}}, "patch.metadata", "delete or replace"),
        ({"$patch": "delete"}, "patch", "whole manifest"),
    ],
    ids=["item-without-merge-key", "unknown-directive", "delete-everything"],
)
def test_strategic_merge_refuses(patch: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(PatchError) as raised:
        merge(DEPLOYMENT, patch)
    assert raised.value.field == field
    assert words in raised.value.message


# -- JSON patch -------------------------------------------------------------------------

DOC: dict[str, Any] = {"a": {"b": [1, 2, 3], "c": "x"}, "k~/": 1, "t": True, "n": 1}


@pytest.mark.parametrize(
    ("ops", "expected"),
    [
        ([{"op": "add", "path": "/a/d", "value": None}], {**DOC, "a": {**DOC["a"], "d": None}}),
        (
            [{"op": "add", "path": "/a/b/1", "value": 9}],
            {**DOC, "a": {"b": [1, 9, 2, 3], "c": "x"}},
        ),
        (
            [{"op": "add", "path": "/a/b/-", "value": 4}],
            {**DOC, "a": {"b": [1, 2, 3, 4], "c": "x"}},
        ),
        ([{"op": "remove", "path": "/a/b/0"}], {**DOC, "a": {"b": [2, 3], "c": "x"}}),
        (
            [{"op": "replace", "path": "/a/c", "value": "y"}],
            {**DOC, "a": {"b": [1, 2, 3], "c": "y"}},
        ),
        (
            [{"op": "move", "from": "/a/c", "path": "/c"}],
            {**DOC, "a": {"b": [1, 2, 3]}, "c": "x"},
        ),
        (
            [{"op": "copy", "from": "/a/b", "path": "/b"}],
            {**DOC, "b": [1, 2, 3]},
        ),
        ([{"op": "test", "path": "/k~0~1", "value": 1}], DOC),
        ([{"op": "test", "path": "/n", "value": 1.0}], DOC),
        (
            [{"op": "test", "path": "/a/c", "value": "x"}, {"op": "remove", "path": "/t"}],
            {k: v for k, v in DOC.items() if k != "t"},
        ),
        ([{"op": "move", "from": "/a", "path": "/a"}], DOC),
    ],
    ids=[
        "add-null-value",
        "add-into-list",
        "add-at-end",
        "remove-item",
        "replace",
        "move",
        "copy",
        "test-escaped-key",
        "test-number-equality",
        "test-then-remove",
        "move-onto-itself",
    ],
)
def test_json_patch(ops: list[dict[str, Any]], expected: dict[str, Any]) -> None:
    before = copy.deepcopy(DOC)
    assert json_patch(DOC, ops) == expected
    assert before == DOC


@pytest.mark.parametrize(
    ("ops", "field", "words"),
    [
        ([{"op": "test", "path": "/t", "value": 1}], "jsonPatch[0]", "test failed"),
        ([{"op": "remove", "path": "/nope"}], "jsonPatch[0]", "'/nope' does not exist"),
        ([{"op": "replace", "path": "/a/zz", "value": 1}], "jsonPatch[0]", "does not exist"),
        ([{"op": "add", "path": "/a/b/4", "value": 1}], "jsonPatch[0]", "past the end"),
        ([{"op": "add", "path": "/a/b/01", "value": 1}], "jsonPatch[0]", "not an index"),
        ([{"op": "add", "path": "/x/y", "value": 1}], "jsonPatch[0]", "'/x' does not exist"),
        ([{"op": "move", "from": "/a", "path": "/a/b/0"}], "jsonPatch[0]", "into itself"),
        ([{"op": "add", "path": "a", "value": 1}], "jsonPatch[0]", "not a JSON pointer"),
        ([{"op": "add", "path": "/a~2", "value": 1}], "jsonPatch[0]", "'~0'"),
        ([{"op": "remove", "path": ""}], "jsonPatch[0]", "whole manifest"),
        (
            [{"op": "add", "path": "/ok", "value": 1}, {"op": "remove", "path": "/gone"}],
            "jsonPatch[1]",
            "does not exist",
        ),
    ],
    ids=[
        "test-true-is-not-1",
        "remove-missing",
        "replace-missing",
        "index-past-end",
        "leading-zero",
        "missing-parent",
        "move-into-child",
        "relative-pointer",
        "bad-escape",
        "remove-root",
        "second-op-fails",
    ],
)
def test_json_patch_refuses(ops: list[dict[str, Any]], field: str, words: str) -> None:
    before = copy.deepcopy(DOC)
    with pytest.raises(PatchError) as raised:
        json_patch(DOC, ops)
    assert (raised.value.field, words in raised.value.message) == (field, True), raised.value
    assert before == DOC  # all or nothing: the first op's add left no trace


def test_copies_are_bounded() -> None:
    """Each copy doubles the document: 30 of them would make gigabytes."""
    ops = [{"op": "copy", "from": "/d", "path": "/d/-"} for _ in range(30)]
    with pytest.raises(PatchError) as raised:
        json_patch({"d": ["x" * 1000]}, ops)
    assert f"over {COPY_MAX_BYTES} bytes" in raised.value.message


@pytest.mark.parametrize(
    ("a", "b", "equal"),
    [
        (1, 1.0, True),
        (True, 1, False),
        (False, 0, False),
        ({"a": [1, {"b": None}]}, {"a": [1, {"b": None}]}, True),
        ({"a": 1}, {"a": 1, "b": 2}, False),
        ([1, 2], [2, 1], False),
        ("1", 1, False),
        (None, None, True),
    ],
    ids=["int-float", "bool-int", "false-zero", "nested", "extra-key", "order", "str-int", "null"],
)
def test_json_equal(a: Any, b: Any, equal: bool) -> None:
    assert json_equal(a, b) is equal


@pytest.mark.parametrize(
    "operations",
    [
        [{"op": "copy", "from": "/a", "path": "/a/x"}] * 120,
        [{"op": "add", "path": "/a" + "/x" * n, "value": {"x": {}}} for n in range(120)],
    ],
    ids=["copy-into-itself", "add-deeper-each-time"],
)
def test_a_json_patch_never_nests_past_the_limit(operations: list[dict[str, Any]]) -> None:
    with pytest.raises(PatchError, match=r"would nest over 100 levels deep"):
        json_patch({"a": {"b": 1}}, operations)
