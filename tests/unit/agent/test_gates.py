"""Rollout gates at the site: how a gate is read, what one check says against a real
HTTP server on loopback, when the ``Gate`` condition turns (False only after three
failures in a row, True again on a pass), and that the reporter sends it.

The prober is driven by hand (``tick`` then ``settle``): no sleeps, no periods.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from edgeplane.agent.gates import (
    ANSWER_MAX_BYTES,
    FAILURES_TO_FAIL,
    TIMEOUT_MAX_SECONDS,
    TIMEOUT_SECONDS,
    GateFailed,
    GateProber,
    GateState,
    HttpGate,
    check,
    resolve_port,
)
from edgeplane.agent.inventory import Capacity
from edgeplane.agent.reconciler import Reconciler
from edgeplane.agent.reporter import StatusReporter
from edgeplane.agent.runtimes import Endpoint, InstanceStatus, Phase
from edgeplane.agent.runtimes.fake import FakeRuntime
from edgeplane.agent.state import LocalState
from edgeplane.api.wire import Object
from tests.support.waiting import wait_until_async


class Server:
    """A loopback HTTP server that answers ``answer`` (bytes, or None: never answers)
    and counts the connections it had."""

    def __init__(self) -> None:
        self.answer: bytes | None = b"HTTP/1.0 200 OK\r\n\r\nok"
        self.connections = 0
        self.port = 0
        self.open = 0
        self.most_open = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.open += 1
        self.most_open = max(self.most_open, self.open)
        try:
            await reader.readuntil(b"\r\n\r\n")
            if self.answer is None:
                await reader.read()  # until the check gives up and closes
            else:
                writer.write(self.answer)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the check went away first: what a bounded check does
        finally:
            self.open -= 1
            writer.close()


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    held = Server()
    listening = await asyncio.start_server(held.handle, "127.0.0.1", 0)
    held.port = int(listening.sockets[0].getsockname()[1])
    yield held
    listening.close()
    await listening.wait_closed()


def gated(
    name: str = "a",
    port: str | int = "http",
    revision: int = 1,
    generation: int = 1,
    kubernetes: bool = False,
    **http: Any,
) -> Object:
    workload: dict[str, Any] = (
        {"kubernetes": {"manifests": []}} if kubernetes else {"process": {"command": "x"}}
    )
    return {
        "metadata": {"name": name, "uid": "u1", "generation": generation},
        "spec": {
            "site": "s",
            "application": name,
            "revision": revision,
            "workload": workload,
            "gate": {"http": {"path": "/healthz", "port": port, "timeoutSeconds": 1, **http}},
        },
    }


def instance(key: str, port: int, ready: bool = True, generation: int = 1) -> InstanceStatus:
    phase = Phase.RUNNING if ready else Phase.STARTING
    return InstanceStatus(key, generation, phase, ready, endpoints=(Endpoint("http", port),))


def gate(**http: Any) -> HttpGate:
    obj = gated(**http)
    found = HttpGate.of(obj)
    assert found is not None
    return found


# ---- reading a gate ---------------------------------------------------------------

READ = [
    ("named-port", {}, HttpGate("/healthz", "http", 1.0)),
    ("number", {"port": 8080}, HttpGate("/healthz", 8080, 1.0)),
    ("no-timeout", {"timeoutSeconds": None}, HttpGate("/healthz", "http", TIMEOUT_SECONDS)),
    ("huge-timeout", {"timeoutSeconds": 10**9}, HttpGate("/healthz", "http", TIMEOUT_MAX_SECONDS)),
    ("no-path", {"path": None}, HttpGate("/", "http", 1.0)),
    ("path-with-space", {"path": "/a b"}, HttpGate("", "", TIMEOUT_SECONDS)),
    ("port-true", {"port": True}, HttpGate("", "", TIMEOUT_SECONDS)),
    ("port-too-big", {"port": 70000}, HttpGate("", "", TIMEOUT_SECONDS)),
]


@pytest.mark.parametrize(("change", "expected"), [r[1:] for r in READ], ids=[r[0] for r in READ])
def test_a_gate_is_read_with_defaults_and_an_unreadable_one_always_fails(
    change: dict[str, Any], expected: HttpGate
) -> None:
    found = HttpGate.of(gated(**change))
    assert found == expected
    assert found.readable is bool(expected.path)


@pytest.mark.parametrize(
    "obj",
    [gated(kubernetes=True), {"metadata": {"name": "a"}, "spec": {"workload": {"process": {}}}}],
    ids=["kubernetes-workload", "no-gate"],
)
def test_kubernetes_workloads_and_ungated_assignments_have_no_gate(obj: Object) -> None:
    assert HttpGate.of(obj) is None


# ---- one check ----------------------------------------------------------------------

ANSWERS = [
    ("200", b"HTTP/1.0 200 OK\r\n\r\nfine", None),
    ("204-no-reason", b"HTTP/1.1 204\r\n\r\n", None),
    ("302", b"HTTP/1.1 302 Found\r\nLocation: /\r\n\r\n", None),
    ("500", b"HTTP/1.1 500 Oops\r\n\r\n", "answered 500"),
    ("404", b"HTTP/1.1 404 Not Found\r\n\r\n", "answered 404"),
    ("not-http", b"SSH-2.0-OpenSSH\r\n", "not HTTP"),
    ("closed-at-once", b"", "not HTTP"),
    ("endless-first-line", b"HTTP/1.1 200 " + b"x" * (4 * ANSWER_MAX_BYTES), "not HTTP"),
    ("big-body", b"HTTP/1.1 200 OK\r\n\r\n" + b"x" * (1024 * 1024), None),
]


@pytest.mark.parametrize(
    ("answer", "failure"), [a[1:] for a in ANSWERS], ids=[a[0] for a in ANSWERS]
)
async def test_a_check_passes_on_2xx_and_3xx_and_fails_saying_why(
    server: Server, answer: bytes, failure: str | None
) -> None:
    server.answer = answer
    if failure is None:
        await check(gate(), server.port)
    else:
        with pytest.raises(GateFailed, match=failure):
            await check(gate(), server.port)


async def test_a_silent_server_fails_the_check_at_its_timeout(server: Server) -> None:
    server.answer = None
    with pytest.raises(GateFailed, match=r"no answer within 0\.2 s"):
        await check(gate(timeoutSeconds=0.2), server.port)


async def test_a_closed_port_fails_the_check() -> None:
    probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = int(probe.sockets[0].getsockname()[1])
    probe.close()
    await probe.wait_closed()
    with pytest.raises(GateFailed, match=f"GET /healthz on port {port}: "):
        await check(gate(), port)


PORTS = [
    ("by-name", "http", 8080),
    ("by-number", 8080, 8080),
]


@pytest.mark.parametrize(("ref", "port"), [p[1:] for p in PORTS], ids=[p[0] for p in PORTS])
def test_a_gate_port_is_one_of_the_instance_ports(ref: str | int, port: int) -> None:
    assert resolve_port(ref, instance("a", 8080)) == port


@pytest.mark.parametrize("ref", ["metrics", 22], ids=["other-name", "other-number"])
def test_a_gate_port_the_workload_does_not_have_is_refused_naming_the_fix(
    ref: str | int,
) -> None:
    with pytest.raises(GateFailed, match=r"not one of the workload's ports \(http\): name one"):
        resolve_port(ref, instance("a", 8080))


# ---- the condition ----------------------------------------------------------------

IDENTITY = ("u1", 1, HttpGate("/healthz", "http", 1.0))
RUNS = [
    ("pass", "P", "True"),
    ("one-failure-says-nothing", "F", None),
    ("two-failures-say-nothing", "FF", None),
    ("three-failures-fail", "FFF", "False"),
    ("a-pass-between-starts-over", "FFPFF", "True"),
    ("true-then-three-failures", "PFFF", "False"),
    ("false-then-a-pass", "FFFP", "True"),
]


@pytest.mark.parametrize(("run", "status"), [r[1:] for r in RUNS], ids=[r[0] for r in RUNS])
def test_the_gate_turns_false_only_after_three_failures_in_a_row(
    run: str, status: str | None
) -> None:
    state = GateState(IDENTITY)
    for at, outcome in enumerate(run):
        state = state.passed("ok", at) if outcome == "P" else state.failed("refused", at)
    assert (state.condition or {}).get("status") == status
    assert FAILURES_TO_FAIL == 3


def test_the_condition_stays_as_it_was_while_its_status_holds() -> None:
    state = GateState(IDENTITY)
    for at in range(FAILURES_TO_FAIL):
        state = state.failed("connection refused", at)
    first = state.condition
    state = state.failed("no answer within 1 s", 100)
    assert state.condition == first
    assert first == {
        "type": "Gate",
        "status": "False",
        "reason": "GateFailed",
        "message": "connection refused (3 checks in a row failed)",
        "lastTransitionTime": "1970-01-01T00:00:02Z",
    }


# ---- the prober ---------------------------------------------------------------------


class Site:
    """What a prober reads: the local assignments and the runtime's statuses."""

    def __init__(self, *objs: Object) -> None:
        self.assignments = {str(o["metadata"]["name"]): o for o in objs}
        self.statuses: dict[str, InstanceStatus] = {}
        self.changed = asyncio.Event()
        self.prober = GateProber(
            lambda: self.assignments, lambda: self.statuses, self.changed, period=0.05
        )

    async def rounds(self, n: int = 1) -> None:
        for _ in range(n):
            self.prober.tick()
            await self.prober.settle()

    def status(self, name: str = "a") -> str | None:
        condition = self.prober.condition_of(self.assignments[name])
        return None if condition is None else condition["status"]


