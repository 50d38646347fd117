"""Rollout gates at the site: an HTTP check of each Ready instance of an assignment whose
``spec.gate.http`` asks for one, reported as the assignment's ``Gate`` condition.

The hub's rollout controller turns a ``Gate`` that is ``False`` into a failed site of
the wave, so this module decides when an instance is failing: after
``FAILURES_TO_FAIL`` checks in a row failed. One that passes makes it ``True`` again.
The condition belongs to one revision of one assignment (its uid, ``spec.revision`` and
the gate itself): a new revision starts with no condition until its instances are Ready
and checked. A scale-up or any other new generation of the same revision keeps it.

Bounded: one check in flight per assignment (its Ready replicas one after another), each
GET within the gate's timeout, at most ``ANSWER_MAX_BYTES`` of the answer read (the
status line; the body is never read beyond that). A check goes only to 127.0.0.1 and
only to the workload's own ports: by name, or by the number one of them has (as the
process runtime's health checks, ``runtimes.process.probes``).

Kubernetes workloads get no gate here: their pods have no port on the agent's loopback,
so their assignments carry no ``Gate`` condition (the pods' own readiness probes are
what their ``ready`` count says). A gate is not remembered across an agent restart:
until the first check after it the assignment reports no ``Gate`` condition.

Neighbours: ``reporter`` puts ``GateProber.condition_of`` into the status it sends;
``agent`` runs ``GateProber.run`` beside the other loops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from edgeplane.agent.kinds import is_kubernetes
from edgeplane.agent.replicas import by_assignment
from edgeplane.agent.runtimes import InstanceStatus
from edgeplane.api.confinement import probe_path_problem
from edgeplane.api.wire import Object

log = logging.getLogger("edgeplane.agent.gates")
PERIOD_SECONDS = 3.0
"""How often each gated assignment is checked."""
FAILURES_TO_FAIL = 3
"""Checks in a row that must fail before the gate says False: one slow answer is not
a failed rollout."""
ANSWER_MAX_BYTES = 1024
TIMEOUT_SECONDS = 2.0
"""``timeoutSeconds`` when the gate leaves it out."""
TIMEOUT_MAX_SECONDS = 60.0
MESSAGE_MAX_CHARS = 512
HOST = "127.0.0.1"
GATE, PASSED, FAILED = "Gate", "GatePassed", "GateFailed"

# ``HTTP/1.x NNN reason``: the code in ASCII digits, nothing but a line before its end.
_STATUS_LINE = re.compile(rb"HTTP/1\.[01] ([1-5][0-9]{2})(?: [\t\x20-\x7e\x80-\xff]*)?\r?\n")


class GateFailed(Exception):
    """One failed check; the message says why, for the condition."""


@dataclass(frozen=True)
class HttpGate:
    path: str
    port: str | int
    timeout: float

    @classmethod
    def of(cls, obj: Object) -> HttpGate | None:
        """The assignment's ``spec.gate.http``; None for none (or a kubernetes workload).
        One the agent cannot read is a gate that always fails, saying so."""
        spec = obj.get("spec") or {}
        http = (spec.get("gate") or {}).get("http")
        if not http or is_kubernetes(obj):
            return None
        path, port = http.get("path") or "/", http.get("port")
        valid = isinstance(path, str) and probe_path_problem(path) is None
        if not valid or not _is_port(port):
            return cls("", "", TIMEOUT_SECONDS)  # admission should have refused it
        return cls(path, port, _timeout(http.get("timeoutSeconds")))

    @property
    def readable(self) -> bool:
        return bool(self.path)

    def describe(self) -> str:
        return f"GET {self.path[:64]} on port {self.port}"


def _is_port(port: object) -> bool:
    if isinstance(port, bool):
        return False
    return (isinstance(port, int) and 0 < port < 65536) or (isinstance(port, str) and bool(port))


def _timeout(value: object) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        return TIMEOUT_SECONDS
    return min(float(value), TIMEOUT_MAX_SECONDS) if value > 0 else TIMEOUT_SECONDS


@dataclass(frozen=True)
class GateState:
    """What the checks of one revision of one assignment said so far."""

    identity: tuple[str, int, HttpGate]
    """uid, ``spec.revision`` and the gate: a change of any starts over."""
    failures: int = 0
    condition: Mapping[str, str] | None = None

    def passed(self, message: str, now: float) -> GateState:
        return replace(self, failures=0, condition=self._condition("True", message, now))

    def failed(self, message: str, now: float) -> GateState:
        failures = min(self.failures + 1, FAILURES_TO_FAIL)
        if failures < FAILURES_TO_FAIL:
            return replace(self, failures=failures)
        text = f"{message} ({FAILURES_TO_FAIL} checks in a row failed)"
        return replace(self, failures=failures, condition=self._condition("False", text, now))

    def _condition(self, status: str, message: str, now: float) -> Mapping[str, str]:
        """A new condition only when the status turns: another reason to fail while
        False (a refusal, then a timeout) is not news for the hub."""
        if self.condition is not None and self.condition["status"] == status:
            return self.condition
        return {
            "type": GATE,
            "status": status,
            "reason": PASSED if status == "True" else FAILED,
            "message": message[:MESSAGE_MAX_CHARS],
            "lastTransitionTime": _rfc3339(now),
        }


def _rfc3339(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def identity_of(obj: Object, gate: HttpGate) -> tuple[str, int, HttpGate]:
    meta, spec = obj.get("metadata") or {}, obj.get("spec") or {}
    return str(meta.get("uid") or ""), int(spec.get("revision") or 0), gate


def ready_instances(
    obj: Object, instances: Mapping[int, InstanceStatus]
) -> list[tuple[int, InstanceStatus]]:
    """The replicas Ready at the assignment's current generation, lowest first."""
    generation = int((obj.get("metadata") or {}).get("generation") or 1)
    return [
        (replica, status)
        for replica, status in sorted(instances.items())
        if status.ready and status.generation == generation
    ]


