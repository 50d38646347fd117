"""The site's discovered inventory: one entry per device across scans and handlers,
Available through the grace period, bounded, and kept across a restart."""

from __future__ import annotations

import pytest

from edgeplane.agent.discovery.base import Found
from edgeplane.agent.discovery.inventory import Inventory, fit, key_of, label_value

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


def test_the_same_device_through_two_protocols_is_one_entry_that_stays_put() -> None:
    """The first protocol and address stay, scan after scan: a camera seen over ONVIF
    and mDNS flipped between two Devices (and its instance's environment with them)."""
    inventory = Inventory()
    camera = Found("onvif:urn:x", "onvif", "http://10.0.0.5/onvif", "", "ACME", "M", "S1")
    for at in (1000, 1030, 1060):
        inventory.saw(MODBUS, [plc(1, vendor="Acme", serial="S1")], {}, 120, now=at)
        inventory.saw(ONVIF, [camera], {}, 120, now=at + 1)
        [entry] = inventory.report(now=at + 2)
        assert entry["key"] == key_of(camera) == "serial:acme:S1"
        assert entry["protocol"] == "modbus"
        assert entry["address"] == "modbus://10.0.0.5:502?unit=1"
        assert entry["labels"] == {
            "class": "plc", "protocol": "modbus", "vendor": "acme", "model": "m",
        }  # fmt: skip
        assert entry["attributes"]["onvif.address"] == "http://10.0.0.5/onvif"


def test_an_mqtt_announcement_cannot_take_over_a_device_by_its_serial() -> None:
    inventory = Inventory()
    inventory.saw(MODBUS, [plc(1, vendor="Acme", serial="S1")], {}, 120, now=1000)
    forged = Found("mqtt:announce:x", "mqtt", "rtsp://evil", "plc", "Acme", serial="S1")
    inventory.saw(("mq", "mqtt"), [forged], {}, 120, now=1001)
    shown = {e["key"]: e["address"] for e in inventory.report(now=1002)}
    assert shown == {
        "serial:acme:S1": "modbus://10.0.0.5:502?unit=1",
        "mqtt:announce:x": "rtsp://evil",
    }


def test_two_profiles_seeing_one_device_give_it_both_their_labels_steadily() -> None:
    inventory = Inventory()
    other = ("more-plcs", "modbus")
    reports = []
    for at in (1000, 1030):
        inventory.saw(MODBUS, [plc(1)], {"zone": "a", "line": "1"}, 60, now=at)
        inventory.saw(other, [plc(1)], {"zone": "b"}, 300, now=at + 1)
        reports.append(inventory.report(now=at + 2)[0]["labels"])
    assert reports[0] == reports[1]
    assert reports[0]["zone"] == "a" and reports[0]["line"] == "1"  # profile order: "more-plcs"
    inventory.saw(MODBUS, [], {}, 60, now=1100)
    inventory.saw(other, [], {"zone": "b"}, 300, now=1100)
    assert inventory.report(now=1300)[0]["available"], "the longest grace period holds"


def test_a_scan_that_fails_lets_what_it_saw_age_out() -> None:
    """A scanner that times out every time kept its devices Available for ever."""
    inventory = Inventory()
    inventory.saw(MODBUS, [plc(1)], {}, 120, now=1000)
    inventory.missed(MODBUS)
    assert inventory.report(now=1100)[0]["available"]
    assert not inventory.report(now=1121)[0]["available"]


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
    again.load([
        *inventory.dump(), {"key": "x"}, "junk", {"found": {}}, {"key": "y", "found": [],
        "origins": [], "lastSeen": "soon"}, {"key": "z", "found": {"attributes": 5},
        "origins": [[["p", "modbus"], {}, 1]], "lastSeen": 1},
    ])  # fmt: skip
    again.keep_only({MODBUS})
    assert again.report(now=1050) == inventory.report(now=1050)
    again.load({"not": "a list"})
    assert len(again.entries) == 1


def test_a_report_too_large_for_the_hub_is_made_to_fit() -> None:
    devices = [
        {"key": f"d{i}", "attributes": {"blob": "x" * 2000}, "labels": {}} for i in range(100)
    ]
    slim, left_out = fit(devices, 100_000)
    assert left_out == 0 and all(d["attributes"] == {} for d in slim)
    slim, left_out = fit(devices, 2_000)
    assert 0 < len(slim) < 100 and left_out == 100 - len(slim)
    assert fit(devices[:1], 10_000) == (devices[:1], 0)
