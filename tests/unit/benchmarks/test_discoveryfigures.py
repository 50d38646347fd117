"""benchmarks/support/discoveryfigures: the simulated devices' identities, the profile
aimed at them, what the hub must hold, and the figures over runs."""

from __future__ import annotations

import math

import pytest
from pydantic import ValidationError

from benchmarks.support.discoveryfigures import (
    DEVICES_MAX,
    MQTT_GROUP,
    MQTT_NODE,
    PROTOCOLS,
    Layout,
    at_hub,
    births,
    cell,
    identities,
    interval_seconds,
    median_of,
    opcua_servers,
    params,
    profile,
    ratio,
    runs_cell,
    shortfall,
)
from edgeplane.agent.discovery.modbus import Identification, describe
from edgeplane.agent.discovery.mqtt import Sightings
from edgeplane.api.discovery import (
    INTERVAL_SECONDS_MIN,
    DiscoveryProfile,
    DiscoveryProfileSpec,
    modbus_worst_seconds,
)
from edgeplane.api.discovery import ModbusDiscovery as Modbus


def layout(devices: int) -> Layout:
    servers = tuple(4841 + i for i in range(opcua_servers(devices)))
    return Layout(devices, 5020, servers, 3702, broker_port=1883, mdns=True)


@pytest.mark.parametrize("devices", [1, 4, 16, DEVICES_MAX], ids=["1", "4", "16", "max"])
def test_each_protocol_expects_its_count_of_distinct_identities(devices: int) -> None:
    simulated = layout(devices)
    for protocol in PROTOCOLS:
        assert len(identities(simulated, protocol)) == simulated.count(protocol)
    assert simulated.count("opcua") == min(devices, 4)
    assert simulated.count("modbus") == devices


def test_the_modbus_identities_are_the_handlers() -> None:
    simulated = layout(3)
    answered = Identification({0x00: "Acme"}, "mei")
    made = {describe("127.0.0.1", 5020, unit, answered).identity for unit in (1, 2, 3)}
    assert made == identities(simulated, "modbus")


def test_the_births_make_the_expected_devices_and_their_node() -> None:
    simulated = layout(16)
    heard = Sightings("mqtt://127.0.0.1:1883", sparkplug=True, topics=())
    for topic, payload in births(16):
        heard.take(topic, payload)
    found = {f.identity: f for f in heard.found()}
    node = f"sparkplug:{MQTT_GROUP}/{MQTT_NODE}"
    assert set(found) == identities(simulated, "mqtt") | {node}
    assert heard.malformed == 0
    serials = {f.serial for f in found.values() if f.identity != node}
    assert len(serials) == 16  # no two merge into one Device at the hub


@pytest.mark.parametrize("devices", [1, 16, DEVICES_MAX], ids=["1", "16", "max"])
def test_the_profile_passes_the_hubs_checks(devices: int) -> None:
    simulated = layout(devices)
    made = profile(simulated, "bench-all", PROTOCOLS, "discovery")
    checked = DiscoveryProfile.model_validate(made)
    assert set(checked.spec.protocols()) == set(PROTOCOLS)
    assert checked.spec.interval_seconds == interval_seconds(simulated, PROTOCOLS)


@pytest.mark.parametrize("devices", [1, 16, DEVICES_MAX], ids=["1", "16", "max"])
@pytest.mark.parametrize(
    "protocols", [PROTOCOLS, ("modbus",), ("mqtt", "mdns")], ids=["all", "modbus", "listeners"]
)
def test_the_interval_is_the_shortest_the_hub_accepts(
    devices: int, protocols: tuple[str, ...]
) -> None:
    simulated = layout(devices)
    interval = interval_seconds(simulated, protocols)
    spec = {p: params(simulated, p) for p in protocols}
    DiscoveryProfileSpec.model_validate(spec | {"intervalSeconds": interval})
    if interval > INTERVAL_SECONDS_MIN:
        with pytest.raises(ValidationError, match="intervalSeconds"):
            DiscoveryProfileSpec.model_validate(spec | {"intervalSeconds": interval - 1})
    worst = modbus_worst_seconds(Modbus.model_validate(params(simulated, "modbus")))
    assert "modbus" not in protocols or interval >= worst


def test_unknown_protocol_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown protocol 'coap'"):
        params(layout(1), "coap")


def test_the_hub_holds_the_mqtt_node_besides_its_devices() -> None:
    assert at_hub(layout(16), ["modbus", "opcua", "mqtt"]) == {"modbus": 16, "opcua": 4, "mqtt": 17}


@pytest.mark.parametrize(
    ("seen", "expected"),
    [
        ({"modbus": 16, "opcua": 4}, None),
        ({"modbus": 17, "opcua": 4}, None),
        ({"modbus": 3}, "modbus 3 of 16, opcua 0 of 4"),
        ({}, "modbus 0 of 16, opcua 0 of 4"),
    ],
    ids=["all", "more", "some", "none"],
)
def test_shortfall_names_what_is_missing(seen: dict[str, int], expected: str | None) -> None:
    assert shortfall(seen, {"modbus": 16, "opcua": 4}) == expected


@pytest.mark.parametrize(
    ("values", "expected"),
    [([3.0, 1.0, 2.0], 2.0), ([1.0, None, 3.0], 2.0), ([None, None], None), ([], None)],
    ids=["all", "one-failed", "all-failed", "none"],
)
def test_median_of_leaves_failed_runs_out(
    values: list[float | None], expected: float | None
) -> None:
    assert median_of(values) == expected


def test_median_of_leaves_nan_out() -> None:
    assert median_of([math.nan, 4.0]) == 4.0


def test_cells_say_why_there_is_no_figure() -> None:
    assert cell(0.0123) == "0.012"
    assert cell(None, why="skipped: needs root") == "skipped: needs root"
    assert runs_cell([0.5, None, 1.25], 2) == "0.50 - 1.25"
    assert ratio(150.0, 50.0) == 3.0
    assert ratio(None, 50.0) is None and ratio(150.0, 0.0) is None