def resolve_port(ref: str | int, instance: InstanceStatus) -> int:
    """The port a gate names: one of the instance's own (by name, or a number it has)."""
    for endpoint in instance.endpoints:
        if endpoint.name == ref or (isinstance(ref, int) and endpoint.port == ref):
            return endpoint.port
    names = ", ".join(e.name or str(e.port) for e in instance.endpoints) or "none"
    raise GateFailed(
        f"gate port {str(ref)[:32]!r} is not one of the workload's ports ({names[:128]}): "
        "name one of spec.workload.process.ports in spec.rollout.gates.http.port"
    )


async def check(gate: HttpGate, port: int) -> None:
    """Raise ``GateFailed`` unless ``GET path`` on loopback ``port`` answers 2xx or 3xx
    within the gate's timeout. Nothing else escapes."""
    what = f"GET {gate.path[:64]} on port {port}"
    try:
        async with asyncio.timeout(gate.timeout):
            code = await _get(HOST, port, gate.path)
    except TimeoutError:
        raise GateFailed(f"{what}: no answer within {gate.timeout:g} s") from None
    except OSError as e:
        raise GateFailed(f"{what}: {e.strerror or e}") from e
    if code is None:
        raise GateFailed(f"{what}: the answer is not HTTP")
    if not 200 <= code < 400:
        raise GateFailed(f"{what} answered {code}")


async def _get(host: str, port: int, path: str) -> int | None:
    """The status code of the answer, None when it is not HTTP."""
    reader, writer = await asyncio.open_connection(host, port, limit=ANSWER_MAX_BYTES)
    try:
        request = f"GET {path} HTTP/1.0\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n"
        writer.write(request.encode("ascii"))
        await writer.drain()
        head = await _head(reader)
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    line = head.split(b"\n", 1)[0] + b"\n" if b"\n" in head else b""
    match = _STATUS_LINE.fullmatch(line)
    return int(match.group(1)) if match else None


async def _head(reader: asyncio.StreamReader) -> bytes:
    """At most ``ANSWER_MAX_BYTES`` of the answer, up to the end of its first line."""
    head = b""
    while b"\n" not in head and len(head) < ANSWER_MAX_BYTES:
        chunk = await reader.read(ANSWER_MAX_BYTES - len(head))
        if not chunk:
            break
        head += chunk
    return head


