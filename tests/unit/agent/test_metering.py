"""The site's metrics for autoscaling (``agent.metering``): averages over the instances
that had a value, cpu in percent of the request, stale reports left out, only held
assignments and only the names in their ``spec.metrics``; and the status reporter
sending ``status.metrics`` when they change, and removing it when there are none.

Driven by hand (``sample``) over a fake runtime and a fake clock: no periods waited."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from edgeplane.agent.__main__ import parser, settings_from
from edgeplane.agent.inventory import Capacity
from edgeplane.agent.metering import (
    STALE_PERIODS,
    Metering,
    averaged,
    cpu_percents,
    requested_cores,
)
from edgeplane.agent.metrics import ReportedMetrics
from edgeplane.agent.publishing import Publish
from edgeplane.agent.reconciler import Reconciler
from edgeplane.agent.reporter import StatusReporter
from edgeplane.agent.runtimes import CpuUse, InstanceSpec
from edgeplane.agent.runtimes.fake import FakeRuntime
from edgeplane.agent.state import LocalState
from edgeplane.api.wire import Object


@pytest.mark.parametrize(
    ("names", "cpu", "custom", "entries"),
    [
        (["cpu"], [], [], []),
        (["cpu"], [50.0, 70.0], [], [{"name": "cpu", "value": 60, "samples": 2}]),
        (
            ["rps", "cpu"],
            [10.0],
            [{"rps": 1.0}, {}, {"rps": 2.0, "other": 9.0}],
            [
                {"name": "rps", "value": 1.5, "samples": 2},
                {"name": "cpu", "value": 10, "samples": 1},
            ],
        ),
        (
            ["rps"],
            [99.0],
            [{"rps": 1e308}, {"rps": 1e308}],
            [{"name": "rps", "value": 1e308, "samples": 2}],
        ),
        (["rps"], [], [{"rps": 1 / 3}], [{"name": "rps", "value": 0.333333, "samples": 1}]),
    ],
    ids=["nothing", "cpu", "in-spec-order", "no-overflow", "six-digits"],
)
def test_each_metric_is_the_average_of_the_instances_that_had_it(
    names: list[str], cpu: list[float], custom: list[dict[str, float]], entries: list[Any]
) -> None:
    assert averaged(names, cpu, custom) == entries


@pytest.mark.parametrize(
    ("uses", "requested", "percents", "lacking"),
    [
        ([CpuUse(0.25)], 0.5, [50.0], False),
        ([CpuUse(0.25, 1.0)], 0.5, [25.0], False),
        ([CpuUse(0.25, 1.0), CpuUse(0.25)], None, [25.0], True),
        ([CpuUse(1.0)], None, [], True),
        ([], None, [], False),
    ],
    ids=["the-assignments-request", "a-pods-own", "one-without", "none", "no-uses"],
)
def test_cpu_is_a_percentage_of_the_request(
    uses: list[CpuUse], requested: float | None, percents: list[float], lacking: bool
) -> None:
    assert cpu_percents(uses, requested) == (percents, lacking)


@pytest.mark.parametrize(
    ("resources", "cores"),
    [
        ({"cpu": "500m"}, 0.5),
        ({"cpu": 2}, 2.0),
        ({}, None),
        ({"cpu": "0"}, None),
        ({"cpu": "x"}, None),
    ],
    ids=["millis", "whole", "unset", "zero", "unreadable"],
)
def test_the_request_is_read_from_the_wire(resources: dict[str, Any], cores: float | None) -> None:
    assert requested_cores({"spec": {"resources": resources}}) == cores


def assignment(
    name: str,
    metrics: Sequence[str] | None = ("cpu", "rps"),
    replicas: int = 2,
    cpu: str | None = "500m",
    kubernetes: bool = False,
) -> Object:
    kind: dict[str, Any] = {"manifests": []} if kubernetes else {"command": "x"}
    workload = {"kubernetes" if kubernetes else "process": kind}
    spec: dict[str, Any] = {"application": name, "replicas": replicas, "workload": workload}
    if metrics is not None:
        spec["metrics"] = list(metrics)
    if cpu is not None:
        spec["resources"] = {"cpu": cpu}
    return {"metadata": {"name": name, "generation": 1}, "spec": spec}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Site:
    """Assignments, a fake runtime running their replicas, what workloads reported."""

    def __init__(self, *objs: Object) -> None:
        self.assignments = {o["metadata"]["name"]: o for o in objs}
        self.runtime = FakeRuntime()
        self.clock = Clock()
        self.reported = ReportedMetrics(self.runtime.keys, clock=self.clock)
        self.changed = asyncio.Event()
        self.metering = Metering(
            lambda: self.assignments, self.runtime, self.reported, self.changed, 15.0, self.clock
        )

    async def run(self, *keys: str) -> None:
        for key in keys:
            await self.runtime.ensure(InstanceSpec(key, 1, {"command": "x"}))

    def report(self, assignment: str, replica: int, **values: float) -> None:
        body = json.dumps({"replica": replica, "metrics": values}).encode()
        answer = self.reported.take(
            assignment, self.assignments[assignment], Publish("POST", "/metrics", "t", "", body)
        )
        assert answer.status == 204, answer.body

    def unready(self, key: str) -> None:
        statuses = self.runtime._statuses
        statuses[key] = dataclasses.replace(statuses[key], ready=False)


async def test_an_assignments_metrics_are_averaged_over_its_replicas() -> None:
    site = Site(assignment("web"))
    await site.run("web", "web_1")
    site.runtime.cpu = {"web": (CpuUse(0.25),), "web_1": (CpuUse(0.5),)}
    site.report("web", 0, rps=10)
    site.report("web", 1, rps=30)
    await site.metering.sample()
    assert site.metering.of("web") == [
        {"name": "cpu", "value": 75, "samples": 2},
        {"name": "rps", "value": 20, "samples": 2},
    ]
    assert site.changed.is_set()
    site.changed.clear()
    await site.metering.sample()
    assert not site.changed.is_set(), "nothing changed: the reporter is not woken"


async def test_a_replica_that_is_not_ready_does_not_count() -> None:
    site = Site(assignment("web", ["rps"]))
    await site.run("web", "web_1")
    site.report("web", 0, rps=10)
    site.report("web", 1, rps=30)
    site.unready("web_1")
    await site.metering.sample()
    assert site.metering.of("web") == [{"name": "rps", "value": 10, "samples": 1}]


async def test_a_stale_report_is_left_out_and_with_it_the_entry() -> None:
    site = Site(assignment("web", ["rps"], replicas=1))
    await site.run("web")
    site.report("web", 0, rps=10)
    site.clock.now += STALE_PERIODS * 15.0
    await site.metering.sample()
    assert site.metering.of("web") == [{"name": "rps", "value": 10, "samples": 1}]
    site.clock.now += 0.1
    await site.metering.sample()
    assert site.metering.of("web") is None
    assert site.changed.is_set()


async def test_only_held_assignments_wanting_cpu_are_sampled_and_said_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    site = Site(
        assignment("web"),
        assignment("plain", metrics=None),
        assignment("nocpu", cpu=None, replicas=1),
        assignment("rps", ["rps"], replicas=1),
        assignment("kube", ["cpu"], replicas=3, cpu=None, kubernetes=True),
    )
    await site.run("web", "web_1", "plain", "nocpu", "rps", "kube", "gone")
    site.runtime.cpu = {"nocpu": (CpuUse(1.0),), "kube": (CpuUse(0.1, 0.2), CpuUse(0.3))}
    for _ in range(2):
        await site.metering.sample()
    assert site.runtime.cpu_asked[-1] == {"web", "web_1", "kube"}
    assert site.metering.values == {"kube": [{"name": "cpu", "value": 50, "samples": 1}]}
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 2 and "nocpu: no cpu metric" in said[1] and "kube:" in said[0]


async def test_what_no_held_instance_may_use_is_forgotten() -> None:
    site = Site(assignment("web", ["rps"]), assignment("api", ["rps"]))
    await site.run("web", "web_1", "api")
    site.report("web", 0, rps=1)
    site.report("web", 1, rps=2)
    site.report("api", 0, rps=3)
    await site.runtime.remove("web_1")
    site.assignments["api"] = assignment("api", ["other"])
    await site.metering.sample()
    assert len(site.reported) == 1
    assert site.reported.fresh("web", 0, since=0) == {"rps": 1}


# ---- the reporter sends them ----------------------------------------------------------


class Link:
    """The hub's side of status writes: each patch kept, merged into what it holds."""

    def __init__(self) -> None:
        self.sent: dict[str, dict[str, Any]] = {}
        self.held: dict[str, dict[str, Any]] = {}

    async def patch_status(self, plural: str, name: str, patch: dict[str, Any]) -> Any:
        self.sent[name] = patch
        held = self.held.setdefault(name, {})
        held.update(patch)
        return {"status": {k: v for k, v in held.items() if v is not None}}


