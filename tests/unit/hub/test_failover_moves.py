"""The placement controller's failover and failback steps (``hub.controllers.failover``)
over stored objects: which replicas wait, which go home, what new Assignments carry."""

from __future__ import annotations

import time
from typing import Any

import pytest

from edgeplane.api.wire import Object
from edgeplane.hub.controllers.failover import (
    DOUBT_RECHECK_SECONDS,
    Moves,
    Unhealthy,
    carried_out,
    moves,
)

NOW = 1_800_000_000.0


def stamp(at: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))


def app(name: str = "web", mode: str = "Replicas", **failover: Any) -> Object:
    return {
        "metadata": {"name": name},
        "spec": {"placement": {"mode": mode}, "failover": failover or None},
    }


def site(
    name: str, phase: str, heard: float | None = None, returns: tuple[float, ...] = ()
) -> Object:
    status: dict[str, Any] = {"phase": phase}
    if heard is not None:
        status["lastHeartbeat"] = stamp(heard)
    if returns:
        status["returns"] = [stamp(r) for r in returns]
    return {"metadata": {"name": name}, "status": status}


def assignment(app_name: str, at: str, **spec: Any) -> Object:
    return {
        "metadata": {"name": f"{app_name}-{at}"},
        "spec": {"application": app_name, "site": at, "replicas": 1, **spec},
    }


def stored_of(*objs: Object) -> dict[str, Object]:
    return {o["metadata"]["name"]: o for o in objs}


def lease(_: Object) -> float:
    return 30.0


@pytest.mark.parametrize(
    ("failover", "silent", "waits", "due_in"),
    [
        ({}, 2.0, True, 3.0),
        ({}, 6.0, False, None),
        ({"afterSeconds": 20}, 6.0, True, 14.0),
        ({"fencing": "Strict"}, 6.0, True, 25.0),
        ({"fencing": "Strict"}, 31.5, False, None),
    ],
    ids=["default-5s-not-yet", "default-due", "after-20", "strict-waits-lease", "strict-due"],
)
def test_replicas_wait_until_failover_is_due(
    failover: dict[str, Any], silent: float, waits: bool, due_in: float | None
) -> None:
    stored = stored_of(assignment("web", "a"))
    sites = {"a": site("a", "Offline", NOW - silent)}
    found = moves([app(**failover)], sites, stored, {"web": {"a": 1}}, lease, NOW)
    assert (found.waiting == {"web": frozenset({"a"})}) is waits
    assert found.next_at == (None if due_in is None else pytest.approx(NOW + due_in + 1, abs=0.01))


def test_every_site_and_online_sites_never_wait() -> None:
    stored = stored_of(assignment("agent", "a"), assignment("web", "b"))
    sites = {"a": site("a", "Offline", NOW - 1), "b": site("b", "Online", NOW - 1)}
    apps = [app("agent", mode="EverySite"), app("web")]
    found = moves(apps, sites, stored, {}, lease, NOW)
    assert found.waiting == {} and found.next_at is None


@pytest.mark.parametrize(
    ("returns", "home_phase", "goes_home"),
    [
        ((NOW - 61,), "Online", True),
        ((NOW - 30,), "Online", False),
        ((NOW - 200, NOW - 100, NOW - 61), "Online", False),
        ((NOW - 61,), "Offline", False),
    ],
    ids=["held-down", "too-soon", "flapping-waits-4x", "home-still-away"],
)
def test_failback_after_the_hold_down(
    returns: tuple[float, ...], home_phase: str, goes_home: bool
) -> None:
    stored = stored_of(assignment("web", "b", failedOverFrom="a"))
    sites = {"a": site("a", home_phase, NOW - 1, returns), "b": site("b", "Online", NOW)}
    found = moves([app(failback=True)], sites, stored, {"web": {"b": 1}}, lease, NOW)
    assert found.current["web"] == ({"a": 1} if goes_home else {"b": 1})
    assert (("web", "b") in found.homes) is goes_home


def test_no_failback_to_a_home_the_detector_doubts() -> None:
    stored = stored_of(assignment("web", "b", failedOverFrom="a"))
    sites = {"a": site("a", "Online", NOW - 1, (NOW - 120,)), "b": site("b", "Online", NOW)}
    doubts = {"a"}

    def doubted(s: Object, at: float) -> bool:
        assert at == NOW
        return s["metadata"]["name"] in doubts

    found = moves([app(failback=True)], sites, stored, {"web": {"b": 1}}, lease, NOW, None, doubted)
    assert found.current["web"] == {"b": 1} and not found.homes
    assert found.next_at == NOW + DOUBT_RECHECK_SECONDS
    doubts.clear()
    found = moves([app(failback=True)], sites, stored, {"web": {"b": 1}}, lease, NOW, None, doubted)
    assert found.current["web"] == {"a": 1}


def test_a_return_stamp_counts_from_the_end_of_its_second() -> None:
    # Stamps are whole seconds cut down: back at NOW - 60.0 may mean NOW - 59.1.
    stored = stored_of(assignment("web", "b", failedOverFrom="a"))
    sites = {"a": site("a", "Online", NOW, (NOW - 60,)), "b": site("b", "Online", NOW)}
    found = moves([app(failback=True)], sites, stored, {"web": {"b": 1}}, lease, NOW)
    assert found.current["web"] == {"b": 1}
    assert found.next_at == NOW + 1


