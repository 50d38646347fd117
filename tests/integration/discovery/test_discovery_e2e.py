"""Discovery end to end: a real hub, real agents and device simulators as processes.

A factory site runs a DiscoveryProfile for Modbus and OPC UA; its PLC simulator is
found, becomes a Device of that site (and of no other), and an application requiring
``class: plc`` is placed at the factory only. Its instance reads the device's address
from its environment, talks to the simulator and writes what it read. The PLC stopped,
its Device turns Unavailable after the grace period and the application is unplaced;
started again, it comes back.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from tests.support import devicesim
from tests.support.fleet import Fleet, wait_for
from tests.support.ports import free_port

GRACE = 8
READER = """
import json, os, sys, time, urllib.parse
from pymodbus.client import ModbusTcpClient
address = os.environ["EDGEPLANE_DEVICE_0_ADDRESS"]
url = urllib.parse.urlsplit(address)
unit = int(urllib.parse.parse_qs(url.query)["unit"][0])
client = ModbusTcpClient(url.hostname, port=url.port)
client.connect()
value = client.read_holding_registers(0, count=1, device_id=unit).registers[0]
listed = json.load(open(os.environ["EDGEPLANE_DEVICES_FILE"]))
with open(sys.argv[1] + ".tmp", "w") as out:
    json.dump({"address": address, "value": value, "file": listed,
               "count": os.environ["EDGEPLANE_DEVICE_COUNT"]}, out)
os.replace(sys.argv[1] + ".tmp", sys.argv[1])
time.sleep(600)
"""


def profile(modbus_port: int, opcua_port: int) -> dict[str, Any]:
    return {
        "apiVersion": "edgeplane.io/v1alpha1",
        "kind": "DiscoveryProfile",
        "metadata": {"name": "factory-plcs"},
        "spec": {
            "siteSelector": {"matchLabels": {"role": "factory"}},
            "intervalSeconds": 5,
            "gracePeriodSeconds": GRACE,
            "labels": {"line": "a"},
            "modbus": {"hosts": ["127.0.0.1"], "ports": [modbus_port], "unitIds": [1]},
            "opcua": {"endpoints": [f"opc.tcp://127.0.0.1:{opcua_port}/"]},
        },
    }


def reader(out: Path) -> dict[str, Any]:
    return {
        "apiVersion": "edgeplane.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "plc-reader"},
        "spec": {
            "workload": {"process": {"command": sys.executable, "args": ["-c", READER, str(out)]}},
            "resources": {"cpu": "10m", "memory": "8Mi"},
            "devices": [{"selector": {"matchLabels": {"class": "plc", "protocol": "modbus"}}}],
            "placement": {"mode": "Replicas", "replicas": 1},
        },
    }


def devices(fleet: Fleet) -> list[dict[str, Any]]:
    return list(fleet.ok("GET", "/devices")["items"])


def missing(fleet: Fleet, app: str) -> str | None:
    status = fleet.ok("GET", f"/applications/{app}").get("status") or {}
    for condition in status.get("conditions") or []:
        if condition["type"] == "DevicesBound" and condition["reason"] == "DevicesMissing":
            return str(condition["message"]).split(": ", 1)[1].split(" (")[0]
    return None


def plc_phase(fleet: Fleet, port: int) -> str | None:
    for device in devices(fleet):
        if device["spec"]["address"] == f"modbus://127.0.0.1:{port}?unit=1":
            return str((device.get("status") or {}).get("phase"))
    return None


def test_a_discovered_plc_places_its_application_and_reaches_the_instance(
    fleet: Fleet, tmp_path: Path
) -> None:
    modbus_port, opcua_port = free_port(), free_port()
    fleet.add_agent("factory", {"role": "factory"})
    fleet.add_agent("office", {"role": "office"})
    for name in ("factory", "office"):
        wait_for(lambda n=name: fleet.site_phase(n) == "Online", f"{name} Online")
    fleet.ok("POST", "/discoveryprofiles", profile(modbus_port, opcua_port))
    with devicesim.running("modbus", modbus_port, tmp_path / "modbus.log"):
        with devicesim.running("opcua", opcua_port, tmp_path / "opcua.log"):
            wait_for(lambda: len(devices(fleet)) == 2, "the PLC and the OPC UA server found", 60)
        found = {d["spec"]["protocol"]: d for d in devices(fleet)}
        plc, opc = found["modbus"], found["opcua"]
        assert plc["spec"]["site"] == opc["spec"]["site"] == "factory"
        assert plc["metadata"]["labels"] == {
            "class": "plc",
            "protocol": "modbus",
            "vendor": "acme-automation",
            "model": "ac-100-r",
            "line": "a",
            "edgeplane.io/site": "factory",
            "edgeplane.io/discovered": "true",
        }
        assert opc["spec"]["address"].startswith(f"opc.tcp://127.0.0.1:{opcua_port}")
        assert opc["metadata"]["labels"]["vendor"] == "acme-automation"

        out = tmp_path / "read.json"
        fleet.ok("POST", "/applications", reader(out))
        wait_for(out.exists, "the instance read the PLC", 60)
        read = json.loads(out.read_text())
        assert read["address"] == f"modbus://127.0.0.1:{modbus_port}?unit=1"
        assert read["value"] == devicesim.REGISTER_VALUE and read["count"] == "1"
        assert [d["name"] for d in read["file"]] == [plc["metadata"]["name"]]
        assert set(fleet.assignments("plc-reader")) == {"factory"}
        rival = reader(tmp_path / "rival.json")  # one PLC, and each needs its own
        rival["metadata"]["name"] = "plc-rival"
        fleet.ok("POST", "/applications", rival)
        wait_for(lambda: missing(fleet, "plc-rival") == "1 at factory", "the missing told", 30)
        assert missing(fleet, "plc-reader") is None and json.loads(out.read_text()) == read
        fleet.ok("DELETE", "/applications/plc-rival")
    wait_for(lambda: plc_phase(fleet, modbus_port) == "Unavailable", "the PLC Unavailable", 60)
    wait_for(lambda: fleet.assignments("plc-reader") == {}, "the application unplaced", 30)
    with devicesim.running("modbus", modbus_port, tmp_path / "modbus.log"):
        wait_for(lambda: plc_phase(fleet, modbus_port) == "Available", "the PLC back", 60)
        wait_for(lambda: set(fleet.assignments("plc-reader")) == {"factory"}, "placed again", 30)
    assert [d["spec"]["site"] for d in devices(fleet)] == ["factory", "factory"]