async def test_the_reporter_sends_metrics_when_they_change_and_drops_them(
    tmp_path: Path,
) -> None:
    site = Site(assignment("web", ["rps"], replicas=1))
    state = LocalState(tmp_path / "state.db")
    state.replace_assignments(list(site.assignments.values()), "1")
    await site.run("web")
    reconciler = Reconciler(
        state,
        site.runtime,
        lambda *_: None,  # type: ignore[arg-type]
        Capacity.detect("1", "1Gi", 10),
        asyncio.Event(),
        asyncio.Event(),
    )
    link = Link()
    reporter = StatusReporter(
        link,  # type: ignore[arg-type]
        *(state, "s", site.runtime, reconciler, dict, "h", asyncio.Event()),
        metrics=site.metering.of,
    )
    await reporter.report()
    assert "metrics" not in link.sent["web"]
    site.report("web", 0, rps=12.5)
    await site.metering.sample()
    link.sent.clear()
    await reporter.report()
    assert link.sent == {"web": {"metrics": [{"name": "rps", "value": 12.5, "samples": 1}]}}
    link.sent.clear()
    await site.metering.sample()
    await reporter.report()
    assert link.sent == {}, "the same values: nothing sent"
    site.clock.now += (STALE_PERIODS + 1) * 15.0
    await site.metering.sample()
    await reporter.report()
    assert link.sent == {"web": {"metrics": None}}
    state.close()


