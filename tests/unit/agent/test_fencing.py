"""The agent's lease and self-fencing (``agent.fencing``) on an injected monotonic clock:
the lease is renewed from when a heartbeat was sent and fences before it ends; the fence
lifts only after a renewal AND a relist begun after it; a restart keeps the flag (and a
lease that still runs in the same boot); the reconciler stops Strict assignments alone
while fenced; the sync lists again when asked and says when that list began; the
reporter renews only on an Online answer and adopts the hub's terms."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from edgeplane.agent.fencing import FENCED_KEY, Fence, Terms, is_strict, terms_in
from edgeplane.agent.hublink import HubLink
from edgeplane.agent.inventory import Capacity
from edgeplane.agent.reconciler import Reconciler
from edgeplane.agent.reporter import StatusReporter
from edgeplane.agent.runtimes import Phase
from edgeplane.agent.runtimes.fake import FakeRuntime
from edgeplane.agent.state import LocalState
from edgeplane.agent.sync import AssignmentSync
from edgeplane.api.wire import Object

API = "/api/v1alpha1"


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Made:
    """A fence over a state file (holding one Strict assignment unless ``strict`` is
    False), with its clock, wake event and relists asked."""

    def __init__(
        self, tmp_path: Path, boot: str = "boot-1", now: float = 1000.0, strict: bool = True
    ) -> None:
        self.path, self.clock, self.wake = tmp_path / "state.db", Clock(now), asyncio.Event()
        self.state = LocalState(self.path)
        if strict:
            self.state.replace_assignments([assignment("single", "Strict")], "1")
        self.relists = 0
        self.fence = Fence(self.state, self.wake, self.ask, self.clock, boot)

    def ask(self) -> None:
        self.relists += 1

    def restarted(self, boot: str = "boot-1") -> Fence:
        self.state.close()
        self.state = LocalState(self.path)
        return Fence(self.state, asyncio.Event(), self.ask, self.clock, boot)

    def unfenced(self) -> Fence:
        """Renewed at now (a 30 s lease) and listed just after: not fenced."""
        self.fence.renewed(self.clock.now, 30.0)
        self.fence.listed(self.clock.now)
        assert not self.fence.fenced
        return self.fence


LEASES = {
    "a 30 s lease fences 2 s early": (100.0, 30.0, 128.0),
    "a 6 s lease fences 2 s early": (100.0, 6.0, 104.0),
    "a 3 s lease fences a third early": (100.0, 3.0, 102.0),
}


@pytest.mark.parametrize(("sent", "lease", "fences"), LEASES.values(), ids=LEASES.keys())
async def test_a_renewal_holds_from_when_it_was_sent(
    tmp_path: Path, sent: float, lease: float, fences: float
) -> None:
    made = Made(tmp_path)
    fence = made.unfenced()
    fence.renewed(sent, lease)  # older than the lease held: it does not shorten it
    assert fence.fence_at() == 1028.0
    made.clock.now = sent
    fence = made.restarted(boot="another-boot")
    assert fence.fence_at() is None and fence.expired(sent)
    fence.renewed(sent, lease)
    assert fence.fence_at() == fences
    assert not fence.expired(fences - 0.001)
    assert fence.expired(fences)


async def test_a_fresh_agent_is_fenced_without_a_lease(tmp_path: Path) -> None:
    made = Made(tmp_path)
    assert made.fence.fenced and made.fence.fence_at() is None
    assert made.state.meta(FENCED_KEY) == "1"
    assert made.fence.check() is None, "nothing to wait for: fenced already"


async def test_the_lease_ending_fences_and_wakes_the_reconciler(tmp_path: Path) -> None:
    made = Made(tmp_path)
    fence = made.unfenced()
    made.wake.clear()
    made.clock.now = 1027.0
    assert fence.check() == 1.0
    assert not fence.fenced and not made.wake.is_set()
    made.clock.now = 1028.0
    assert fence.check() is None
    assert fence.fenced and made.wake.is_set()
    assert made.state.meta(FENCED_KEY) == "1"


# Each step: ("renew", sent) a heartbeat sent then answered Online (a 30 s lease), heard
# at the clock's time; ("list", began) a relist begun then is complete; ("at", t) the
# clock reads t.
UNFENCING = {
    "renewal, then a relist begun after it": ([("renew", 1000), ("list", 1000)], False),
    "a relist begun before the renewal": ([("at", 1001), ("renew", 1001), ("list", 1000)], True),
    "a relist alone": ([("list", 1000)], True),
    "a renewal alone": ([("renew", 1000)], True),
    "the lease ended before the relist was done": (
        [("renew", 1000), ("at", 1030), ("list", 1001)],
        True,
    ),
    "a later renewal and a relist after it": (
        [("renew", 1000), ("at", 1030), ("list", 1001), ("renew", 1030), ("list", 1030)],
        False,
    ),
}


@pytest.mark.parametrize(("steps", "fenced"), UNFENCING.values(), ids=UNFENCING.keys())
async def test_unfencing_takes_a_renewal_and_a_relist_begun_after_it(
    tmp_path: Path, steps: list[tuple[str, float]], fenced: bool
) -> None:
    made = Made(tmp_path)
    for step, at in steps:
        if step == "renew":
            made.fence.renewed(at, 30.0)
        elif step == "list":
            made.fence.listed(at)
        else:
            made.clock.now = at
    assert made.fence.fenced is fenced
    assert made.state.meta(FENCED_KEY) == ("1" if fenced else "0")


async def test_one_relist_is_asked_at_a_time_while_fenced(tmp_path: Path) -> None:
    made = Made(tmp_path)
    for sent in (1000.0, 1001.0, 1002.0):
        made.fence.renewed(sent, 30.0)
    assert made.relists == 1, "a relist in flight is not begun again by each heartbeat"
    made.clock.now = 1040.0  # the lease ended while listing
    made.fence.listed(1000.0)
    assert made.fence.fenced
    made.fence.renewed(1040.0, 30.0)
    assert made.relists == 2
    made.fence.listed(1040.0)
    assert not made.fence.fenced
    made.fence.renewed(1041.0, 30.0)
    assert made.relists == 2, "no relist while not fenced"


async def test_a_site_without_strict_assignments_lists_only_when_it_must(
    tmp_path: Path,
) -> None:
    """No relist at the renewal; any list begun after it lifts the fence; a Strict
    assignment that arrives while fenced has the reconciler's pass ask for one."""
    made = Made(tmp_path, strict=False)
    made.fence.renewed(1000.0, 30.0)
    assert made.fence.closed() and made.relists == 0
    made.state.replace_assignments([assignment("single", "Strict")], "2")
    assert made.fence.closed() and made.relists == 1
    assert made.fence.closed() and made.relists == 1, "asked once while it runs"
    made.fence.listed(1000.0)
    assert not made.fence.closed()

    other = Made(tmp_path / "other", strict=False)
    other.fence.renewed(1000.0, 30.0)
    other.fence.listed(1000.0)  # a list for its own reasons (a compacted version)
    assert not other.fence.fenced and other.relists == 0


