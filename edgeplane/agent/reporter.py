"""Telling the hub how the site and its workloads are: compact status and heartbeats.

Each status is compared with what the hub already holds (kept in local state) and
only the fields that changed are sent, as a merge patch. A heartbeat is a POST without a
body to the hub's heartbeat route (``--hub-protocol v2``, the default), which renews the
site's lease and answers the phase the hub holds, any credential rotation and the
site's terms (its heartbeat period, adopted, and its lease); with v1, or a hub without
the route, it is one field of the Site's status (``lastHeartbeat``). A heartbeat
answered Online renews the agent's own lease (``agent.fencing``).
An assignment of several replicas reports one status summed over its instances; a
Kubernetes assignment is one instance that counts its ready pods itself. A rollout's
gate adds its ``Gate`` condition (``agent.gates``), and an autoscaled assignment its
``metrics`` as last sampled (``agent.metering``): sent when they changed, removed when
it has none.
When the hub is unreachable nothing is lost: the next pass sends the difference
between what the hub holds and what is true by then.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from edgeplane import __version__
from edgeplane.agent.backoff import Backoff
from edgeplane.agent.errors import HubRefused, HubUnreachable
from edgeplane.agent.fencing import Fence, Terms, lease_for, terms_in
from edgeplane.agent.gates import GateProber
from edgeplane.agent.hublink import HubLink, no_heartbeat_route
from edgeplane.agent.kinds import is_kubernetes
from edgeplane.agent.reconciler import Problem, Reconciler
from edgeplane.agent.replicas import by_assignment, replicas_of
from edgeplane.agent.runtimes import InstanceStatus, Phase, Runtime
from edgeplane.agent.state import LocalState
from edgeplane.api.wire import Object

log = logging.getLogger("edgeplane.agent.reporter")
RESEND_SECONDS = 5.0
LEAN_RETRY_SECONDS = 600.0
"""How long a hub without the heartbeat route gets status writes as heartbeats before
the route is tried again (the hub may have been upgraded meanwhile)."""
HEARTBEATS_IN_FLIGHT = 3
"""Heartbeats on their way at once: one held up by a lost packet and the next two
sent on time beside it."""
MESSAGE_MAX_CHARS = 32 * 1024
ENDPOINTS_MAX = 256
"""The hub's bounds on an assignment's status (``edgeplane.api.meta`` and
``api.assignments``, which the agent does not import): a status over them is refused
(422), so the agent keeps within them. A message quotes what the workload was given (a
20,000-character command) and replicas times ports can pass 256 endpoints."""
CUT = " [cut]"
REFUSED_ALONE = frozenset({400, 413, 422})
"""Answers that refuse one status for what it holds: the next is sent all the same
(a 401, 429 or 5xx is about every request, and ends the pass)."""


def rfc3339(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def merge_diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """The merge patch that turns ``old`` into ``new`` (top level; null removes)."""
    patch = {k: v for k, v in new.items() if old.get(k) != v}
    patch.update({k: None for k in old if k not in new})
    return patch


def assignment_status(
    obj: Object, instance: InstanceStatus | None, problem: Problem | None, address: str
) -> dict[str, Any]:
    """The status of a one-replica assignment (``replicas_status`` of one instance)."""
    return replicas_status(obj, [instance], problem, address)


def replicas_status(
    obj: Object,
    instances: Sequence[InstanceStatus | None],
    problem: Problem | None,
    address: str,
) -> dict[str, Any]:
    """The status of an assignment from its instances (one per replica, by index; None
    for one not started): ``ready`` and ``restarts`` summed, ``Running`` only when every
    replica runs, else the worst replica's phase and why, ``startedAt`` of replica 0,
    and the endpoints of every replica at this generation, replica 0's first."""
    generation = int(obj["metadata"].get("generation") or 1)
    views = [_replica_view(s, generation, address) for s in instances]
    if problem is not None:
        status: dict[str, Any] = {
            "phase": problem.phase.value,
            "reason": problem.reason,
            "message": problem.message,
        }
    elif not views:
        status = {"phase": Phase.RUNNING.value, "reason": "ScaledToZero", "message": ZERO}
    else:
        status = _summary(views)
    status["ready"] = sum(v.get("ready", 0) for v in views)
    status["endpoints"] = [e for v in views for e in v.get("endpoints", [])] or None
    status["observedGeneration"] = generation
    if held := [s for s in instances if s is not None]:
        status["restarts"] = sum(s.restarts for s in held)
    return _within_limits({k: v for k, v in status.items() if v is not None})


