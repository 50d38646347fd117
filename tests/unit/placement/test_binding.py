"""Device binding: each instance gets its own devices (shared only when asked), keeps
them while they stay Available, and a lost one is replaced by a free one."""

from __future__ import annotations

from typing import Any

from edgeplane.api.wire import Object
from edgeplane.placement.binding import bind_devices


def device(name: str, site: str = "s1", phase: str | None = "Available", **labels: str) -> Object:
    obj: dict[str, Any] = {
        "kind": "Device",
        "metadata": {"name": name, "labels": {"class": "plc", **labels}},
        "spec": {"site": site, "protocol": "modbus", "address": f"modbus://{name}"},
    }
    if phase:
        obj["status"] = {"phase": phase}
    return obj  # type: ignore[return-value]


def app(name: str, count: int = 1, shared: bool = False, **match: str) -> Object:
    requirement = {"selector": {"matchLabels": match or {"class": "plc"}}, "count": count}
    if shared:
        requirement["shared"] = True
    return {"metadata": {"name": name}, "spec": {"devices": [requirement]}}


def assignment(app_name: str, site: str = "s1", replicas: int = 1) -> Object:
    spec = {"application": app_name, "site": site, "replicas": replicas}
    return {"metadata": {"name": f"{app_name}.{site}"}, "spec": spec}


def given(bound: dict[str, Object], name: str) -> list[tuple[int, str]]:
    return [(d["instance"], d["name"]) for d in bound[name]["spec"].get("devices") or []]


def test_each_instance_gets_its_own_devices_and_addresses() -> None:
    desired = {"a.s1": assignment("a", replicas=2)}
    bound = bind_devices(desired, {"a": app("a")}, [device("d1"), device("d2")], {})
    assert given(bound.assignments, "a.s1") == [(0, "d1"), (1, "d2")]
    first = bound.assignments["a.s1"]["spec"]["devices"][0]
    assert first == {
        "name": "d1", "instance": 0, "requirement": 0,
        "address": "modbus://d1", "protocol": "modbus",
    }  # fmt: skip
    assert "devices" not in desired["a.s1"]["spec"], "the desired object is not changed"
    assert bound.missing == {}


def test_exclusive_devices_are_not_given_twice_and_shared_ones_are() -> None:
    desired = {"a.s1": assignment("a"), "b.s1": assignment("b"), "c.s1": assignment("c")}
    apps = {"a": app("a"), "b": app("b"), "c": app("c", shared=True)}
    bound = bind_devices(desired, apps, [device("d1"), device("d2")], {})
    assert given(bound.assignments, "a.s1") == [(0, "d1")]
    assert given(bound.assignments, "b.s1") == [(0, "d2")]
    assert given(bound.assignments, "c.s1") == []
    assert bound.missing == {"c.s1": 1}
    shared = {"s.s1": assignment("s"), "t.s1": assignment("t")}
    apps = {"s": app("s", shared=True), "t": app("t", shared=True)}
    bound = bind_devices(shared, apps, [device("d1")], {})
    assert given(bound.assignments, "s.s1") == given(bound.assignments, "t.s1") == [(0, "d1")]


def test_an_instance_keeps_its_devices_and_a_lost_one_is_replaced() -> None:
    desired, apps = {"a.s1": assignment("a")}, {"a": app("a")}
    first = bind_devices(desired, apps, [device("d2")], {}).assignments
    stored = {"a.s1": first["a.s1"]}
    again = bind_devices(desired, apps, [device("d1"), device("d2")], stored).assignments
    assert given(again, "a.s1") == [(0, "d2")], "a new device d1 moves nothing"
    lost = [device("d1"), device("d2", phase="Unavailable")]
    assert given(bind_devices(desired, apps, lost, stored).assignments, "a.s1") == [(0, "d1")]


def test_devices_of_other_sites_and_labels_are_not_given() -> None:
    desired = {"a.s1": assignment("a")}
    devices = [device("d1", site="s2"), device("d2", **{"class": "camera"})]
    bound = bind_devices(desired, {"a": app("a")}, devices, {})
    assert given(bound.assignments, "a.s1") == [] and bound.missing == {"a.s1": 1}


def test_kept_devices_are_reserved_before_new_ones_are_handed_out() -> None:
    """b held d1 before; a (earlier by name) must not take it from b."""
    desired = {"a.s1": assignment("a"), "b.s1": assignment("b")}
    apps = {"a": app("a"), "b": app("b")}
    held = assignment("b")
    held["spec"]["devices"] = [{"name": "d1", "instance": 0, "requirement": 0}]
    bound = bind_devices(desired, apps, [device("d1"), device("d2")], {"b.s1": held})
    assert given(bound.assignments, "b.s1") == [(0, "d1")]
    assert given(bound.assignments, "a.s1") == [(0, "d2")]


def test_many_replicas_bind_a_bounded_number_of_devices() -> None:
    desired = {"a.s1": assignment("a", replicas=100_000)}
    devices = [device(f"d{i:05d}", **{"class": "plc"}) for i in range(3)]
    bound = bind_devices(desired, {"a": app("a", shared=True)}, devices, {})
    assert len(bound.assignments["a.s1"]["spec"]["devices"]) == 1024