RESTARTS = {
    "fenced stays fenced": ("fenced", "boot-1", 0.0, True),
    "unfenced within its lease stays unfenced": ("unfenced", "boot-1", 10.0, False),
    "unfenced past its lease is fenced": ("unfenced", "boot-1", 28.0, True),
    "unfenced after a reboot is fenced": ("unfenced", "boot-2", 1.0, True),
}


@pytest.mark.parametrize(
    ("before", "boot", "later", "fenced"), RESTARTS.values(), ids=RESTARTS.keys()
)
async def test_a_restart_keeps_the_flag_and_a_lease_that_still_runs(
    tmp_path: Path, before: str, boot: str, later: float, fenced: bool
) -> None:
    made = Made(tmp_path)
    if before == "unfenced":
        made.unfenced()
    made.clock.now += later
    again = made.restarted(boot)
    assert again.fenced is fenced
    assert made.state.meta(FENCED_KEY) == ("1" if fenced else "0")


async def test_the_fence_task_fences_when_the_lease_ends(tmp_path: Path) -> None:
    """``run`` on the real monotonic clock: a 3 s lease fences within it."""
    state, wake = LocalState(tmp_path / "state.db"), asyncio.Event()
    fence = Fence(state, wake, lambda: None, boot="boot-1")
    fence.renewed(time.monotonic(), 3.0)
    fence.listed(time.monotonic())
    assert not fence.fenced
    task = asyncio.create_task(fence.run())
    try:
        await until(lambda: fence.fenced, "the lease to end and the fence to close")
    finally:
        task.cancel()
    assert wake.is_set()