class GateProber:
    """Checks every gated assignment of the site in the background and keeps one
    ``GateState`` each; ``changed`` is set whenever a condition changes."""

    def __init__(
        self,
        assignments: Callable[[], Mapping[str, Object]],
        statuses: Callable[[], Mapping[str, InstanceStatus]],
        changed: asyncio.Event,
        period: float = PERIOD_SECONDS,
    ) -> None:
        self._assignments, self._statuses, self._changed = assignments, statuses, changed
        self.period = period
        self._states: dict[str, GateState] = {}
        self._inflight: dict[str, asyncio.Task[None]] = {}

    async def run(self) -> None:
        try:
            while True:
                try:
                    self.tick()
                except Exception:  # one bad pass must not end the checks
                    log.exception("gate checks not started; trying again")
                await asyncio.sleep(self.period)
        finally:
            await self.close()

    def tick(self) -> None:
        """Start a check of each gated assignment with Ready replicas and none in
        flight; forget what is no longer gated."""
        gated = self._gated()
        for name in self._states.keys() - gated.keys():
            self._forget(name)
        held = by_assignment(self._statuses())
        for name, (obj, gate) in gated.items():
            if name in self._inflight:
                continue
            targets = ready_instances(obj, held.get(name, {}))
            if targets:
                self._start(name, identity_of(obj, gate), targets)

    def condition_of(self, obj: Object) -> Mapping[str, str] | None:
        """The ``Gate`` condition of the assignment as it is now, if any."""
        name = (obj.get("metadata") or {}).get("name")
        state = self._states.get(name) if isinstance(name, str) else None
        gate = HttpGate.of(obj)
        if state is None or gate is None or state.identity != identity_of(obj, gate):
            return None
        return state.condition

    async def settle(self) -> None:
        """Wait for the checks in flight (tests; ``close``)."""
        if pending := list(self._inflight.values()):
            await asyncio.wait(pending)

    async def close(self) -> None:
        for task in list(self._inflight.values()):
            task.cancel()
        await self.settle()

    def _gated(self) -> dict[str, tuple[Object, HttpGate]]:
        gated: dict[str, tuple[Object, HttpGate]] = {}
        for name, obj in self._assignments().items():
            try:
                if (gate := HttpGate.of(obj)) is not None:
                    gated[name] = (obj, gate)
            except Exception as e:  # one the agent cannot read fails alone (the reconciler says)
                log.debug("%s: gate not read: %r", name, e)
        return gated

    def _forget(self, name: str) -> None:
        del self._states[name]
        if (task := self._inflight.pop(name, None)) is not None:
            task.cancel()

    def _start(
        self,
        name: str,
        identity: tuple[str, int, HttpGate],
        targets: list[tuple[int, InstanceStatus]],
    ) -> None:
        state = self._states.get(name)
        if state is None or state.identity != identity:
            state = self._states[name] = GateState(identity)
        task = asyncio.create_task(self._check(name, state, targets), name=f"gate of {name}")
        self._inflight[name] = task

        def done(_: asyncio.Task[None]) -> None:
            if self._inflight.get(name) is task:  # not the check of a newer revision
                del self._inflight[name]

        task.add_done_callback(done)

    async def _check(
        self, name: str, state: GateState, targets: list[tuple[int, InstanceStatus]]
    ) -> None:
        gate, error = state.identity[2], None
        for replica, instance in targets:
            try:
                if not gate.readable:
                    raise GateFailed("the agent cannot read spec.gate.http: path or port")
                await check(gate, resolve_port(gate.port, instance))
            except GateFailed as e:
                error = f"replica {replica}: {e}" if len(targets) > 1 else str(e)
                break
            except Exception as e:  # whatever the workload answers, a check only fails
                log.warning("%s: gate check of replica %d: %r", name, replica, e)
                error = f"replica {replica}: the check failed ({type(e).__name__})"
                break
        self._record(name, state, error)

    def _record(self, name: str, state: GateState, error: str | None) -> None:
        current = self._states.get(name)
        if current is None or current.identity != state.identity:
            return  # a new revision (or none) since the check began
        now = time.time()
        if error is None:
            message = f"{state.identity[2].describe()} answered on every Ready replica"
            new = current.passed(message, now)
        else:
            new = current.failed(error, now)
        self._states[name] = new
        if new.condition != current.condition:
            log.info("%s: gate %s", name, (new.condition or {}).get("message"))
            self._changed.set()
