"""Custom metrics that workloads report to their agent, kept in memory for the sampler.

A workload reports with ``POST /metrics`` on the publishing endpoint
(``agent.publishing``, ``$EDGEPLANE_DATA_URL``), authenticated as record publishing is
(``Authorization: Bearer $EDGEPLANE_DATA_TOKEN``, which says which assignment)::

    {"replica": 0, "metrics": {"requests_per_second": 120.5}}

``replica`` (``$EDGEPLANE_REPLICA``) may be left out when the assignment has one
replica; ``metrics`` holds 1 to ``MAX_NAMES`` finite numbers, each named in the
assignment's ``spec.metrics`` (``cpu`` excepted: the agent measures it), so a workload
cannot fill the agent's memory with names. The body is at most ``MAX_BODY_BYTES``.
204 once kept; a bad body is 400 naming the field, and nothing of it is kept.

Each value is kept with when it came, by (assignment, replica, name): the last one
wins, and ``agent.metering`` takes only those newer than it asks for. Neighbours:
``agent.data`` (routes the request here), ``agent.metering`` (reads and prunes).
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from edgeplane.agent.publishing import Answer, Publish, refusal
from edgeplane.agent.replicas import instance_key, replicas_of
from edgeplane.api.wire import Object

METRICS_PATH = "/metrics"
MAX_BODY_BYTES = 4096
MAX_NAMES = 10
CPU = "cpu"
"""Measured by the agent itself (``agent.metering``), never reported by a workload."""
NAME = re.compile(r"[a-z0-9]([a-z0-9_.-]{0,61}[a-z0-9])?")
"""``api.assignments.MetricName``'s rule (the agent does not import the API's models)."""
FIELDS = frozenset({"replica", "metrics"})
Key = tuple[str, int, str]
"""(assignment, replica, metric name)."""


class BadReport(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True)
class Report:
    replica: int
    values: Mapping[str, float]


def wanted_metrics(obj: Object) -> list[str]:
    """The metric names of ``spec.metrics``: each once, at most ``MAX_NAMES``, only
    those the hub would take back in a status (it checked them, but an odd one must
    not get every metric of the assignment refused)."""
    names = (obj.get("spec") or {}).get("metrics")
    if not isinstance(names, list):
        return []
    good = (n for n in names if isinstance(n, str) and NAME.fullmatch(n))
    return list(dict.fromkeys(good))[:MAX_NAMES]


def read_report(body: bytes, wanted: Collection[str], replicas: int) -> Report:
    """The report a POST's body holds; BadReport naming the field at fault."""
    document = _json(body)
    if unknown := sorted(set(document) - FIELDS):
        raise BadReport(unknown[0], "not a field of a report: send replica and metrics")
    replica = _replica(document.get("replica"), replicas)
    values = document.get("metrics")
    if not isinstance(values, dict) or not values:
        raise BadReport("metrics", 'send an object of names and numbers: {"rps": 12.5}')
    if len(values) > MAX_NAMES:
        raise BadReport("metrics", f"{len(values)} names: report at most {MAX_NAMES} at once")
    return Report(replica, {name: _value(name, v, wanted) for name, v in values.items()})


def _json(body: bytes) -> dict[str, Any]:
    try:
        document = json.loads(body, parse_constant=_no_constant)
    except (ValueError, RecursionError) as e:
        raise BadReport("body", f"not JSON ({str(e)[:200]}): send a JSON object") from e
    if not isinstance(document, dict):
        raise BadReport("body", 'send a JSON object: {"replica": 0, "metrics": {...}}')
    return document


def _no_constant(word: str) -> Any:
    raise ValueError(f"{word} is not a finite number")


def _replica(value: Any, replicas: int) -> int:
    if value is None:
        if replicas != 1:
            raise BadReport(
                "replica", f"the assignment runs {replicas} replicas: send $EDGEPLANE_REPLICA"
            )
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadReport("replica", "send the replica's number ($EDGEPLANE_REPLICA), e.g. 0")
    if not 0 <= value < replicas:
        raise BadReport(
            "replica",
            f"{value} is not a replica at this site (0 to {replicas - 1}): send $EDGEPLANE_REPLICA",
        )
    return value


def _value(name: str, value: Any, wanted: Collection[str]) -> float:
    field = f"metrics.{name[:80]}"
    if not NAME.fullmatch(name) or name == CPU or name not in wanted:
        allowed = ", ".join(n for n in wanted if n != CPU) or "none"
        raise BadReport(
            field,
            f"not a metric this assignment reports (its spec.metrics: {allowed}); the "
            "agent measures cpu itself",
        )
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadReport(field, f"{str(value)[:40]!r} is not a number")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise BadReport(field, "not a finite number")
    return number


class ReportedMetrics:
    """The latest value of each (assignment, replica, name), with when it came."""

    def __init__(
        self,
        instances: Callable[[], Collection[str]] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``instances``: the instance keys the site runs (the runtime's); a replica
        not among them is refused. None: any replica below ``spec.replicas``."""
        self._instances, self._clock = instances, clock
        self._values: dict[tuple[str, int], dict[str, tuple[float, float]]] = {}

    def take(self, assignment: str, obj: Object, publish: Publish) -> Answer:
        """Keep what a workload of ``assignment`` (``obj``) reports in ``publish``."""
        if publish.method != "POST":
            return refusal(405, "MethodNotAllowed", f"report metrics with POST {METRICS_PATH}")
        if len(publish.body) > MAX_BODY_BYTES:
            return refusal(413, "TooLarge", f"a report is at most {MAX_BODY_BYTES} bytes")
        try:
            report = read_report(publish.body, wanted_metrics(obj), replicas_of(obj))
            self._check_runs(assignment, report.replica)
        except BadReport as e:
            return Answer(400, {"reason": "BadMetrics", "message": str(e), "field": e.field})
        now = self._clock()
        held = self._values.setdefault((assignment, report.replica), {})
        held.update({name: (value, now) for name, value in report.values.items()})
        return Answer(204, {})

    def _check_runs(self, assignment: str, replica: int) -> None:
        if self._instances is None or instance_key(assignment, replica) in self._instances():
            return
        raise BadReport("replica", f"replica {replica} does not run at this site (yet)")

    def fresh(self, assignment: str, replica: int, since: float) -> dict[str, float]:
        """The values of one replica that came at ``since`` (monotonic) or later."""
        held = self._values.get((assignment, replica), {})
        return {name: value for name, (value, at) in held.items() if at >= since}

    def prune(self, keep: Callable[[str, int, str], bool]) -> None:
        """Forget every value ``keep(assignment, replica, name)`` refuses."""
        for (assignment, replica), held in list(self._values.items()):
            for name in [n for n in held if not keep(assignment, replica, n)]:
                del held[name]
            if not held:
                del self._values[(assignment, replica)]

    def __len__(self) -> int:
        return sum(len(held) for held in self._values.values())