async def until(check: Any, what: str) -> None:
    """Poll ``check`` on the loop with a deadline."""
    async with asyncio.timeout(30):
        while not check():  # noqa: ASYNC110 (what is polled has no event to wait for)
            await asyncio.sleep(0.05)
    assert check(), what


def assignment(name: str, fencing: str | None) -> Object:
    spec: dict[str, Any] = {
        "site": "s",
        "application": name,
        "workload": {"process": {"command": "true"}},
        "epoch": 7,
    }
    if fencing is not None:
        spec["fencing"] = fencing
    return {"metadata": {"name": name, "uid": name, "resourceVersion": "1"}, "spec": spec}


STRICTNESS = {"Strict": True, "None": False, "absent": False}


@pytest.mark.parametrize("fencing", STRICTNESS, ids=STRICTNESS.keys())
def test_only_strict_assignments_are_fenced(fencing: str) -> None:
    assert (
        is_strict(assignment("a", None if fencing == "absent" else fencing))
        is (STRICTNESS[fencing])
    )


async def test_a_fenced_site_stops_strict_assignments_alone(tmp_path: Path) -> None:
    runtime, fenced = FakeRuntime(), [False]
    state = LocalState(tmp_path / "state.db")
    rec = Reconciler(
        state,
        runtime,
        no_artifacts,
        Capacity.of("1", "1Gi"),
        asyncio.Event(),
        asyncio.Event(),
        fenced=lambda: fenced[0],
    )
    names = ("single", "free", "plain")
    items = [assignment(n, f) for n, f in zip(names, ("Strict", "None", None), strict=True)]
    state.replace_assignments(items, "1")
    await rec.reconcile()
    assert runtime.keys() == set(names)
    assert runtime.specs["single"].workload["env"]["EDGEPLANE_EPOCH"] == "7"

    fenced[0] = True
    await rec.reconcile()
    assert runtime.keys() == {"free", "plain"}
    problem = rec.problems["single"]
    assert (problem.phase, problem.reason) == (Phase.PENDING, "Fenced")
    assert "lease" in problem.message

    fenced[0] = False
    await rec.reconcile()
    assert runtime.keys() == set(names)
    assert rec.problems == {}


async def no_artifacts(*_: Any) -> Path:
    raise AssertionError("no assignment here names an artifact")