def test_no_failback_unless_asked() -> None:
    stored = stored_of(assignment("web", "b", failedOverFrom="a"))
    sites = {"a": site("a", "Online", NOW, (NOW - 600,)), "b": site("b", "Online", NOW)}
    found = moves([app()], sites, stored, {"web": {"b": 1}}, lease, NOW)
    assert found.current["web"] == {"b": 1}


def test_a_replacement_names_its_home_and_takes_a_higher_epoch() -> None:
    before = assignment("web", "a", fencing="Strict", epoch=3)
    stored = stored_of(before)
    desired = stored_of(assignment("web", "b", fencing="Strict"))
    found = Moves(lost={"a": NOW - 32})
    events = carried_out(desired, stored, [app(fencing="Strict")], found, NOW)
    spec = desired["web-b"]["spec"]
    assert (spec["failedOverFrom"], spec["epoch"]) == ("a", 4)
    assert events["web"][0]["message"] == "failed over from a to b: no heartbeat for 32 s"
    assert events["web"][0]["reason"] == "FailedOver"


def test_the_home_of_a_chain_is_its_first_site_and_kept_marks_stay() -> None:
    stored = stored_of(
        assignment("web", "b", failedOverFrom="a"), assignment("web", "k", failedOverFrom="z")
    )
    desired = stored_of(assignment("web", "c"), assignment("web", "k"))
    carried_out(desired, stored, [app()], Moves(lost={"b": NOW - 6}), NOW)
    assert desired["web-c"]["spec"]["failedOverFrom"] == "a"
    assert desired["web-k"]["spec"]["failedOverFrom"] == "z"  # kept: its mark kept
    assert "epoch" not in desired["web-c"]["spec"]  # not fenced: no epoch


def test_an_epoch_never_goes_back_after_every_replica_left() -> None:
    desired = stored_of(assignment("web", "b", fencing="Strict"))
    apps: list[Object] = [{**app(fencing="Strict"), "status": {"fencingEpoch": 9}}]
    carried_out(desired, {}, apps, Moves(), NOW)
    assert desired["web-b"]["spec"]["epoch"] == 10


def test_failing_back_is_an_event() -> None:
    stored = stored_of(assignment("web", "b", failedOverFrom="a"))
    desired = stored_of(assignment("web", "a"))
    found = Moves(homes={("web", "b"): "a"})
    events = carried_out(desired, stored, [app(failback=True)], found, NOW)
    assert [e["reason"] for e in events["web"]] == ["FailedBack"]
    assert "failedOverFrom" not in desired["web-a"]["spec"]


def with_phase(obj: Object, phase: str) -> Object:
    return {**obj, "status": {"phase": phase}}


def test_an_instance_unhealthy_past_its_threshold_makes_the_app_avoid_the_site() -> None:
    tracker = Unhealthy()
    stored = stored_of(with_phase(assignment("web", "a"), "CrashLoopBackOff"))
    apps = [app(unhealthyAfterSeconds=30)]
    sites = {"a": site("a", "Online", NOW)}
    early = moves(apps, sites, stored, {"web": {"a": 1}}, lease, NOW, tracker)
    assert early.avoiding == {} and early.next_at == pytest.approx(NOW + 30, abs=0.01)
    late = moves(apps, sites, stored, {"web": {"a": 1}}, lease, NOW + 31, tracker)
    assert late.avoiding == {"web": frozenset({"a"})}
    gone = moves(apps, sites, {}, {}, lease, NOW + 32, tracker)
    assert gone.avoiding == {"web": frozenset({"a"})}  # still avoided once it moved
    later = moves(apps, sites, {}, {}, lease, NOW + 31 + 301, tracker)
    assert later.avoiding == {}  # tried again after a while


@pytest.mark.parametrize(
    ("failover", "phases"),
    [
        ({}, ["Failed", "Failed"]),
        ({"unhealthyAfterSeconds": 30}, ["Unhealthy", "Running"]),
    ],
    ids=["not-asked", "recovered-in-time"],
)
def test_no_avoidance_unless_asked_and_still_unhealthy(
    failover: dict[str, Any], phases: list[str]
) -> None:
    tracker = Unhealthy()
    sites = {"a": site("a", "Online", NOW)}
    for step, phase in enumerate(phases):
        stored = stored_of(with_phase(assignment("web", "a"), phase))
        found = moves([app(**failover)], sites, stored, {}, lease, NOW + 40 * step, tracker)
    assert found.avoiding == {}


def test_a_status_update_says_when_to_look_again() -> None:
    tracker = Unhealthy()
    unhealthy = with_phase(assignment("web", "a"), "Unhealthy")
    due = tracker.noted([app(unhealthyAfterSeconds=20)], [unhealthy], NOW)
    assert due == pytest.approx(NOW + 20, abs=0.01)
    assert tracker.noted([app()], [unhealthy], NOW + 1) is None
