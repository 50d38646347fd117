"""The site's side of autoscaling: every ``--metrics-seconds``, for each assignment it
holds whose ``spec.metrics`` names metrics, their averages over its ready instances
here, which the status reporter sends as ``status.metrics`` (the hub sums them up
across sites).

* ``cpu``: utilisation in percent of the cpu requested (``spec.resources.cpu`` per
  replica, or a pod's own requests), from the runtime's ``sample_cpu``. Without a
  request there is no value: said once in the log (the hub says it to the user).
* any other name: what the workloads report (``agent.metrics``); a value older than
  ``STALE_PERIODS`` periods is not used.

Each entry is ``{"name", "value", "samples"}``: the average over the instances that
had a value, and how many did; a metric none had is left out, and an assignment with
no entry has no ``status.metrics``. Bounded: only held assignments, only the names in
their ``spec.metrics``; with no assignment asking for cpu, ``/proc`` is not read.
Neighbours: ``agent.reporter`` (sends ``values``), ``agent.agent`` (runs it).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from edgeplane.agent.fitting import requests_of
from edgeplane.agent.kinds import is_kubernetes
from edgeplane.agent.metrics import CPU, ReportedMetrics, wanted_metrics
from edgeplane.agent.replicas import by_assignment
from edgeplane.agent.runtimes import CpuUse, InstanceStatus, Runtime
from edgeplane.api.wire import Object

log = logging.getLogger("edgeplane.agent.metering")
METRICS_SECONDS = 15.0
STALE_PERIODS = 3
"""A reported value older than this many periods is stale: its workload stopped
reporting (hung, or restarted and not reporting yet)."""
Entry = dict[str, Any]


def averaged(
    names: Sequence[str], cpu: Sequence[float], custom: Iterable[Mapping[str, float]]
) -> list[Entry]:
    """``status.metrics``, in the order of ``names``: ``cpu`` from the instances' cpu
    percentages, the others from the values each instance reported."""
    reports = list(custom)
    entries = []
    for name in names:
        values = cpu if name == CPU else [r[name] for r in reports if name in r]
        if (entry := _average(name, values)) is not None:
            entries.append(entry)
    return entries


def _average(name: str, values: Sequence[float]) -> Entry | None:
    if not values:
        return None
    mean = sum(v / len(values) for v in values)  # divided first: finite values stay so
    if not math.isfinite(mean):
        return None
    return {"name": name, "value": float(f"{mean:.6g}"), "samples": len(values)}


def cpu_percents(uses: Iterable[CpuUse], requested: float | None) -> tuple[list[float], bool]:
    """Each use in percent of its request (its own, else ``requested``), and whether
    some use had no request at all (and so no value)."""
    percents = [u.cores / r * 100 for u in uses if (r := u.requested or requested)]
    return percents, any(not (u.requested or requested) for u in uses)


def requested_cores(obj: Object) -> float | None:
    """``spec.resources.cpu`` in cores; None when unset, zero or unreadable."""
    try:
        millis = requests_of(obj).cpu_millis
    except (TypeError, ValueError, AttributeError):
        return None
    return millis / 1000 if millis > 0 else None


class Metering:
    def __init__(
        self,
        assignments: Callable[[], Mapping[str, Object]],
        runtime: Runtime,
        reported: ReportedMetrics,
        changed: asyncio.Event,
        period: float = METRICS_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._assignments, self._runtime, self._reported = assignments, runtime, reported
        self._changed, self.period, self._clock = changed, period, clock
        self.values: dict[str, list[Entry]] = {}
        """``status.metrics`` by assignment, as last sampled (none: no entry)."""
        self._unrequested: set[str] = set()
        """Assignments without a cpu request at the last sample (each logged once)."""

    def of(self, assignment: str) -> list[Entry] | None:
        return self.values.get(assignment)

    async def run(self) -> None:
        while True:
            try:
                await self.sample()
            except Exception:  # a runtime's odd answer must not end metering
                log.exception("metrics not sampled; trying again next period")
            await asyncio.sleep(self.period)

    async def sample(self) -> None:
        """Take every held assignment's metrics; wake the reporter when they changed."""
        objects = self._assignments()
        wanted = {n: names for n, o in objects.items() if (names := wanted_metrics(o))}
        statuses = by_assignment(self._runtime.statuses())
        unrequested: set[str] = set()
        uses = await self._sample_cpu(wanted, objects, statuses, unrequested)
        since = self._clock() - STALE_PERIODS * self.period
        values = {}
        for name, names in wanted.items():
            held = statuses.get(name, {})
            cpu: list[float] = []
            if CPU in names:
                measured = [u for s in held.values() for u in uses.get(s.key, ())]
                cpu, lacking = cpu_percents(measured, requested_cores(objects[name]))
                if lacking:
                    unrequested.add(name)
            # What a replica reported counts only while it is ready, as its cpu does.
            custom = [self._reported.fresh(name, r, since) for r, s in held.items() if s.ready]
            if entries := averaged(names, cpu, custom):
                values[name] = entries
        self._say_unrequested(unrequested)
        self._forget(wanted, statuses)
        if values != self.values:
            self.values = values
            self._changed.set()

    async def _sample_cpu(
        self,
        wanted: Mapping[str, Sequence[str]],
        objects: Mapping[str, Object],
        statuses: Mapping[str, Mapping[int, InstanceStatus]],
        unrequested: set[str],
    ) -> dict[str, tuple[CpuUse, ...]]:
        """The runtime's cpu of the instances whose assignment wants cpu and may have
        it: a process one without a request has none (and its /proc is not read)."""
        keys = []
        for name, names in wanted.items():
            if CPU not in names:
                continue
            if not is_kubernetes(objects[name]) and requested_cores(objects[name]) is None:
                unrequested.add(name)
                continue
            keys += [s.key for s in statuses.get(name, {}).values()]
        return await self._runtime.sample_cpu(keys)

    def _say_unrequested(self, names: set[str]) -> None:
        """Say once per assignment why it has no cpu value (again if it recurs)."""
        for name in sorted(names - self._unrequested):
            log.warning(
                "%s: no cpu metric: it requests no cpu (spec.resources.cpu, or its pods' "
                "requests), and cpu is measured in percent of the request: set resources.cpu",
                name,
            )
        self._unrequested = names

    def _forget(
        self,
        wanted: Mapping[str, Sequence[str]],
        statuses: Mapping[str, Mapping[int, InstanceStatus]],
    ) -> None:
        """Keep only what held assignments' held instances may use (bounded memory)."""
        self._reported.prune(lambda a, r, n: n in wanted.get(a, ()) and r in statuses.get(a, {}))