async def test_a_ready_instance_passes_and_a_failing_one_turns_false(server: Server) -> None:
    site = Site(gated())
    site.statuses = {"a": instance("a", server.port)}
    await site.rounds()
    assert site.status() == "True" and site.changed.is_set()
    server.answer = b"HTTP/1.1 503 Busy\r\n\r\n"
    site.changed.clear()
    await site.rounds(FAILURES_TO_FAIL - 1)
    assert site.status() == "True" and not site.changed.is_set()
    await site.rounds()
    assert site.status() == "False" and site.changed.is_set()
    condition = site.prober.condition_of(site.assignments["a"])
    assert condition is not None and "answered 503" in condition["message"]


@pytest.mark.parametrize(
    "held",
    [
        {"a": InstanceStatus("a", 1, Phase.STARTING, False)},
        {"a": InstanceStatus("a", 0, Phase.RUNNING, True)},
        {},
    ],
    ids=["not-ready", "older-generation", "not-started"],
)
async def test_nothing_is_checked_before_an_instance_is_ready(
    server: Server, held: dict[str, InstanceStatus]
) -> None:
    site = Site(gated())
    site.statuses = held
    await site.rounds(FAILURES_TO_FAIL)
    assert server.connections == 0 and site.status() is None


async def test_kubernetes_assignments_are_not_checked_and_report_nothing(server: Server) -> None:
    site = Site(gated(kubernetes=True))
    site.statuses = {"a": instance("a", server.port)}
    await site.rounds()
    assert server.connections == 0 and site.status() is None