class ListingHub:
    """Lists (counting) and watches: each watch says one bookmark and stays open."""

    def __init__(self) -> None:
        self.lists = 0

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        if "watch" not in request.url.params:
            self.lists += 1
            rv = str(10 + self.lists)
            return httpx.Response(200, json={"items": [], "metadata": {"resourceVersion": rv}})
        return httpx.Response(200, content=self._stream())

    async def _stream(self) -> AsyncIterator[bytes]:
        rv = str(10 + self.lists)  # where the last list left it
        bookmark = {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": rv}}}
        yield json.dumps(bookmark).encode() + b"\n"
        await asyncio.Event().wait()  # open until the agent lets go


async def test_the_sync_lists_again_when_asked_and_says_when_that_list_began(
    tmp_path: Path,
) -> None:
    hub = ListingHub()
    link = HubLink("http://hub", "t", transport=httpx.MockTransport(hub))
    state, listed = LocalState(tmp_path / "state.db"), list[float]()
    sync = AssignmentSync(link, state, "s", asyncio.Event(), on_listed=listed.append)
    task = asyncio.create_task(sync.run())
    try:
        await until(lambda: len(listed) == 1 and state.resource_version() == "11", "a list")
        asked = time.monotonic()
        sync.request_relist()
        await until(lambda: len(listed) == 2, "a second list, as asked")
    finally:
        task.cancel()
        await asyncio.wait([task])
        await link.close()
    assert hub.lists == 2
    assert listed[1] >= asked
    assert state.resource_version() == "12"


class TermsHub:
    """Answers heartbeats with ``phase`` and 2 s terms (204 once they are held)."""

    def __init__(self, phase: str) -> None:
        self.phase, self.queries = phase, list[dict[str, str]]()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        held = dict(request.url.params)
        self.queries.append(held)
        if self.phase == "Online" and held == {"heartbeatSeconds": "2.0", "leaseSeconds": "6.0"}:
            return httpx.Response(204)
        terms = {"heartbeatSeconds": 2.0, "leaseSeconds": 6.0}
        return httpx.Response(200, json={"phase": self.phase, "rotation": None, **terms})


ANSWERS = {"Online renews": ("Online", True), "Offline does not": ("Offline", False)}


@pytest.mark.parametrize(("phase", "renews"), ANSWERS.values(), ids=ANSWERS.keys())
async def test_heartbeats_adopt_the_terms_and_renew_on_online_alone(
    tmp_path: Path, phase: str, renews: bool
) -> None:
    hub, made = TermsHub(phase), Made(tmp_path)
    link = HubLink("http://hub", "t", transport=httpx.MockTransport(hub))
    rec = Reconciler(
        made.state, FakeRuntime(), no_artifacts, Capacity.of("1", "1Gi"), made.wake, made.wake
    )
    reporter = StatusReporter(
        link,
        made.state,
        "s",
        FakeRuntime(),
        rec,
        dict,
        "h",
        asyncio.Event(),
        10.0,
        "v2",
        made.fence,
    )
    assert reporter.period == 10.0, "--heartbeat-seconds until the hub says"
    await reporter.heartbeat()
    await reporter.heartbeat()
    await link.close()
    assert hub.queries[0] == {}, "nothing held before the hub said"
    assert hub.queries[1] == {"heartbeatSeconds": "2.0", "leaseSeconds": "6.0"}
    assert reporter.terms == Terms(2.0, 6.0) and reporter.period == 2.0
    assert (made.fence.fence_at() is not None) is renews
    assert (made.relists == 1) is renews


TERMS = {
    "read": ({"heartbeatSeconds": 5, "leaseSeconds": 15.0}, Terms(5, 15.0)),
    "absent: held": ({"phase": "Online"}, Terms(10.0, 30.0)),
    "not numbers: held": ({"heartbeatSeconds": "5", "leaseSeconds": True}, Terms(10.0, 30.0)),
    "not positive: held": ({"heartbeatSeconds": 0, "leaseSeconds": 3.0}, Terms(10.0, 30.0)),
}


@pytest.mark.parametrize(("answer", "terms"), TERMS.values(), ids=TERMS.keys())
def test_terms_in_an_answer(answer: dict[str, Any], terms: Terms) -> None:
    assert terms_in(answer, Terms(10.0, 30.0)) == terms


PERIODS = {"within": (2.0, 2.0), "too short": (0.01, 0.5), "too long": (1e6, 300.0)}


@pytest.mark.parametrize(("said", "period"), PERIODS.values(), ids=PERIODS.keys())
def test_the_period_adopted_is_bounded(said: float, period: float) -> None:
    assert Terms(said, 30.0).period == period
