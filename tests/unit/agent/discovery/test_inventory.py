"""The site's discovered inventory: one entry per device across scans and handlers,
Available through the grace period, bounded, and kept across a restart."""

from __future__ import annotations

import pytest

from edgeplane.agent.discovery.base import Found
from edgeplane.agent.discovery.inventory import Inventory, key_of, label_value

MODBUS = ("plcs", "modbus")
ONVIF = ("cams", "onvif")


def plc(unit: int, vendor: str = "", serial: str = "") -> Found:
    address = f"modbus://10.0.0.5:502?unit={unit}"
    return Found(f"modbus:10.0.0.5:502/{unit}", "modbus", address, "plc", vendor, serial=serial)


@pytest.mark.parametrize(
    ("text", "label"),
    [("Acme Corp.", "acme-corp"), ("--x--", "x"), ("ÄÖ", ""), ("a" * 80, "a" * 63), ("", "")],
    ids=["words", "edges", "nothing-fits", "long", "empty"],
)
def test_label_values(text: str, label: str) -> None:
    assert label_value(text) == label


def test_the_same_device_through_two_protocols_is_one_entry() -> None:
    inventory = Inventory()
    inventory.saw(MODBUS, [plc(1, vendor="Acme", serial="S1")], {}, 120, now=1000)
    camera = Found("onvif:urn:x", "onvif", "http://10.0.0.5/onvif", "", "ACME", "M", "S1")
    inventory.saw(ONVIF, [camera], {}, 120, now=1001)
    [entry] = inventory.report(now=1002)
    assert entry["key"] == key_of(camera) == "serial:acme:S1"
    assert entry["labels"] == {"class": "plc", "protocol": "onvif", "vendor": "acme", "model": "m"}
    assert entry["attributes"]["modbus.address"] == "modbus://10.0.0.5:502?unit=1"


def test_a_device_missing_from_a_scan_stays_available_through_the_grace_period() -> None:
    inventory = Inventory()
    inventory.saw(MODBUS, [plc(1), plc(2)], {"line": "a"}, 120, now=1000)
    inventory.saw(MODBUS, [plc(1)], {"line": "a"}, 120, now=1030)
    shown = {e["key"]: e for e in inventory.report(now=1100)}
    assert [shown[k]["available"] for k in sorted(shown)] == [True, True]
    shown = {e["key"]: e for e in inventory.report(now=1121)}
    gone = shown["modbus:10.0.0.5:502/2"]
    assert not gone["available"] and "120 s" in gone["message"]
    assert gone["lastSeen"] == "1970-01-01T00:16:40Z" and gone["labels"]["line"] == "a"
    assert shown["modbus:10.0.0.5:502/1"]["available"]


def test_a_profile_that_went_away_takes_its_devices_out_of_the_report() -> None:
    inventory = Inventory()
    inventory.saw(MODBUS, [plc(1)], {}, 120, now=1000)
    inventory.saw(ONVIF, [Found("onvif:a", "onvif", "http://a", "camera")], {}, 120, now=1000)
    inventory.keep_only({ONVIF})
    assert [e["key"] for e in inventory.report(now=1001)] == ["onvif:a"]


def test_the_inventory_is_bounded_and_makes_room_from_the_longest_gone() -> None:
    inventory = Inventory(limit=3)
    inventory.saw(MODBUS, [plc(1), plc(2), plc(3)], {}, 10, now=1000)
    inventory.saw(MODBUS, [plc(2), plc(3), plc(4), plc(5)], {}, 10, now=1100)
    keys = [e["key"] for e in inventory.report(now=1100)]
    assert len(keys) == 3 and "modbus:10.0.0.5:502/1" not in keys
    assert inventory.overflow == 1


def test_what_was_last_seen_survives_a_restart_and_a_bad_file_is_skipped() -> None:
    inventory = Inventory()
    inventory.saw(MODBUS, [plc(1, vendor="Acme")], {"line": "a"}, 120, now=1000)
    again = Inventory()
    again.load([*inventory.dump(), {"key": "x"}, "junk"])
    again.keep_only({MODBUS})
    assert again.report(now=1050) == inventory.report(now=1050)
    again.load({"not": "a list"})
    assert len(again.entries) == 1