async def test_each_ready_replica_is_checked_and_a_failing_one_is_named(server: Server) -> None:
    site = Site(gated())
    site.statuses = {"a": instance("a", server.port), "a_1": instance("a_1", 1)}
    await site.rounds(FAILURES_TO_FAIL)
    condition = site.prober.condition_of(site.assignments["a"])
    assert condition is not None and condition["status"] == "False"
    assert condition["message"].startswith("replica 1: GET /healthz on port 1: ")
    assert server.connections == FAILURES_TO_FAIL


async def test_a_new_revision_starts_with_no_condition(server: Server) -> None:
    site = Site(gated())
    site.statuses = {"a": instance("a", server.port)}
    await site.rounds()
    assert site.status() == "True"
    site.assignments["a"] = gated(revision=2, generation=2)
    assert site.status() is None  # before any check of revision 2
    await site.rounds()  # its instance still runs generation 1: not checked yet
    assert site.status() is None
    site.statuses = {"a": instance("a", server.port, generation=2)}
    await site.rounds()
    assert site.status() == "True"


async def test_a_scale_up_of_the_same_revision_keeps_the_condition(server: Server) -> None:
    site = Site(gated())
    site.statuses = {"a": instance("a", server.port)}
    await site.rounds()
    site.assignments["a"] = gated(generation=2)
    assert site.status() == "True"


async def test_one_check_in_flight_per_assignment(server: Server) -> None:
    server.answer = None
    site = Site(gated(timeoutSeconds=0.3))
    site.statuses = {"a": instance("a", server.port)}
    for _ in range(5):
        site.prober.tick()
        await asyncio.sleep(0)  # let a started check connect
    await site.prober.settle()
    assert server.most_open == 1


async def test_an_assignment_that_goes_away_is_forgotten(server: Server) -> None:
    site = Site(gated(), gated("b"))
    site.statuses = {"a": instance("a", server.port), "b": instance("b", server.port)}
    await site.rounds()
    del site.assignments["b"]
    site.prober.tick()
    assert site.prober.condition_of(gated("b")) is None
    assert site.status() == "True"


async def test_the_run_loop_checks_until_it_is_cancelled(server: Server) -> None:
    site = Site(gated())
    site.statuses = {"a": instance("a", server.port)}
    task = asyncio.create_task(site.prober.run())
    try:
        await wait_until_async(lambda: server.connections >= 2, "two rounds of checks")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert site.status() == "True"


# ---- the reporter sends it ------------------------------------------------------------


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


async def test_the_reporter_sends_the_gate_condition_once_it_changes(
    tmp_path: Path, server: Server
) -> None:
    state = LocalState(tmp_path / "state.db")
    obj = gated()
    state.replace_assignments([obj], "1")
    site = Site(obj)
    site.statuses = {"a": instance("a", server.port)}
    runtime = FakeRuntime()
    rec = Reconciler(
        state,
        runtime,
        lambda *_: None,  # type: ignore[arg-type]
        Capacity.detect("1", "1Gi", 10),
        asyncio.Event(),
        asyncio.Event(),
    )
    link = Link()
    reporter = StatusReporter(
        link,  # type: ignore[arg-type]
        *(state, "s", runtime, rec, dict, "h", asyncio.Event()),
        gates=site.prober,
    )
    await reporter.report()
    assert "conditions" not in link.sent["a"]
    await site.rounds()
    link.sent.clear()
    await reporter.report()
    (condition,) = link.sent["a"]["conditions"]
    assert (condition["type"], condition["status"], condition["reason"]) == (
        "Gate",
        "True",
        "GatePassed",
    )
    link.sent.clear()
    await site.rounds()
    await reporter.report()
    assert "a" not in link.sent  # nothing changed: nothing sent
    state.close()
