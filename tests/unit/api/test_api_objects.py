"""Application and Site specs in detail: the DESIGN example, workloads, placement,
rollout and overrides, and the wire form."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from edgeplane.api.quantity import cpu_millis, memory_bytes
from edgeplane.api.resources import Application, PlacementMode, RuntimeKind, Site
from edgeplane.api.validation import InvalidObject, to_wire, validate_object
from tests.support.builders import changed, good

# DESIGN.md §2, with its "ordinary Deployment/Service/ConfigMap objects" written out.
DESIGN_EXAMPLE = """
apiVersion: edgeplane.io/v1alpha1
kind: Application
metadata: {name: shelf-vision, labels: {data-class: pii}}
spec:
  workload:
    kubernetes:
      manifests:
      - {apiVersion: apps/v1, kind: Deployment, metadata: {name: shelf-vision},
         spec: {replicas: 1, selector: {matchLabels: {app: shelf-vision}},
                template: {metadata: {labels: {app: shelf-vision}},
                           spec: {containers: [{name: vision, image: "example/vision:3"}]}}}}
      - {apiVersion: v1, kind: Service, metadata: {name: shelf-vision},
         spec: {ports: [{port: 80}]}}
      - {apiVersion: v1, kind: ConfigMap, metadata: {name: shelf-vision}, data: {model: v3}}
  resources: {cpu: 500m, memory: 256Mi}
  devices: [{selector: {matchLabels: {class: camera}}, count: 1}]
  placement:
    mode: Replicas            # or EverySite (one per matching site, DaemonSet-like)
    replicas: 20
    siteGroups: [eu-stores, eu-cloud]   # ordered: fall through when the first cannot hold them
    spread: [{topologyKey: region, maxSkew: 1}]
    priority: 100
  failover: {afterSeconds: 10, failback: true}
  rollout: {groups: [{name: canary, siteGroup: canary-sites}], maxUnavailable: 10%,
            minSuccessSeconds: 60, autoRollback: true}
