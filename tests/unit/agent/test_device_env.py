"""What an instance is told of the devices it was given: its own only, in order."""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from edgeplane.agent.identity import device_env, with_identity
from edgeplane.agent.runtimes.process.supervisor import Supervisor
from edgeplane.api.wire import Object


def given(name: str, instance: int, requirement: int, address: str, protocol: str) -> Any:
    return {
        "name": name,
        "instance": instance,
        "requirement": requirement,
        "address": address,
        "protocol": protocol,
    }


def test_an_instance_is_told_its_own_devices_only() -> None:
    devices = [
        given("plc-a", 0, 0, "modbus://a", "modbus"),
        given("plc-b", 1, 0, "modbus://b", "modbus"),
        given("cam", 1, 1, "http://cam", "onvif"),
    ]
    env = device_env(devices, 1)
    assert env["EDGEPLANE_DEVICE_COUNT"] == "2"
    assert env["EDGEPLANE_DEVICE_0_ADDRESS"] == "modbus://b"
    assert env["EDGEPLANE_DEVICE_1_NAME"] == "cam"
    assert env["EDGEPLANE_DEVICE_1_PROTOCOL"] == "onvif"
    assert [d["name"] for d in json.loads(env["EDGEPLANE_DEVICES"])] == ["plc-b", "cam"]
    assert device_env(devices, 2) == {}


def test_the_workload_gets_them_with_its_identity() -> None:
    spec: dict[str, Any] = {
        "site": "s1",
        "application": "a",
        "devices": [{"name": "plc-a", "instance": 0, "requirement": 0, "address": "modbus://a"}],
    }
    obj: Object = {"metadata": {"name": "a.s1"}, "spec": spec}
    env = with_identity({"command": "x"}, obj, 0)["env"]
    assert env["EDGEPLANE_DEVICE_0_ADDRESS"] == "modbus://a"
    assert "EDGEPLANE_DEVICE_COUNT" not in with_identity({"command": "x"}, obj, 1)["env"]


def test_the_devices_file_replaces_whatever_the_workload_left(tmp_path: Path) -> None:
    """The instance's own directory is the workload's: a FIFO left as devices.json
    blocked the agent's open for ever, a symlink redirected its write."""
    own = tmp_path / "own"
    own.mkdir()
    target = tmp_path / "credential"
    target.write_text("secret")
    holder = SimpleNamespace(_own_dir=own, _account=None)
    os.mkfifo(own / "devices.json")
    Supervisor._write_devices(holder, '[{"name": "plc"}]')  # type: ignore[arg-type]
    assert json.loads((own / "devices.json").read_text()) == [{"name": "plc"}]
    (own / "devices.json").unlink()
    (own / "devices.json").symlink_to(target)
    Supervisor._write_devices(holder, "[]")  # type: ignore[arg-type]
    assert target.read_text() == "secret" and not (own / "devices.json").is_symlink()
    assert (own / "devices.json").stat().st_mode & 0o777 == 0o600
    Supervisor._write_devices(holder, None)  # type: ignore[arg-type]
    assert not (own / "devices.json").exists()
