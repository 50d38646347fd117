"""One simulated site's workloads: what runs, what it costs, and the status it reports.

Nothing is started: an assignment the site can hold is ``Starting``, then ``Running``
after a random start delay; one that does not fit the site's CPU and memory stays
``Pending`` (InsufficientCapacity) until room frees; a running one may crash (a Poisson
process at ``crash_rate`` per minute): ``CrashLoopBackOff``, then ``Running`` again after
another start delay. A process workload whose environment sets ``EDGEPLANE_SIM_FAIL=1``
never runs: after its start delay it exits 1, as a broken release would, and is
``Failed`` (``restartPolicy: Never``) or ``CrashLoopBackOff`` with restarts climbing
(backing off 1 s doubling to 60 s). Set it in a new revision, or by an override at
chosen sites, to make that revision fail there. Timers are the event loop's
(``call_later``), no task per workload.
Each change calls ``changed(name)``; ``sim.fleet`` then sends the status difference.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from edgeplane.api.quantity import Quantity, cpu_millis, memory_bytes
from edgeplane.api.wire import Object

Fields = dict[str, Any]
"""A status, or a merge patch of one: JSON values by key (not a whole object)."""
MAX_WORKS = 10_000
"""Assignments one simulated site holds at most, whatever the hub sends."""
log = logging.getLogger("edgeplane.sim.workloads")
STATUS_KEYS = ("phase", "ready", "reason", "message", "restarts", "startedAt")
FAIL_ENV = "EDGEPLANE_SIM_FAIL"
"""A process workload with this set to ``1`` exits 1 at every start (a broken release)."""
BACKOFF_CAP = 60.0


def rfc3339(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def merge_diff(old: Fields, new: Fields) -> Fields:
    """The merge patch that turns ``old`` into ``new`` (top level; null removes)."""
    patch = {k: v for k, v in new.items() if old.get(k) != v}
    patch.update({k: None for k in old if k not in new})
    return patch


@dataclass(slots=True)
class Work:
    name: str
    generation: int
    replicas: int
    cpu: int
    """Millicores of all replicas."""
    memory: int
    """Bytes of all replicas."""
    status: Fields = field(default_factory=dict)
    sent: Fields = field(default_factory=dict)
    """What the hub holds of the keys the site reports."""
    admitted: bool = False
    fails: bool = False
    """Its environment sets ``EDGEPLANE_SIM_FAIL=1``: it exits 1 at every start."""
    restart_policy: str = "Always"
    timer: asyncio.TimerHandle | None = None

    def cancel(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


@dataclass(frozen=True)
class Behaviour:
    start_delay: tuple[float, float]
    crash_rate: float
    cpu_millis: int
    memory_bytes: int


def _needs(obj: Object) -> tuple[int, int, int]:
    """Replicas, millicores and bytes (all replicas) an assignment asks for."""
    spec = obj.get("spec") or {}
    replicas = int(spec.get("replicas", 1))
    resources = spec.get("resources") or {}
    cpu = cpu_millis(Quantity.parse(resources["cpu"])) if resources.get("cpu") else 0
    memory = memory_bytes(Quantity.parse(resources["memory"])) if resources.get("memory") else 0
    return replicas, cpu * replicas, memory * replicas


def _failing(obj: Object) -> tuple[bool, str]:
    """Whether the process workload sets ``EDGEPLANE_SIM_FAIL=1``, and its restart policy."""
    process = ((obj.get("spec") or {}).get("workload") or {}).get("process") or {}
    env = process.get("env")
    if isinstance(env, dict):
        value = env.get(FAIL_ENV)
    else:  # the list spelling: [{name, value}]
        named = [v for v in env or () if isinstance(v, dict) and v.get("name") == FAIL_ENV]
        value = named[-1].get("value") if named else None
    return value == "1", str(process.get("restartPolicy") or "Always")


class SiteWork:
    """The workloads of one site, by assignment name."""

    def __init__(self, behaviour: Behaviour, changed: Callable[[str], None]) -> None:
        self.behaviour, self._changed = behaviour, changed
        self.works: dict[str, Work] = {}
        self.cpu_free, self.memory_free = behaviour.cpu_millis, behaviour.memory_bytes

    def apply(self, kind: str, obj: Object) -> None:
        """One event of the site's assignments (ADDED, MODIFIED, DELETED)."""
        name = str(obj["metadata"]["name"])
        if kind == "DELETED":
            self.remove(name)
            return
        generation = int(obj["metadata"].get("generation") or 1)
        work = self.works.get(name)
        if work is not None and work.generation == generation:
            return  # our own status written back, or labels: nothing to run anew
        if work is None and len(self.works) >= MAX_WORKS:
            log.warning("%s not simulated: the site holds %d assignments already", name, MAX_WORKS)
            return
        held = {k: v for k, v in (obj.get("status") or {}).items() if k in STATUS_KEYS}
        if work is not None:
            held = work.sent
            self._release(work)
        self.works[name] = work = Work(name, generation, 0, 0, 0, sent=held)
        try:
            work.replicas, work.cpu, work.memory = _needs(obj)
            work.fails, work.restart_policy = _failing(obj)
        except (ValueError, TypeError, KeyError, ArithmeticError) as e:
            self._set(work, phase="Failed", reason="AgentError", message=f"unreadable: {e!r}")
            return
        self._admit(work)
        self._admit_waiting()

    def replace(self, items: list[Object]) -> None:
        """A fresh list: what is gone is removed, the rest applied as events."""
        names = {str(i["metadata"]["name"]) for i in items}
        for name in [n for n in self.works if n not in names]:
            self.remove(name)
        for item in items:
            self.apply("ADDED", item)

    def remove(self, name: str) -> None:
        work = self.works.pop(name, None)
        if work is not None:
            self._release(work)
            self._admit_waiting()

    def stop(self) -> None:
        for work in self.works.values():
            work.cancel()

    def counts(self) -> tuple[int, int]:
        """Assignments held, and how many of them are Running."""
        running = sum(1 for w in self.works.values() if w.status.get("phase") == "Running")
        return len(self.works), running

    def patch(self, name: str) -> Fields | None:
        """The status difference to send for ``name`` (None when the hub holds it)."""
        work = self.works.get(name)
        if work is None:
            return None
        new = {**work.status, "observedGeneration": work.generation}
        patch = merge_diff({k: work.sent.get(k) for k in new}, new)
        patch.update({k: None for k in work.sent if k not in new and k in STATUS_KEYS})
        return patch or None

    def sent(self, name: str, patch: Fields) -> None:
        if (work := self.works.get(name)) is not None:
            work.sent = {k: v for k, v in {**work.sent, **patch}.items() if v is not None}

    # -- the life of a workload ------------------------------------------------------
    def _admit(self, work: Work) -> None:
        if work.cpu > self.cpu_free or work.memory > self.memory_free:
            message = (
                f"needs {work.cpu}m CPU and {work.memory} bytes; the site has "
                f"{self.cpu_free}m and {self.memory_free} bytes left"
            )
            self._set(work, phase="Pending", reason="InsufficientCapacity", message=message)
            return
        work.admitted = True
        self.cpu_free -= work.cpu
        self.memory_free -= work.memory
        if work.replicas == 0:
            self._set(work, phase="Running", ready=0, reason="ScaledToZero")
            return
        self._set(work, phase="Starting", ready=0, restarts=work.status.get("restarts", 0))
        self._later(work, self._start_delay(), self._exit if work.fails else self._running)

    def _admit_waiting(self) -> None:
        for work in list(self.works.values()):
            if not work.admitted and work.status.get("reason") == "InsufficientCapacity":
                self._admit(work)

    def _release(self, work: Work) -> None:
        work.cancel()
        if work.admitted:
            work.admitted = False
            self.cpu_free += work.cpu
            self.memory_free += work.memory

    def _running(self, work: Work) -> None:
        restarts = work.status.get("restarts", 0)
        started = rfc3339(time.time())
        self._set(work, phase="Running", ready=work.replicas, restarts=restarts, startedAt=started)
        if self.behaviour.crash_rate > 0:
            self._later(work, random.expovariate(self.behaviour.crash_rate / 60), self._crash)

    def _crash(self, work: Work) -> None:
        restarts = work.status.get("restarts", 0) + 1
        message = "exit code 1 (a simulated crash)"
        self._set(
            work,
            phase="CrashLoopBackOff",
            ready=0,
            restarts=restarts,
            reason="BackOff",
            message=message,
        )
        self._later(work, self._start_delay(), self._running)

    def _exit(self, work: Work) -> None:
        """A start of a failing workload: it exits 1 (``EDGEPLANE_SIM_FAIL=1``)."""
        restarts, message = work.status.get("restarts", 0), f"exit code 1 ({FAIL_ENV}=1)"
        if work.restart_policy == "Never":  # OnFailure restarts an exit code 1, as Always
            self._set(
                work, phase="Failed", ready=0, restarts=restarts, reason="Error", message=message
            )
            return
        # The agent's backoff (1 s doubling to 60 s): a crash loop costs few status writes.
        delay = min(BACKOFF_CAP, 2.0 ** min(restarts, 6))
        message += f", restarting in {delay:g} s"
        self._set(
            work,
            phase="CrashLoopBackOff",
            ready=0,
            restarts=restarts + 1,
            reason="Error",
            message=message,
        )
        self._later(work, delay + self._start_delay(), self._exit)

    def _start_delay(self) -> float:
        return random.uniform(*self.behaviour.start_delay)

    def _later(self, work: Work, delay: float, then: Callable[[Work], None]) -> None:
        work.cancel()
        work.timer = asyncio.get_running_loop().call_later(delay, self._fire, work, then)

    def _fire(self, work: Work, then: Callable[[Work], None]) -> None:
        work.timer = None
        if self.works.get(work.name) is work:
            then(work)

    def _set(self, work: Work, **status: Any) -> None:
        if status == work.status:
            return  # still waiting for room, say: nothing new to send
        work.status = status
        self._changed(work.name)