"""


def test_design_example_validates_and_reads_naturally() -> None:
    raw = yaml.safe_load(DESIGN_EXAMPLE)
    app = validate_object(raw, expected_kind="Application")
    assert isinstance(app, Application)
    spec = app.spec
    assert spec.workload.kubernetes is not None and spec.workload.process is None
    assert spec.workload.kubernetes.manifests[0]["kind"] == "Deployment"
    assert spec.resources is not None and spec.resources.cpu and spec.resources.memory
    assert (cpu_millis(spec.resources.cpu), memory_bytes(spec.resources.memory)) == (500, 2**28)
    assert spec.devices and spec.devices[0].selector.matches({"class": "camera"})
    assert spec.placement.mode is PlacementMode.REPLICAS and spec.placement.replicas == 20
    assert spec.placement.site_groups == ["eu-stores", "eu-cloud"]
    assert spec.rollout is not None and spec.rollout.max_unavailable == "10%"
    assert spec.failover is not None and spec.failover.after_seconds == 10
    wire = to_wire(app)
    assert wire["spec"] == raw["spec"]
    assert to_wire(validate_object(wire)) == wire


def application(**spec: Any) -> dict[str, Any]:
    return changed(good("Application"), "spec", {**good("Application")["spec"], **spec})


MANIFEST = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}
NO_KIND = {"apiVersion": "v1", "metadata": {"name": "x"}}
PROBES = {"http": {"port": 80}, "tcp": {"port": 80}}
NEEDS_VALUES = {"matchExpressions": [{"key": "a", "operator": "In"}]}
GROUPS = [{"name": "a", "siteGroup": "x"}, {"name": "a", "siteGroup": "y"}]
P = "spec.placement"
DIVIDED = {"mode": "Replicas", "replicas": 4, "division": "Divided"}
W = "spec.workload"
PW = "spec.workload.process"

# (id, path to change, value, field reported, words in the message)
BAD: list[tuple[str, str, Any, str | None, str]] = [
    ("missing-name", "metadata", {}, "metadata.name", "is required"),
    ("unknown-nested", f"{P}.replica", 1, f"{P}.replica", "unknown field"),
    ("replicas-without-count", P, {"mode": "Replicas"}, P, "set placement.replicas"),
    ("every-site-with-count", f"{P}.mode", "EverySite", P, "remove placement.replicas"),
    ("replicas-not-a-number", f"{P}.replicas", "lots", f"{P}.replicas", "valid integer"),
    ("duplicate-group", f"{P}.siteGroups", ["a", "a"], f"{P}.siteGroups", "appears twice"),
    ("bad-group", f"{P}.siteGroups", ["a", "B"], f"{P}.siteGroups[1]", "invalid name 'B'"),
    (
        "bad-spread-key",
        f"{P}.spread",
        [{"topologyKey": "a b"}],
        f"{P}.spread[0].topologyKey",
        "key",
    ),
    (
        "zero-skew",
        f"{P}.spread",
        [{"topologyKey": "r", "maxSkew": 0}],
        f"{P}.spread[0].maxSkew",
        "1",
    ),
    (
        "every-site-divided",
        P,
        {"mode": "EverySite", "division": "Divided"},
        P,
        "remove placement.division",
    ),
    (
        "weights-without-divided",
        f"{P}.weights",
        [{"siteGroup": "a", "weight": 1}],
        P,
        "set placement.division: Divided",
    ),
    (
        "weight-two-targets",
        P,
        {**DIVIDED, "weights": [{"siteGroup": "a", "selector": {}, "weight": 1}]},
        f"{P}.weights[0]",
        "exactly one of siteGroup or selector",
    ),
    (
        "negative-weight",
        P,
        {**DIVIDED, "weights": [{"siteGroup": "a", "weight": -1}]},
        f"{P}.weights[0].weight",
        "greater than or equal to 0",
    ),
    ("bad-division", f"{P}.division", "Halved", f"{P}.division", "Duplicated"),
    (
        "min-over-max-groups",
        f"{P}.spread",
        [{"topologyKey": "r", "minGroups": 3, "maxGroups": 2}],
        f"{P}.spread[0]",
        "lower minGroups or raise maxGroups",
    ),
    (
        "min-groups-over-replicas",
        P,
        {"mode": "Replicas", "replicas": 2, "spread": [{"topologyKey": "r", "minGroups": 3}]},
        P,
        "only 2 replicas",
    ),
    (
        "locality-two-targets",
        f"{P}.locality",
        {"near": {"lat": 1, "lon": 2}, "siteGroup": "a"},
        f"{P}.locality",
        "exactly one of near",
    ),
    (
        "locality-bad-lat",
        f"{P}.locality",
        {"near": {"lat": 91, "lon": 0}},
        f"{P}.locality.near.lat",
        "less than or equal to 90",
    ),
    (
        "locality-zero-distance",
        f"{P}.locality",
        {"siteGroup": "a", "maxDistanceKm": 0},
        f"{P}.locality.maxDistanceKm",
        "greater than 0",
    ),
    ("negative-score", f"{P}.scoring", {"stickiness": -1}, f"{P}.scoring.stickiness", "0"),
    ("two-workloads", f"{W}.kubernetes", {"manifests": [MANIFEST]}, W, "exactly one"),
    ("no-workload", W, {}, W, "exactly one"),
    ("empty-command", f"{PW}.command", "", f"{PW}.command", "at least 1 character"),
    ("no-manifests", W, {"kubernetes": {"manifests": []}}, f"{W}.kubernetes.manifests", "1 item"),
    (
        "manifest-kind",
        W,
        {"kubernetes": {"manifests": [NO_KIND]}},
        f"{W}.kubernetes.manifests[0]",
        "is not a kind",
    ),
    ("bad-env-name", f"{PW}.env", [{"name": "1X"}], f"{PW}.env[0].name", "environment variable"),
    ("bad-env-map-key", f"{PW}.env", {"A B": "1"}, f"{PW}.env[A B]", "environment variable"),
    (
        "env-wrong-type",
        f"{PW}.env",
        "A=1",
        f"{PW}.env",
        "must be a valid list or a valid dictionary",
    ),
    ("bad-port", f"{PW}.ports", [{"port": 70000}], f"{PW}.ports[0].port", "65535"),
    ("two-probes", f"{PW}.healthCheck", PROBES, f"{PW}.healthCheck", "exactly one"),
    (
        "zero-devices",
        "spec.devices",
        [{"selector": {}, "count": 0}],
        "spec.devices[0].count",
        "got 0",
    ),
    (
        "device-selector",
        "spec.devices",
        [{"selector": NEEDS_VALUES}],
        "spec.devices[0].selector.matchExpressions[0]",
        "at least one value",
    ),
    ("negative-failover", "spec.failover", {"afterSeconds": -1}, "spec.failover.afterSeconds", "0"),
    (
        "failover-word",
        "spec.failover",
        {"afterSeconds": "soon"},
        "spec.failover.afterSeconds",
        "valid number",
    ),
    (
        "bad-max-unavailable",
        "spec.rollout",
        {"maxUnavailable": "lots"},
        "spec.rollout.maxUnavailable",
        "percentage",
    ),
    (
        "over-100-percent",
        "spec.rollout",
        {"maxUnavailable": "150%"},
        "spec.rollout.maxUnavailable",
        "from 1% to 100%",
    ),
    (
        "negative-unavailable",
        "spec.rollout",
        {"maxUnavailable": -1},
        "spec.rollout.maxUnavailable",
        "from 1 to",
    ),
    ("duplicate-rollout-group", "spec.rollout", {"groups": GROUPS}, "spec.rollout.groups", "twice"),
    (
        "override-two-targets",
        "spec.overrides",
        [{"site": "a", "siteSelector": {}}],
        "spec.overrides[0]",
        "exactly one",
    ),
    ("override-no-target", "spec.overrides", [{"values": {}}], "spec.overrides[0]", "exactly one"),
    ("bad-status", "status", {"ready": -1}, "status.ready", "greater than or equal to 0"),
]


@pytest.mark.parametrize(
    ("path", "value", "field", "words"), [b[1:] for b in BAD], ids=[b[0] for b in BAD]
)
def test_bad_applications_name_the_field(path: str, value: Any, field: str, words: str) -> None:
    with pytest.raises(InvalidObject) as raised:
        validate_object(changed(good("Application"), path, value))
    assert raised.value.field == field, raised.value.errors
    assert words in str(raised.value)


def test_message_names_the_object_the_field_and_the_value() -> None:
    with pytest.raises(InvalidObject) as raised:
        validate_object(application(placement={"replicas": -1}))
    assert str(raised.value) == (
        'Application "web" is invalid: '
        "spec.placement.replicas: must be greater than or equal to 0 (got -1)"
    )


def test_all_problems_are_reported_at_once() -> None:
    raw = changed(application(placement={"replicas": -1}), "metadata.labels", {"a b": "-"})
    with pytest.raises(InvalidObject) as raised:
        validate_object(raw)
    assert [e.field for e in raised.value.errors] == [
        "metadata.labels[a b]",
        "metadata.labels[a b]",
        "spec.placement.replicas",
    ]


def test_envelope_problems_are_reported_together() -> None:
    raw = {"apiVersion": "v2", "kind": "Widget", "metadata": {}}
    with pytest.raises(InvalidObject) as raised:
        validate_object(raw)
    assert [e.field for e in raised.value.errors] == ["apiVersion", "kind", "metadata.name"]


@pytest.mark.parametrize(
    "spec",
    [
        {"placement": {"mode": "Replicas", "replicas": 0}},
        {"placement": {"mode": "EverySite", "selector": {"matchLabels": {"tier": "edge"}}}},
        {"workload": {"process": {"command": "x", "env": {"A": "1"}}}},
        {"workload": {"kubernetes": {"manifests": [MANIFEST]}}},
        {"rollout": {"maxUnavailable": 1}},
        {"rollout": {"maxUnavailable": "100%", "minSuccessSeconds": 0.5}},
        {"overrides": [{"siteSelector": {"matchLabels": {"region": "eu"}}, "values": {"a": 1}}]},
        {"failover": {"afterSeconds": 0.25, "failback": False}},
    ],
    ids=[
        "zero-replicas",
        "every-site",
        "env-map",
        "kubernetes",
        "max-unavailable-one",
        "percent-and-fraction",
        "override-selector",
        "fractional-failover",
    ],
)
def test_good_variants_round_trip_unchanged(spec: dict[str, Any]) -> None:
    raw = application(**spec)
    wire = to_wire(validate_object(raw))
    assert wire["spec"] == raw["spec"]


def test_wire_form_leaves_out_unset_fields() -> None:
    raw = changed(good("Application"), "spec", {"workload": {"process": {"command": "x"}}})
    raw["spec"]["placement"] = {"replicas": 2}
    wire = to_wire(validate_object(raw))
    assert set(wire) == {"apiVersion", "kind", "metadata", "spec"}
    assert wire["spec"] == {
        "workload": {"process": {"command": "x"}},
        "placement": {"mode": "Replicas", "replicas": 2},
    }


def test_env_reads_the_same_in_both_spellings() -> None:
    as_list = validate_object(
        changed(good("Application"), f"{PW}.env", [{"name": "A", "value": "1"}])
    )
    as_map = validate_object(changed(good("Application"), f"{PW}.env", {"A": "1"}))
    assert isinstance(as_list, Application) and isinstance(as_map, Application)
    assert as_list.spec.workload.process and as_map.spec.workload.process
    assert as_list.spec.workload.process.environment() == {"A": "1"}
    assert as_map.spec.workload.process.environment() == {"A": "1"}


def test_site_runtime_defaults_to_process_without_writing_it() -> None:
    raw = changed(good("Site"), "spec", {})
    site = validate_object(raw)
    assert isinstance(site, Site)
    assert site.spec.runtime is None
    assert site.spec.effective_runtime is RuntimeKind.PROCESS
    assert to_wire(site)["spec"] == {}


def test_site_without_spec_is_fine() -> None:
    raw = good("Site")
    del raw["spec"], raw["status"]
    assert to_wire(validate_object(raw))["spec"] == {}


def test_hub_written_metadata_is_accepted_and_kept() -> None:
    meta = {
        "name": "web",
        "uid": "0b7f",
        "resourceVersion": "42",
        "generation": 3,
        "creationTimestamp": "2026-01-01T00:00:00Z",
    }
    wire = to_wire(validate_object(changed(good("Application"), "metadata", meta)))
    assert wire["metadata"] == {**meta, "labels": {}, "annotations": {}}


@pytest.mark.parametrize("raw", [["a"], "kind: Site", None, 3], ids=["list", "str", "none", "int"])
def test_not_a_mapping(raw: object) -> None:
    with pytest.raises(InvalidObject, match="expected an object") as raised:
        validate_object(raw)
    assert raised.value.field is None


def test_the_placement_engine_fields_round_trip() -> None:
    placement = {
        "mode": "Replicas",
        "replicas": 12,
        "division": "Divided",
        "weights": [
            {"siteGroup": "eu-stores", "weight": 3},
            {"selector": {"matchLabels": {"tier": "cloud"}}, "weight": 1},
        ],
        "spread": [{"topologyKey": "region", "maxSkew": 2, "minGroups": 2, "maxGroups": 4}],
        "locality": {"near": {"lat": 48.1, "lon": 11.6}, "maxDistanceKm": 800},
        "scoring": {"balance": 2, "locality": 1, "stickiness": 50},
    }
    raw = application(placement=placement)
    wire = to_wire(validate_object(raw))
    assert wire["spec"]["placement"] == placement
    assert to_wire(validate_object(wire)) == wire
