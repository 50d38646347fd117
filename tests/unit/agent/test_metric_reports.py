"""Custom metrics a workload reports with ``POST /metrics`` (``agent.metrics``, routed by
``agent.data``): authenticated as record publishing is, 204 once kept, and each bad
report refused with its status, the field at fault and nothing of it kept. The HTTP
server itself (``agent.publishing``) answers 204 without a body."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from edgeplane.agent.data import DataPlane
from edgeplane.agent.metrics import NAME, ReportedMetrics, wanted_metrics
from edgeplane.agent.publishing import Publish
from edgeplane.api.wire import Object

NAMES = ["cpu", "requests_per_second", "queue.depth"]


def assignment(name: str, replicas: int = 1, metrics: list[str] | None = NAMES) -> Object:
    spec: dict[str, Any] = {
        "application": "pub",
        "site": "s1",
        "replicas": replicas,
        "workload": {"process": {"command": "x"}},
    }
    if metrics is not None:
        spec["metrics"] = metrics
    return {"metadata": {"name": name}, "spec": spec}


ASSIGNMENTS = {
    "one.s1": assignment("one.s1"),
    "three.s1": assignment("three.s1", replicas=3),
    "plain.s1": assignment("plain.s1", metrics=None),
}
RUNNING = {"one.s1", "three.s1", "three.s1_1", "three.s1_2", "plain.s1"}


class Clock:
    now = 50.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def plane(tmp_path: Path) -> Iterator[DataPlane]:
    reported = ReportedMetrics(lambda: RUNNING, clock=Clock())
    made = DataPlane(tmp_path, "s1", None, lambda: ASSIGNMENTS, metrics=reported)  # type: ignore[arg-type]
    yield made
    made.spool.close()
    made._pool.shutdown()


def report(
    plane: DataPlane, body: Any, assignment: str = "one.s1", token: str | None = "mine"
) -> Publish:
    if token == "mine":
        token = plane.env_for(ASSIGNMENTS[assignment])["EDGEPLANE_DATA_TOKEN"]
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Publish("POST", "/metrics", token, "application/json", content)


async def test_a_report_is_kept_per_assignment_replica_and_name(plane: DataPlane) -> None:
    answer = await plane.handle(report(plane, {"metrics": {"requests_per_second": 120.5}}))
    assert (answer.status, answer.body) == (204, {})
    body = {"replica": 2, "metrics": {"requests_per_second": 3, "queue.depth": 7}}
    assert (await plane.handle(report(plane, body, "three.s1"))).status == 204
    assert plane.metrics.fresh("one.s1", 0, since=0) == {"requests_per_second": 120.5}
    assert plane.metrics.fresh("three.s1", 2, since=0) == {
        "requests_per_second": 3.0,
        "queue.depth": 7.0,
    }
    assert plane.metrics.fresh("three.s1", 0, since=0) == {}
    assert plane.metrics.fresh("one.s1", 0, since=51) == {}, "kept with when it came"


BIG = {"metrics": {"requests_per_second": 1}, "replica": 0, "pad": "x" * 5000}


@pytest.mark.parametrize(
    ("body", "assignment", "status", "field", "says"),
    [
        (b"{not json", "one.s1", 400, "body", "not JSON"),
        ([1, 2], "one.s1", 400, "body", "JSON object"),
        (b'{"metrics": {"requests_per_second": NaN}}', "one.s1", 400, "body", "NaN"),
        ({"metrics": {"requests_per_second": 1}, "extra": 1}, "one.s1", 400, "extra", "field"),
        ({"replica": 0}, "one.s1", 400, "metrics", "object"),
        ({"metrics": {}}, "one.s1", 400, "metrics", "object"),
        ({"metrics": [1]}, "one.s1", 400, "metrics", "object"),
        ({"metrics": {f"m{i}": 1 for i in range(11)}}, "one.s1", 400, "metrics", "at most 10"),
        ({"metrics": {"errors": 1}}, "one.s1", 400, "metrics.errors", "spec.metrics"),
        ({"metrics": {"cpu": 50}}, "one.s1", 400, "metrics.cpu", "measures cpu"),
        ({"metrics": {"Bad Name": 1}}, "one.s1", 400, "metrics.Bad Name", "spec.metrics"),
        ({"metrics": {"queue.depth": "7"}}, "one.s1", 400, "metrics.queue.depth", "number"),
        ({"metrics": {"queue.depth": True}}, "one.s1", 400, "metrics.queue.depth", "number"),
        ({"metrics": {"queue.depth": None}}, "one.s1", 400, "metrics.queue.depth", "number"),
        ({"metrics": {"queue.depth": 1e308 * 10}}, "one.s1", 400, "body", "Infinity"),
        (b'{"metrics": {"queue.depth": 1e999}}', "one.s1", 400, "metrics.queue.depth", "finite"),
        (
            b'{"metrics": {"queue.depth": 1' + b"0" * 400 + b"}}",
            "one.s1",
            400,
            "metrics.queue.depth",
            "finite",
        ),
        ({"metrics": {"queue.depth": 1}}, "three.s1", 400, "replica", "EDGEPLANE_REPLICA"),
        ({"replica": "0", "metrics": {"queue.depth": 1}}, "one.s1", 400, "replica", "number"),
        ({"replica": True, "metrics": {"queue.depth": 1}}, "one.s1", 400, "replica", "number"),
        ({"replica": 3, "metrics": {"queue.depth": 1}}, "three.s1", 400, "replica", "0 to 2"),
        ({"replica": -1, "metrics": {"queue.depth": 1}}, "three.s1", 400, "replica", "0 to 2"),
        ({"metrics": {"queue.depth": 1}}, "plain.s1", 400, "metrics.queue.depth", "none"),
        (BIG, "one.s1", 413, None, "4096 bytes"),
    ],
    ids=[
        "not-json",
        "not-an-object",
        "nan",
        "unknown-field",
        "no-metrics",
        "empty-metrics",
        "metrics-a-list",
        "eleven-names",
        "name-not-in-spec",
        "cpu-is-the-agents",
        "bad-name",
        "string-value",
        "bool-value",
        "null-value",
        "infinity",
        "overflowing-float",
        "overflowing-int",
        "replica-required",
        "replica-a-string",
        "replica-a-bool",
        "replica-too-high",
        "replica-negative",
        "no-spec-metrics",
        "too-large",
    ],
)
async def test_a_bad_report_is_refused_naming_the_field_and_nothing_is_kept(
    plane: DataPlane, body: Any, assignment: str, status: int, field: str | None, says: str
) -> None:
    answer = await plane.handle(report(plane, body, assignment))
    assert answer.status == status
    assert answer.body.get("field") == field
    assert says in answer.body["message"]
    assert len(plane.metrics) == 0


async def test_one_bad_value_keeps_none_of_the_others(plane: DataPlane) -> None:
    body = {"metrics": {"requests_per_second": 1, "queue.depth": "x"}}
    assert (await plane.handle(report(plane, body))).status == 400
    assert len(plane.metrics) == 0


async def test_a_replica_the_site_does_not_run_is_refused(tmp_path: Path) -> None:
    reported = ReportedMetrics(lambda: {"three.s1"})
    plane = DataPlane(tmp_path, "s1", None, lambda: ASSIGNMENTS, metrics=reported)  # type: ignore[arg-type]
    try:
        body = {"replica": 1, "metrics": {"queue.depth": 1}}
        answer = await plane.handle(report(plane, body, "three.s1"))
        assert (answer.status, answer.body["field"]) == (400, "replica")
        assert len(plane.metrics) == 0
    finally:
        plane.spool.close()
        plane._pool.shutdown()


@pytest.mark.parametrize(
    ("token", "method", "status"),
    [(None, "POST", 401), ("forged", "POST", 401), ("mine", "GET", 405)],
    ids=["no-token", "forged", "get"],
)
async def test_reports_are_authenticated_as_publishing_is(
    plane: DataPlane, token: str | None, method: str, status: int
) -> None:
    publish = report(plane, {"metrics": {"queue.depth": 1}}, token=token)
    answer = await plane.handle(Publish(method, "/metrics", publish.token, "", publish.body))
    assert answer.status == status
    assert len(plane.metrics) == 0


async def test_the_endpoint_answers_204_without_a_body(plane: DataPlane) -> None:
    await plane.server.start()
    try:
        token = plane.env_for(ASSIGNMENTS["one.s1"])["EDGEPLANE_DATA_TOKEN"]
        async with httpx.AsyncClient(base_url=plane.server.url) as client:
            headers = {"Authorization": f"Bearer {token}"}
            for _ in range(2):  # the connection is kept for the next one
                answer = await client.post(
                    "/metrics", json={"metrics": {"queue.depth": 4}}, headers=headers
                )
                assert (answer.status_code, answer.content) == (204, b"")
            answer = await client.post("/metrics", json={"metrics": {"x": 1}}, headers=headers)
            assert answer.status_code == 400
            assert answer.json()["field"] == "metrics.x"
    finally:
        await plane.server.close()
    assert plane.metrics.fresh("one.s1", 0, since=0) == {"queue.depth": 4.0}


@pytest.mark.parametrize(
    "name",
    ["cpu", "a", "requests_per_second", "q.depth-1", "9", "a" * 63, "-a", "a-", "A", "a" * 64, ""],
)
def test_the_agents_name_rule_is_the_apis(name: str) -> None:
    from pydantic import TypeAdapter, ValidationError

    from edgeplane.api.autoscaling import MetricName

    try:
        TypeAdapter(MetricName).validate_python(name)
        api = True
    except ValidationError:
        api = False
    assert bool(NAME.fullmatch(name)) == api


@pytest.mark.parametrize(
    ("metrics", "wanted"),
    [
        (["cpu", "rps"], ["cpu", "rps"]),
        (["rps", "cpu", "rps"], ["rps", "cpu"]),
        (["rps", "Bad", 3, None], ["rps"]),
        ([f"m{i}" for i in range(12)], [f"m{i}" for i in range(10)]),
        ("cpu", []),
        (None, []),
    ],
    ids=["as-given", "each-once", "odd-ones-left-out", "at-most-ten", "not-a-list", "none"],
)
def test_the_wanted_names_are_what_a_status_may_hold(metrics: Any, wanted: list[str]) -> None:
    assert wanted_metrics({"spec": {"metrics": metrics}}) == wanted