@pytest.mark.parametrize(
    ("given", "seconds"),
    [([], 15.0), (["--metrics-seconds", "1"], 1.0), (["--metrics-seconds", "300"], 300.0)],
    ids=["default", "lowest", "highest"],
)
def test_the_period_is_a_flag(given: list[str], seconds: float) -> None:
    args = parser().parse_args(["--data-dir", "/d", *given])
    assert settings_from(args).metrics_seconds == seconds


@pytest.mark.parametrize("text", ["0.5", "301", "nan", "soon"])
def test_a_period_out_of_bounds_is_refused(text: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parser().parse_args(["--data-dir", "/d", "--metrics-seconds", text])
    assert "give seconds from 1 to 300" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("status", "valid"),
    [
        ({"metrics": [{"name": "cpu", "value": 63.5, "samples": 3}]}, True),
        ({"metrics": [{"name": f"m{i}", "value": 1, "samples": 1} for i in range(10)]}, True),
        ({"metrics": [{"name": f"m{i}", "value": 1, "samples": 1} for i in range(11)]}, False),
        ({"metrics": [{"name": "cpu", "value": float("nan"), "samples": 1}]}, False),
        ({"metrics": [{"name": "cpu", "value": 1, "samples": -1}]}, False),
        ({"metrics": [{"name": "Cpu", "value": 1, "samples": 1}]}, False),
        ({"metrics": [{"name": "cpu", "value": 1}]}, False),
    ],
    ids=["one", "ten", "eleven", "nan", "negative-samples", "bad-name", "no-samples"],
)
def test_the_hub_takes_the_status_metering_makes_within_its_bounds(
    status: dict[str, Any], valid: bool
) -> None:
    from pydantic import ValidationError

    from edgeplane.api.assignments import AssignmentStatus

    try:
        AssignmentStatus.model_validate(status)
    except ValidationError:
        assert not valid
    else:
        assert valid


@pytest.mark.parametrize(
    ("metrics", "valid"),
    [
        (["cpu", "requests_per_second"], True),
        ([f"m{i}" for i in range(11)], False),
        (["a b"], False),
    ],
    ids=["names", "eleven", "bad-name"],
)
def test_the_spec_names_at_most_ten_metrics(metrics: list[str], valid: bool) -> None:
    from pydantic import ValidationError

    from edgeplane.api.assignments import AssignmentSpec

    spec = {
        "application": "web",
        "revision": 1,
        "site": "s",
        "workload": {"process": {"command": "x"}},
    }
    try:
        AssignmentSpec.model_validate({**spec, "metrics": metrics})
    except ValidationError:
        assert not valid
    else:
        assert valid