def _within_limits(status: dict[str, Any]) -> dict[str, Any]:
    message = status.get("message")
    if isinstance(message, str) and len(message) > MESSAGE_MAX_CHARS:
        status["message"] = message[: MESSAGE_MAX_CHARS - len(CUT)] + CUT
    if len(status.get("endpoints") or ()) > ENDPOINTS_MAX:
        status["endpoints"] = status["endpoints"][:ENDPOINTS_MAX]
    return status


ZERO = "spec.replicas is 0: nothing runs"
# Which replica speaks for the assignment when they differ: the worst first.
_SEVERITY = [
    Phase.FAILED,
    Phase.CRASH_LOOP,
    Phase.UNHEALTHY,
    Phase.PENDING,
    Phase.STARTING,
    Phase.SUCCEEDED,
    Phase.RUNNING,
]


def _summary(views: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Phase, reason and message of the worst replica; its message names it when
    there are several."""
    index, worst = min(
        enumerate(views),
        key=lambda iv: (_SEVERITY.index(Phase(iv[1]["phase"])), "reason" not in iv[1], iv[0]),
    )
    message = worst.get("message")
    if message and len(views) > 1:
        message = f"replica {index}: {message}"
    return {
        "phase": worst["phase"],
        "reason": worst.get("reason"),
        "message": message,
        "startedAt": views[0].get("startedAt"),
    }


def _replica_view(instance: InstanceStatus | None, generation: int, address: str) -> dict[str, Any]:
    """One replica's status fields; one of an older generation is still starting."""
    if instance is None or instance.generation != generation:
        return {"phase": Phase.PENDING.value, "reason": "Starting"}
    status: dict[str, Any] = {
        "phase": instance.phase.value,
        "ready": instance.ready_count
        if instance.ready_count is not None
        else (1 if instance.ready else 0),
        "reason": instance.reason,
        "message": instance.message,
        "startedAt": rfc3339(instance.started_at) if instance.started_at is not None else None,
        "endpoints": [
            {"name": e.name, "port": e.port, "url": f"http://{address}:{e.port}"}
            if e.name
            else {"port": e.port, "url": f"http://{address}:{e.port}"}
            for e in instance.endpoints
        ]
        or None,
    }
    return {k: v for k, v in status.items() if v is not None}


class StatusReporter:
    def __init__(
        self,
        link: HubLink,
        state: LocalState,
        site: str,
        runtime: Runtime,
        reconciler: Reconciler,
        site_facts: Callable[[], dict[str, Any]],
        address: str,
        changed: asyncio.Event,
        heartbeat_seconds: float = 10.0,
        hub_protocol: str = "v2",
        fence: Fence | None = None,
        gates: GateProber | None = None,
        metrics: Callable[[str], list[dict[str, Any]] | None] | None = None,
    ) -> None:
        self._link, self._state, self._site = link, state, site
        self._gates, self._metrics = gates, metrics
        self._runtime, self._reconciler, self._site_facts = runtime, reconciler, site_facts
        self._address, self._changed = address, changed
        self._heartbeat_seconds, self._fence = heartbeat_seconds, fence
        self.terms: Terms | None = None
        """What the hub said last of the period and the lease (None: nothing yet)."""
        # v2: the heartbeat route (no store write at the hub); v1, or a hub without the
        # route, the Site's status. An older hub is asked again now and then (upgraded).
        self._lean_from = 0.0 if hub_protocol == "v2" else float("inf")
        self._site_status: dict[str, Any] = {}
        self.sent_bytes = 0

    async def run_status(self) -> None:
        backoff = Backoff()
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(RESEND_SECONDS):
                    await self._changed.wait()
            self._changed.clear()
            try:
                await self.report()
                backoff.reset()
            except (HubUnreachable, HubRefused) as e:
                log.warning("status not sent: %s", e)
                await asyncio.sleep(backoff.next())
            except Exception:  # an answer of the wrong shape must not end the agent
                log.exception("status not sent")
                await asyncio.sleep(backoff.next())

    async def run_heartbeats(self) -> None:
        """A heartbeat every period on a fixed beat, each sent on time even while an
        earlier one is still on its way: on a lossy link one lost packet holds a request
        in TCP's retransmission backoff (a lost SYN is sent again after 1 s, then 3 s),
        and a heartbeat that waited for the one before it would turn that one packet
        into a silence of seconds, which the hub's failure detector reads as a lost
        site. At most ``HEARTBEATS_IN_FLIGHT`` at once (a hub that answers none gets no
        more); a beat missed while the loop was held up is not made up in a burst."""
        in_flight: set[asyncio.Task[None]] = set()
        due = time.monotonic()
        try:
            while True:
                if len(in_flight) < HEARTBEATS_IN_FLIGHT:
                    beat = asyncio.create_task(self._beat(), name="heartbeat")
                    in_flight.add(beat)
                    beat.add_done_callback(in_flight.discard)
                now = time.monotonic()
                due = max(due + self.period, now)
                await asyncio.sleep(due - now)
        finally:
            for beat in in_flight:
                beat.cancel()
            await asyncio.gather(*in_flight, return_exceptions=True)

    async def _beat(self) -> None:
        try:
            await self.heartbeat()
        except (HubUnreachable, HubRefused) as e:
            log.warning("heartbeat not sent: %s", e)
        except Exception:  # an answer of the wrong shape must not end the agent
            log.exception("heartbeat not sent")

    @property
    def period(self) -> float:
        """Seconds between heartbeats: the hub's word, else ``--heartbeat-seconds``."""
        return self.terms.period if self.terms is not None else self._heartbeat_seconds

    async def heartbeat(self) -> None:
        sent = time.monotonic()
        phase = await self._lean_heartbeat() if sent >= self._lean_from else None
        lease = lease_for(self.terms, self.period)
        if phase is None:
            site = await self._send_site({"lastHeartbeat": rfc3339(time.time())})
            phase, lease = (site.get("status") or {}).get("phase"), lease_for(None, self.period)
        if phase == "Online" and self._fence is not None:
            self._fence.renewed(sent, lease)  # any other phase: the hub holds us lost
        if phase != "Online" and not self._nodes_down():
            self._changed.set()  # the hub thinks we were away: say we are back

    async def _lean_heartbeat(self) -> str | None:
        """The hub's phase of this site after a heartbeat through its route; None when
        the hub has no such route (then status writes are heartbeats for a while)."""
        try:
            answer = await self._link.heartbeat(
                self._site, self.terms.query() if self.terms else None
            )
        except HubRefused as e:
            if not no_heartbeat_route(e):
                raise
            log.info("the hub has no heartbeat route (%s): heartbeats write the status", e)
            self._lean_from = time.monotonic() + LEAN_RETRY_SECONDS
            return None
        phase, self.terms = answer.get("phase"), terms_in(answer, self.terms)
        # What the hub holds now: the next report sends phase Online when it differs.
        self._site_status["phase"] = phase
        return phase if isinstance(phase, str) else ""

    def _nodes_down(self) -> bool:
        """Whether the hub holds this site Offline for what it reported itself: nodes,
        none Ready (a cluster or pool cut off). Saying Online again each heartbeat would
        only be refused each time, a store write per heartbeat."""
        inventory = self._site_status.get("inventory") or {}
        return bool(inventory.get("nodes")) and inventory.get("readyNodes") == 0

    async def report(self) -> None:
        """Send every status that differs from what the hub holds. One the hub refuses
        (a 422) is logged and skipped: it must not keep the others from being sent."""
        await self._report_site()
        held, problems = by_assignment(self._runtime.statuses()), self._reconciler.problems
        for name, obj in self._state.assignments().items():
            try:
                patch = self._patch(obj, held.get(name, {}), problems.get(name))
            except Exception as e:  # one it cannot read fails alone (the reconciler says)
                log.warning("status of %s not made: %r", name, e)
                continue
            if patch:
                await self._send_assignment(name, patch)

    def _patch(
        self, obj: Object, mine: Mapping[int, InstanceStatus], problem: Problem | None
    ) -> dict[str, Any]:
        try:
            # Never more than the site runs: 2^31-1 replicas must not build 2^31-1 views.
            count = min(replicas_of(obj), self._reconciler.capacity.instances)
            if is_kubernetes(obj):
                count = 1  # one instance, its cluster runs the replicas
        except (TypeError, ValueError, AttributeError):
            count = 0  # unreadable: its problem speaks for it
        instances = [mine.get(i) for i in range(count)]
        new = replicas_status(obj, instances, problem, self._address)
        if self._gates is not None and (gate := self._gates.condition_of(obj)) is not None:
            new["conditions"] = [dict(gate)]  # a rollout's gate (``agent.gates``)
        if self._metrics is not None and (values := self._metrics(obj["metadata"]["name"])):
            new["metrics"] = values  # for the hub's autoscaler (``agent.metering``)
        return merge_diff(obj.get("status") or {}, new)

    async def _report_site(self) -> None:
        new = {**self._site_facts(), "phase": "Online"}
        patch = merge_diff({k: self._site_status.get(k) for k in new}, new)
        if patch:
            await self._send_site(patch)

    async def _send_site(self, patch: dict[str, Any]) -> Object:
        site: Object = await self._link.patch_status("sites", self._site, patch)
        self.sent_bytes += len(str(patch))
        self._site_status = dict(site.get("status") or {})
        return site

    async def _send_assignment(self, name: str, patch: dict[str, Any]) -> None:
        try:
            answer = await self._link.patch_status("assignments", name, patch)
        except HubRefused as e:
            if e.status == 404:  # removed at the hub; the watch will say so too
                return
            if e.status in REFUSED_ALONE:
                log.warning("status of %s not sent, sending the others: %s", name, e)
                return
            raise
        self.sent_bytes += len(str(patch))
        self._state.set_status(name, answer.get("status") or {})


def site_facts(
    reconciler: Reconciler,
    runtime: Runtime,
    inventory: dict[str, Any],
    address: str,
    resources: tuple[dict[str, str], dict[str, str]] | None = None,
) -> dict[str, Any]:
    """The site status an agent reports besides its heartbeat. ``resources``: capacity
    and allocatable as a cluster's nodes give them (left out while unknown), instead of
    the host's and what the agent's admission left of it."""
    capacity, left = reconciler.capacity, reconciler.allocatable
    room = resources or (
        {"cpu": capacity.cpu, "memory": capacity.memory},
        {"cpu": f"{left.cpu_millis}m", "memory": f"{left.memory_bytes // 1024}Ki"},
    )
    statuses = runtime.statuses().values()
    running = [s for s in statuses if s.phase in (Phase.RUNNING, Phase.UNHEALTHY)]
    facts = {
        "agentVersion": __version__,
        "address": address,
        "inventory": inventory,
        "capacity": room[0] or None,
        "allocatable": room[1] or None,
        "workloads": {
            "assigned": len(reconciler.state_names()),
            "running": len(running),
            "ready": sum(1 for s in running if s.ready),
        },
    }
    return {k: v for k, v in facts.items() if v is not None}
