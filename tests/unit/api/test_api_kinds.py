"""Every kind: a good object validates and round-trips; each kind of mistake is rejected
with the field that is wrong and a hint at the fix."""

from __future__ import annotations

from typing import Any

import pytest

from edgeplane.api.kinds import KINDS, UnknownKind, by_plural, kind_info
from edgeplane.api.validation import InvalidObject, to_wire, validate_object
from tests.support.builders import GOOD, changed, good


@pytest.mark.parametrize("kind", list(GOOD), ids=list(GOOD))
def test_good_object_validates_and_round_trips(kind: str) -> None:
    resource = validate_object(good(kind), expected_kind=kind)
    assert resource.kind == kind
    assert isinstance(resource, kind_info(kind).model)
    wire = to_wire(resource)
    # Labels and annotations are always on the wire, empty or not; nothing else is added.
    expected = good(kind)
    expected["metadata"] = {"labels": {}, "annotations": {}, **expected["metadata"]}
    assert wire == expected
    assert to_wire(validate_object(wire)) == wire


# Mistakes every kind must reject: (id, path, value, field, words in the message).
COMMON = [
    ("unknown-field", "spec.colour", "red", "spec.colour", "unknown field"),
    ("unknown-top-field", "extra", 1, "extra", "known fields here: apiVersion, kind"),
    ("wrong-api-version", "apiVersion", "v1", "apiVersion", "'edgeplane.io/v1alpha1'"),
    ("no-api-version", "apiVersion", None, "apiVersion", "must be"),
    ("unknown-kind", "kind", "Widget", "kind", "unknown kind 'Widget'"),
    ("invalid-name", "metadata.name", "Web_1", "metadata.name", "lower case"),
    ("long-name", "metadata.name", "a" * 254, "metadata.name", "253"),
    ("invalid-label-key", "metadata.labels", {"a b": "x"}, "metadata.labels[a b]", "label key"),
    ("invalid-label-value", "metadata.labels", {"a": "-x"}, "metadata.labels[a]", "label value"),
    ("bad-annotation", "metadata.annotations", {"/x": "1"}, "metadata.annotations[/x]", "prefix"),
    ("bad-resource-version", "metadata.resourceVersion", "x1", "metadata.resourceVersion", "hub"),
]

# Mistakes particular to one kind.
SPECIFIC = [
    ("Site", "bad-runtime", "spec.runtime", "docker", "spec.runtime", "'kubernetes'"),
    ("Site", "bad-taint", "spec.taints[0].effect", "Never", "spec.taints[0].effect", "NoExecute"),
    ("Site", "latitude", "spec.location.lat", 91, "spec.location.lat", "less than or equal"),
    ("Site", "bad-phase", "status.phase", "Up", "status.phase", "Online"),
    ("Site", "bad-capacity", "status.capacity.cpu", "-1", "status.capacity.cpu", "negative"),
    ("SiteGroup", "no-selector", "spec", {}, "spec.selector", "is required"),
    (
        "SiteGroup",
        "bad-operator",
        "spec.selector.matchExpressions[0].operator",
        "Maybe",
        "spec.selector.matchExpressions[0].operator",
        "'DoesNotExist'",
    ),
    (
        "Application",
        "negative-replicas",
        "spec.placement.replicas",
        -1,
        "spec.placement.replicas",
        "must be greater than or equal to 0 (got -1)",
    ),
    ("Application", "bad-cpu", "spec.resources.cpu", "lots", "spec.resources.cpu", "'500m'"),
    ("Application", "bad-mode", "spec.placement.mode", "All", "spec.placement.mode", "EverySite"),
    ("Policy", "bad-enforcement", "spec.enforcement", "Block", "spec.enforcement", "'Warn'"),
    ("Policy", "bad-scope", "spec.scope", "Always", "spec.scope", "'Admission'"),
    ("Policy", "no-rules", "spec.rules", [], "spec.rules", "at least one rule"),
    ("Policy", "blank-rule", "spec.rules[0].expression", " ", "spec.rules[0].expression", "blank"),
    ("Assignment", "negative-replicas", "spec.replicas", -2, "spec.replicas", "(got -2)"),
    ("Assignment", "revision-zero", "spec.revision", 0, "spec.revision", "greater than"),
    (
        "Assignment",
        "bad-memory",
        "spec.resources.memory",
        "1Q",
        "spec.resources.memory",
        "quantity",
    ),
    ("Assignment", "bad-site", "spec.site", "Dublin", "spec.site", "invalid name 'Dublin'"),
    (
        "Assignment",
        "bad-restart",
        "spec.workload.process.restartPolicy",
        "Sometimes",
        "spec.workload.process.restartPolicy",
        "'OnFailure'",
    ),
]

CASES = [(kind, *case) for kind in GOOD for case in COMMON] + SPECIFIC


@pytest.mark.parametrize(
    ("kind", "path", "value", "field", "words"),
    [(c[0], *c[2:]) for c in CASES],
    ids=[f"{c[0]}-{c[1]}" for c in CASES],
)
def test_mistakes_name_the_field(kind: str, path: str, value: Any, field: str, words: str) -> None:
    with pytest.raises(InvalidObject) as raised:
        validate_object(changed(good(kind), path, value))
    assert raised.value.field == field, raised.value.errors
    assert words in str(raised.value)


@pytest.mark.parametrize("kind", list(GOOD), ids=list(GOOD))
def test_expected_kind_must_match(kind: str) -> None:
    other = "Site" if kind != "Site" else "Policy"
    with pytest.raises(InvalidObject, match=f"must be '{other}' here") as raised:
        validate_object(good(kind), expected_kind=other)
    assert raised.value.field == "kind"


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("app", "Application"),
        ("APPS", "Application"),
        ("application", "Application"),
        ("Applications", "Application"),
        ("sg", "SiteGroup"),
        ("sitegroup", "SiteGroup"),
        ("pol", "Policy"),
        ("policies", "Policy"),
        ("asg", "Assignment"),
        ("rev", "Revision"),
        ("revisions", "Revision"),
        ("Site", "Site"),
        ("sites", "Site"),
    ],
    ids=lambda v: str(v),
)
def test_kind_lookup(name: str, kind: str) -> None:
    assert kind_info(name).kind == kind


def test_kind_lookup_errors_list_known_kinds() -> None:
    with pytest.raises(UnknownKind, match="Site \\(sites\\)"):
        kind_info("widget")
    with pytest.raises(UnknownKind):
        by_plural("Sites")
    assert by_plural("sitegroups").kind == "SiteGroup"
    assert [(k.kind, k.plural) for k in KINDS] == [
        ("Site", "sites"),
        ("SiteGroup", "sitegroups"),
        ("Application", "applications"),
        ("Policy", "policies"),
        ("Assignment", "assignments"),
        ("Device", "devices"),
        ("Revision", "revisions"),
        ("DataStream", "datastreams"),
        ("DiscoveryProfile", "discoveryprofiles"),
        ("Secret", "secrets"),
    ]


def test_wire_kind_must_be_spelled_exactly() -> None:
    with pytest.raises(InvalidObject, match="did you mean 'Application'"):
        validate_object(changed(good("Application"), "kind", "application"))
