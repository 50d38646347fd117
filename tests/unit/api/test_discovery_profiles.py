"""DiscoveryProfile: every protocol's parameters bounded, every refusal naming the fix."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from edgeplane.api.discovery import DiscoveryProfileSpec, modbus_addresses


def test_a_profile_names_its_protocols() -> None:
    spec = DiscoveryProfileSpec.model_validate(
        {"modbus": {"hosts": ["127.0.0.1", "10.0.0.0/30"], "ports": [5020]}}
    )
    assert list(spec.protocols()) == ["modbus"]
    assert (spec.interval_seconds, spec.grace_period_seconds) == (30, 120)


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ({}, "name at least one protocol"),
        ({"modbus": {"hosts": ["10.0.0.0/8"]}}, "holds 16777216 addresses"),
        ({"modbus": {"hosts": ["10.0.0.9-10.0.0.1"]}}, "not a range from low to high"),
        ({"modbus": {"hosts": ["plc.local"]}}, "write an address"),
        (
            {"modbus": {"hosts": ["10.0.0.0/24"], "unitIds": list(range(1, 18))}},
            "probes a scan",
        ),
        (
            {"intervalSeconds": 5, "modbus": {"hosts": ["10.0.0.0/24"]}},
            "raise intervalSeconds",
        ),
        ({"onvif": {"interfaces": ["eth0"]}}, "name the interface by its address"),
        ({"mdns": {"serviceTypes": ["http"], "interfaces": ["127.0.0.1"]}}, "serviceTypes"),
        ({"opcua": {"endpoints": ["http://x:4840"]}}, "opc.tcp://"),
        ({"mqtt": {"broker": "mqtt://b:1883"}, "intervalSeconds": 1}, "intervalSeconds"),
        ({"mqtt": {"broker": "mqtt://b:1883"}, "labels": {"bad key!": "x"}}, "labels"),
        (
            {"mqtt": {"broker": "mqtt://b:1883"}, "labels": {"edgeplane.io/zone": "a"}},
            "prefix is the hub's",
        ),
        (
            {"intervalSeconds": 10, "onvif": {"interfaces": ["127.0.0.1"], "probeSeconds": 5}},
            "lower onvif.probeSeconds",
        ),
    ],
    ids=[
        "nothing", "huge-block", "backward-range", "hostname", "too-many-probes",
        "slower-than-interval", "interface-name", "service-type", "opcua-scheme",
        "interval-too-short", "bad-label", "reserved-label", "onvif-slower-than-interval",
    ],
)  # fmt: skip
def test_bad_profiles_are_refused_with_the_fix(spec: dict[str, Any], says: str) -> None:
    with pytest.raises(ValidationError, match=says):
        DiscoveryProfileSpec.model_validate(spec)


def test_address_ranges_expand_in_order() -> None:
    assert modbus_addresses(["10.0.0.1-10.0.0.3", "192.168.1.0/31"]) == [
        "10.0.0.1",
        "10.0.0.2",
        "10.0.0.3",
        "192.168.1.0",
        "192.168.1.1",
    ]
