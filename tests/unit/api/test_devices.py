"""``Device``: a good device validates and round-trips, the kind's names resolve, each
mistake names its field and the fix, and what placement counts at a site."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from edgeplane.api.kinds import by_plural, kind_info
from edgeplane.api.resources import Device, DevicePhase, DeviceProtocol
from edgeplane.api.validation import InvalidObject, to_wire, validate_object
from tests.support.builders import changed
from tests.unit.api.test_api_kinds import COMMON

GOOD: dict[str, Any] = {
    "apiVersion": "edgeplane.io/v1alpha1",
    "kind": "Device",
    "metadata": {"name": "store-0042-cam-1", "labels": {"class": "camera", "vendor": "axis"}},
    "spec": {
        "site": "store-0042",
        "protocol": "onvif",
        "address": "10.0.0.7:80",
        "attributes": {"model": "P3245"},
    },
    "status": {"phase": "Available", "lastSeen": "2026-11-29T03:00:00Z", "message": "seen"},
}


def good() -> dict[str, Any]:
    return copy.deepcopy(GOOD)


def test_good_device_validates_and_round_trips() -> None:
    resource = validate_object(good(), expected_kind="Device")
    assert isinstance(resource, Device)
    assert resource.spec.protocol is DeviceProtocol.ONVIF
    assert resource.status is not None and resource.status.phase is DevicePhase.AVAILABLE
    wire = to_wire(resource)
    assert wire == {**good(), "metadata": {**good()["metadata"], "annotations": {}}}
    assert to_wire(validate_object(wire)) == wire


def test_only_the_site_is_required() -> None:
    raw = changed(good(), "spec", {"site": "store-0042"})
    del raw["status"]
    wire = to_wire(validate_object(raw, expected_kind="Device"))
    assert (wire["spec"], "status" in wire) == ({"site": "store-0042"}, False)


@pytest.mark.parametrize("name", ["Device", "device", "devices", "dev", "DEV"])
def test_kind_names(name: str) -> None:
    info = kind_info(name)
    assert (info.kind, info.plural, info.singular, info.short_names) == (
        "Device",
        "devices",
        "device",
        ("dev",),
    )
    assert by_plural("devices") is info


PROTOCOLS = "'mqtt', 'mdns', 'opcua', 'modbus', 'onvif' or 'manual'"

# (id, path to change, value, field reported, words in the message)
BAD: list[tuple[str, str, Any, str, str]] = [
    *[(c[0], *c[1:]) for c in COMMON],
    ("no-site", "spec", {"protocol": "onvif"}, "spec.site", "is required: name the Site"),
    ("null-site", "spec.site", None, "spec.site", "is required: name the Site"),
    ("empty-site", "spec.site", "", "spec.site", "(for example site: store-0042)"),
    ("bad-site", "spec.site", "Store_42", "spec.site", "invalid name 'Store_42'"),
    ("site-not-a-string", "spec.site", 42, "spec.site", "valid string"),
    ("no-spec", "spec", None, "spec", "valid dictionary"),
    ("bad-protocol", "spec.protocol", "zigbee", "spec.protocol", f"{PROTOCOLS} (got 'zigbee')"),
    ("protocol-case", "spec.protocol", "ONVIF", "spec.protocol", PROTOCOLS),
    ("empty-address", "spec.address", "", "spec.address", "at least 1 character"),
    ("address-number", "spec.address", 80, "spec.address", "valid string"),
    ("attribute-number", "spec.attributes", {"fw": 3}, "spec.attributes[fw]", "valid string"),
    ("attributes-list", "spec.attributes", ["a"], "spec.attributes", "valid dictionary"),
    ("unknown-spec-field", "spec.port", 80, "spec.port", "known fields here: address"),
    ("bad-phase", "status.phase", "Online", "status.phase", "'Available' or 'Unavailable'"),
    ("unknown-status-field", "status.seen", "x", "status.seen", "unknown field"),
]


@pytest.mark.parametrize(
    ("path", "value", "field", "words"), [b[1:] for b in BAD], ids=[b[0] for b in BAD]
)
def test_mistakes_name_the_field(path: str, value: Any, field: str, words: str) -> None:
    with pytest.raises(InvalidObject) as raised:
        validate_object(changed(good(), path, value))
    assert raised.value.field == field, raised.value.errors
    assert words in str(raised.value)


def test_a_missing_site_says_what_to_write() -> None:
    with pytest.raises(InvalidObject) as raised:
        validate_object(changed(good(), "spec", {}))
    assert str(raised.value) == (
        'Device "store-0042-cam-1" is invalid: spec.site: is required: '
        "name the Site the device is at (for example site: store-0042)"
    )


@pytest.mark.parametrize(
    ("site", "status", "counted"),
    [
        ("store-0042", None, True),
        ("store-0042", {}, True),
        ("store-0042", {"phase": "Available"}, True),
        ("store-0042", {"phase": "Unavailable"}, False),
        ("store-0043", None, False),
        ("store-0043", {"phase": "Available"}, False),
    ],
    ids=["no-status", "no-phase", "available", "unavailable", "other-site", "other-available"],
)
def test_placement_counts_devices_at_their_site_unless_unavailable(
    site: str, status: dict[str, str] | None, counted: bool
) -> None:
    raw = changed(good(), "spec", {"site": site})
    raw.pop("status")
    if status is not None:
        raw["status"] = status
    resource = validate_object(raw)
    assert isinstance(resource, Device)
    assert resource.available_at("store-0042") is counted
