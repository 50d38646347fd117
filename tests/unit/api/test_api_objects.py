"""Resource validation: good objects pass, bad ones name the field and the fix."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from edgeplane.api.kinds import KINDS, UnknownKind, by_plural, kind_info
from edgeplane.api.validation import InvalidObject, to_wire, validate_object

EXAMPLES = sorted((Path(__file__).resolve().parents[3] / "examples").glob("*.yaml"))


def application(**spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "workload": {"process": {"command": "python3"}},
        "placement": {"mode": "Replicas", "replicas": 2},
    }
    base.update(spec)
    return {
        "apiVersion": "edgeplane.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "web"},
        "spec": base,
    }


def docs() -> list[Any]:
    return [d for path in EXAMPLES for d in yaml.safe_load_all(path.read_text()) if d]


@pytest.mark.parametrize("doc", docs(), ids=lambda d: f"{d['kind']}/{d['metadata']['name']}")
def test_examples_validate_and_round_trip(doc: dict[str, Any]) -> None:
    wire = to_wire(validate_object(doc))
    assert to_wire(validate_object(wire)) == wire
    assert wire["spec"] == {k: v for k, v in doc["spec"].items()} or wire["kind"] != "Site"


def test_every_kind_is_covered_by_examples() -> None:
    assert {d["kind"] for d in docs()} >= {"Site", "SiteGroup", "Application", "Policy"}


def mutate(path: str, value: Any) -> dict[str, Any]:
    obj = application()
    target = obj
    *parents, last = path.split(".")
    for key in parents:
        target = target.setdefault(key, {})
    target[last] = value
    return obj


BAD = [
    ("not-a-mapping", ["a"], "", "expected an object"),
    ("wrong-api-version", mutate("apiVersion", "v1"), "apiVersion", "edgeplane.io/v1alpha1"),
    ("unknown-kind", mutate("kind", "Widget"), "kind", "unknown kind 'Widget'"),
    ("missing-name", mutate("metadata", {}), "metadata.name", "is required"),
    ("invalid-name", mutate("metadata.name", "Web_1"), "metadata.name", "lower case"),
    (
        "invalid-label",
        mutate("metadata.labels", {"a b": "x"}),
        "metadata.labels",
        "invalid label key",
    ),
    (
        "invalid-label-value",
        mutate("metadata.labels", {"a": "-x"}),
        "metadata.labels",
        "invalid value",
    ),
    ("unknown-top-field", mutate("extra", 1), "extra", "unknown field"),
    ("unknown-spec-field", mutate("spec.replicas", 1), "spec.replicas", "known fields here"),
    (
        "unknown-nested-field",
        mutate("spec.placement.replica", 1),
        "spec.placement.replica",
        "unknown field",
    ),
    (
        "negative-replicas",
        mutate("spec.placement.replicas", -1),
        "spec.placement.replicas",
        "greater than or equal to 0",
    ),
    (
        "replicas-mode-without-count",
        mutate("spec.placement", {"mode": "Replicas"}),
        "spec.placement",
        "set placement.replicas",
    ),
    (
        "every-site-with-count",
        mutate("spec.placement", {"mode": "EverySite", "replicas": 2}),
        "spec.placement",
        "remove placement.replicas",
    ),
    ("bad-mode", mutate("spec.placement.mode", "Sometimes"), "spec.placement.mode", "EverySite"),
    ("bad-cpu", mutate("spec.resources", {"cpu": "lots"}), "spec.resources.cpu", "not a quantity"),
    (
        "two-workloads",
        mutate(
            "spec.workload.kubernetes",
            {"manifests": [{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"}}]},
        ),
        "spec.workload",
        "exactly one",
    ),
    ("no-workload", mutate("spec.workload", {}), "spec.workload", "exactly one"),
    (
        "manifest-without-kind",
        mutate(
            "spec.workload",
            {"kubernetes": {"manifests": [{"apiVersion": "v1", "metadata": {"name": "x"}}]}},
        ),
        "spec.workload.kubernetes.manifests",
        "needs kind",
    ),
    (
        "bad-max-unavailable",
        mutate("spec.rollout", {"maxUnavailable": "lots"}),
        "spec.rollout.maxUnavailable",
        "percentage",
    ),
]


@pytest.mark.parametrize(("raw", "field", "message"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_objects_name_the_field(raw: Any, field: str, message: str) -> None:
    with pytest.raises(InvalidObject) as raised:
        validate_object(raw)
    assert (raised.value.field or "") == field
    assert message in str(raised.value)


def test_expected_kind_must_match() -> None:
    with pytest.raises(InvalidObject, match="must be 'Site' here"):
        validate_object(application(), expected_kind="Site")


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"key": "a", "effect": "Sometimes"}, "spec.taints[0].effect"),
        ({"key": "bad key", "effect": "NoSchedule"}, "spec.taints[0].key"),
    ],
    ids=["bad-effect", "bad-key"],
)
def test_site_taints(raw: dict[str, str], field: str) -> None:
    site = {
        "apiVersion": "edgeplane.io/v1alpha1",
        "kind": "Site",
        "metadata": {"name": "s"},
        "spec": {"taints": [raw]},
    }
    with pytest.raises(InvalidObject) as raised:
        validate_object(site)
    assert raised.value.field == field


def test_message_names_object() -> None:
    with pytest.raises(InvalidObject) as raised:
        validate_object(mutate("spec.placement.replicas", -3))
    assert str(raised.value).startswith('Application "web" is invalid: spec.placement.replicas')


def test_wire_form_leaves_out_unset_fields() -> None:
    wire = to_wire(validate_object(copy.deepcopy(application())))
    assert set(wire["spec"]) == {"workload", "placement"}
    assert wire["spec"]["placement"] == {"mode": "Replicas", "replicas": 2}


@pytest.mark.parametrize("name", ["app", "APPS", "application", "Application", "applications"])
def test_kind_lookup(name: str) -> None:
    assert kind_info(name).kind == "Application"


def test_kind_lookup_errors_list_known_kinds() -> None:
    with pytest.raises(UnknownKind, match="Site \\(sites\\)"):
        kind_info("widget")
    with pytest.raises(UnknownKind):
        by_plural("Sites")
    assert [k.plural for k in KINDS] == [
        "sites",
        "sitegroups",
        "applications",
        "policies",
        "assignments",
    ]
