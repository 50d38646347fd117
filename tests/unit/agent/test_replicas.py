"""Replicas of an assignment: instance keys, admission of n x requests, and one status
summed over the instances."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from edgeplane.agent.fitting import admit
from edgeplane.agent.inventory import Capacity
from edgeplane.agent.reconciler import Problem
from edgeplane.agent.replicas import (
    by_assignment,
    instance_key,
    instance_keys,
    replicas_of,
    split_key,
    stop_order,
)
from edgeplane.agent.reporter import replicas_status
from edgeplane.agent.runtimes import Endpoint, InstanceStatus, Phase
from edgeplane.api.wire import Object


@pytest.mark.parametrize(
    ("assignment", "replica", "key"),
    [("web.s1", 0, "web.s1"), ("web.s1", 1, "web.s1_1"), ("a-b.c.d", 12, "a-b.c.d_12")],
    ids=["replica-0-is-the-assignment", "replica-1", "dotted-name"],
)
def test_instance_keys_read_back(assignment: str, replica: int, key: str) -> None:
    assert instance_key(assignment, replica) == key
    assert split_key(key) == (assignment, replica)


def test_keys_group_and_stop_highest_first() -> None:
    assert instance_keys("w.s", 3) == ["w.s", "w.s_1", "w.s_2"]
    assert instance_keys("w.s", 0) == []
    assert stop_order({"w.s", "w.s_2", "w.s_10", "v.s_1"}) == ["w.s_10", "w.s_2", "v.s_1", "w.s"]
    assert by_assignment({"w.s": "a", "w.s_2": "c", "v.s": "d"}) == {
        "w.s": {0: "a", 2: "c"},
        "v.s": {0: "d"},
    }


@pytest.mark.parametrize(
    ("spec", "replicas"),
    [({}, 1), ({"replicas": 3}, 3), ({"replicas": 0}, 0)],
    ids=["default", "three", "zero"],
)
def test_replicas_of(spec: dict[str, Any], replicas: int) -> None:
    assert replicas_of({"spec": spec}) == replicas


def _assignment(name: str, replicas: int, cpu: str = "100m", generation: int = 1) -> Object:
    return {
        "metadata": {"name": name, "generation": generation, "resourceVersion": "1"},
        "spec": {
            "replicas": replicas,
            "resources": {"cpu": cpu, "memory": "1Mi"},
            "workload": {"process": {"command": "true"}},
        },
    }


def test_admit_counts_requests_times_replicas() -> None:
    desired = {"a": _assignment("a", 3, "300m"), "b": _assignment("b", 2, "300m")}
    admitted, left = admit(desired, set(), Capacity.of("1", "1Gi"))
    assert admitted == {"a", "a_1", "a_2"}
    assert left.cpu_millis == 100
    assert left.memory_bytes == 1024**3 - 3 * 1024**2


def test_admit_keeps_running_replicas_before_a_scale_up() -> None:
    desired = {"a": _assignment("a", 3, "400m"), "b": _assignment("b", 1, "400m")}
    admitted, left = admit(desired, {"a", "b"}, Capacity.of("1", "1Gi"))
    assert admitted == {"a", "b"}  # a's new replicas wait; b, which runs, stays
    assert left.cpu_millis == 200


def test_admit_of_zero_replicas_takes_nothing() -> None:
    admitted, left = admit({"a": _assignment("a", 0, "2")}, set(), Capacity.of("1", "1Gi"))
    assert admitted == set()
    assert left.cpu_millis == 1000


def _instance(
    phase: Phase = Phase.RUNNING,
    ready: bool = True,
    port: int = 4000,
    generation: int = 1,
    **fields: Any,
) -> InstanceStatus:
    return InstanceStatus(
        "k", generation, phase, ready, endpoints=(Endpoint("http", port),), **fields
    )


def _url(port: int) -> dict[str, Any]:
    return {"name": "http", "port": port, "url": f"http://h:{port}"}


def test_three_running_replicas_sum_up() -> None:
    obj = _assignment("w.s", 3)
    instances = [
        _instance(port=4000, restarts=1, started_at=0.0),
        _instance(port=4001, restarts=2, started_at=60.0),
        _instance(port=4002),
    ]
    assert replicas_status(obj, instances, None, "h") == {
        "phase": "Running",
        "ready": 3,
        "restarts": 3,
        "startedAt": "1970-01-01T00:00:00Z",
        "endpoints": [_url(4000), _url(4001), _url(4002)],
        "observedGeneration": 1,
    }


@pytest.mark.parametrize(
    ("instances", "phase", "ready", "reason", "message"),
    [
        (
            [_instance(), None, _instance(port=4002)],
            "Pending",
            2,
            "Starting",
            None,
        ),
        (
            [
                _instance(),
                _instance(Phase.CRASH_LOOP, False, reason="Error", message="exit code 3"),
                _instance(Phase.UNHEALTHY, False, reason="Unhealthy", message="probe failed"),
            ],
            "CrashLoopBackOff",
            1,
            "Error",
            "replica 1: exit code 3",
        ),
        (
            [_instance(), _instance(ready=False, reason="HealthCheckFailed", message="refused")],
            "Running",
            1,
            "HealthCheckFailed",
            "replica 1: refused",
        ),
        (
            [_instance(), _instance(generation=0)],
            "Pending",
            1,
            "Starting",
            None,
        ),
    ],
    ids=["one-not-started", "worst-speaks", "running-not-ready", "older-generation"],
)
def test_the_worst_replica_speaks_for_the_assignment(
    instances: list[InstanceStatus | None],
    phase: str,
    ready: int,
    reason: str,
    message: str | None,
) -> None:
    status = replicas_status(_assignment("w.s", len(instances)), instances, None, "h")
    assert (status["phase"], status["ready"], status.get("reason")) == (phase, ready, reason)
    assert status.get("message") == message


def test_zero_replicas_run_nothing_and_say_so() -> None:
    assert replicas_status(_assignment("w.s", 0), [], None, "h") == {
        "phase": "Running",
        "ready": 0,
        "reason": "ScaledToZero",
        "message": "spec.replicas is 0: nothing runs",
        "observedGeneration": 1,
    }


def test_a_problem_keeps_the_count_of_what_runs() -> None:
    problem = Problem(Phase.PENDING, "InsufficientCapacity", "1 of 3 replicas wait")
    instances = [_instance(port=4000), _instance(port=4001), None]
    assert replicas_status(_assignment("w.s", 3), instances, problem, "h") == {
        "phase": "Pending",
        "reason": "InsufficientCapacity",
        "message": "1 of 3 replicas wait",
        "ready": 2,
        "restarts": 0,
        "endpoints": [_url(4000), _url(4001)],
        "observedGeneration": 1,
    }


def test_admit_bounds_a_huge_replica_count_by_the_sites_instance_cap() -> None:
    """2^31-1 replicas that ask for nothing fit any capacity: only the instance cap
    stops the agent from building (and starting) billions of instances."""
    huge = _assignment("a", 2**31 - 1, "0")
    capacity = dataclasses.replace(Capacity.of("1", "1Gi"), instances=5)
    admitted, _ = admit({"a": huge, "b": _assignment("b", 1, "0")}, {"b"}, capacity)
    assert admitted == {"b", "a", "a_1", "a_2", "a_3"}  # what runs keeps its place


def test_a_status_stays_within_the_hubs_bounds() -> None:
    """The hub refuses (422) a message over 32 KiB or more than 256 endpoints, and a
    refused status used to stop every other assignment's status too: the agent cuts."""
    long = "cannot start /" + "x" * 40_000
    obj = _assignment("w.s", 300)
    instances = [_instance(port=4000 + i) for i in range(299)]
    instances.append(_instance(Phase.CRASH_LOOP, False, 5000, reason="StartError", message=long))
    status = replicas_status(obj, instances, None, "h")
    assert len(status["message"]) == 32 * 1024
    assert status["message"].startswith("replica 299: cannot start /xxx")
    assert status["message"].endswith("xxx [cut]")
    assert status["endpoints"] == [_url(4000 + i) for i in range(256)]
    assert status["ready"] == 299
