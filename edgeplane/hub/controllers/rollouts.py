"""Rollouts as the placement controller carries them out: per application, the rollout
state from its ``status.rollout``, a ``begin`` when its template's revision is new, the
sites as the state machine sees them, and one ``edgeplane.rollout.step``.

What a pass takes from it (``Rollouts``): the revision each placed site runs (its
Assignment is rendered from that revision's template), each application's new
``status.rollout`` and its events, which applications' rollouts still move (their
Assignments' status changes wake a full pass: ``triggers``), and when to look again
(``wake_at``, as failover's ``next_at``).

The sites' side (``Places``): each site's SiteGroups (wave membership), whether it is
reachable (not Offline) and whether a maintenance window is open (its own windows and
those of every SiteGroup it matches), computed once per pass for every application.

Neighbours: ``placement`` calls it between planning and rendering; ``revisions`` keeps
the Revision objects; ``edgeplane.rollout`` is the pure machine.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from edgeplane.api.wire import Object
from edgeplane.hub.controllers.appstatus import ready_replicas
from edgeplane.hub.controllers.offloop import Worker
from edgeplane.hub.controllers.revisions import (
    RevisionBook,
    RevisionPlan,
    prune_revisions,
    unused,
    write_revisions,
)
from edgeplane.hub.controllers.writing import Writer
from edgeplane.placement.model import Decision
from edgeplane.placement.views import group_selectors
from edgeplane.rollout import (
    RolloutState,
    SiteView,
    Step,
    Strategy,
)
from edgeplane.rollout.machine import begin, step
from edgeplane.rollout.windows import window_state
from edgeplane.rollout.wire import controls_from_wire
from edgeplane.store.protocol import Store

log = logging.getLogger("edgeplane.hub.placement")

UNHEALTHY_PHASES = frozenset({"Failed", "CrashLoopBackOff", "Unhealthy"})
MAX_REASON = 200


@dataclass(frozen=True)
class Place:
    """One site as every rollout sees it in a pass."""

    groups: frozenset[str]
    reachable: bool
    window_open: bool
    opens_at: float | None


class Places:
    """Each site's SiteGroups (kept while neither its labels nor the groups change) and
    its maintenance windows' state now (computed once per distinct set of windows)."""

    def __init__(self) -> None:
        self._groups_key: object = None
        self._members: dict[str, tuple[object, frozenset[str]]] = {}

    def of(
        self, sites: Mapping[str, Object], groups: Sequence[Object], now: float
    ) -> dict[str, Place]:
        key = tuple((g["metadata"]["name"], g["metadata"].get("resourceVersion")) for g in groups)
        if key != self._groups_key:
            self._groups_key, self._members = key, {}
        selectors = group_selectors(groups)
        windows_of = {g["metadata"]["name"]: _windows(g) for g in groups}
        states: dict[str, tuple[bool, float | None]] = {}
        found, members = {}, {}
        for name, site in sites.items():
            labels = site["metadata"].get("labels") or {}
            seen = self._members.get(name)
            label_key = tuple(sorted(labels.items()))
            if seen is None or seen[0] != label_key:
                matched = frozenset(g for g, s in selectors.items() if s.matches(labels))
                seen = (label_key, matched)
            members[name] = seen
            windows = _windows(site) + [w for g in sorted(seen[1]) for w in windows_of[g]]
            is_open, opens_at = _state(windows, now, states)
            reachable = (site.get("status") or {}).get("phase") != "Offline"
            found[name] = Place(seen[1], reachable, is_open, opens_at)
        self._members = members
        return found


def _windows(obj: Object) -> list[Mapping[str, Any]]:
    return list((obj.get("spec") or {}).get("maintenanceWindows") or [])


def _state(
    windows: list[Mapping[str, Any]], now: float, memo: dict[str, tuple[bool, float | None]]
) -> tuple[bool, float | None]:
    """Whether some window is open now, and when the next opens (no window: open)."""
    if not windows:
        return True, None
    key = repr(windows)
    if key not in memo:
        memo[key] = window_state(windows, now)
    return memo[key]


def is_ready(assignment: Object) -> bool:
    """Ready at the revision it names: Running, every replica ready, and the agent has
    seen this very spec."""
    status = assignment.get("status") or {}
    replicas = assignment["spec"].get("replicas", 1)
    return (
        status.get("phase") == "Running"
        and status.get("observedGeneration") == assignment["metadata"].get("generation")
        and ready_replicas(assignment) >= replicas
    )


def failure_of(assignment: Object) -> str | None:
    """Why the assignment fails at the revision it names (its agent's word), else None;
    a status of an older spec says nothing of this one."""
    status = assignment.get("status") or {}
    if status.get("observedGeneration") != assignment["metadata"].get("generation"):
        return None
    phase, reason = status.get("phase"), status.get("reason")
    if phase in UNHEALTHY_PHASES or reason == "CrashLoopBackOff":
        why = status.get("message") or reason or ""
        return f"{phase}: {why}"[:MAX_REASON] if why else str(phase)
    for condition in status.get("conditions") or ():
        if condition.get("type") in ("Gate", "Unhealthy") and _failing(condition):
            return f"{condition['type']} gate: {condition.get('message') or ''}"[:MAX_REASON]
    return None


def _failing(condition: Mapping[str, Any]) -> bool:
    # A Gate is good when True; an Unhealthy condition is bad when True.
    bad = "False" if condition.get("type") == "Gate" else "True"
    return condition.get("status") == bad


def site_view(name: str, place: Place | None, assignment: Object | None) -> SiteView:
    """A placed site as the state machine sees it."""
    place = place or Place(frozenset(), False, True, None)
    status = (assignment or {}).get("status") or {}
    return SiteView(
        name=name,
        groups=place.groups,
        revision=None if assignment is None else int(assignment["spec"]["revision"]),
        ready=assignment is not None and is_ready(assignment),
        failure=None if assignment is None else failure_of(assignment),
        restarts=int(status.get("restarts") or 0),
        reachable=place.reachable,
        window_open=place.window_open,
        window_opens_at=place.opens_at,
    )


@dataclass
class Rollouts:
    """One pass's rollouts."""

    revisions: dict[str, Mapping[str, int]] = field(default_factory=dict)
    """application -> site -> the revision it runs."""
    statuses: dict[str, dict[str, Any]] = field(default_factory=dict)
    """application -> its ``status.rollout``."""
    events: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    moving: set[str] = field(default_factory=set)
    """Applications whose rollout is not settled."""
    targets: dict[str, int] = field(default_factory=dict)
    wake_at: float | None = None

    def later(self, at: float | None) -> None:
        if at is not None and (self.wake_at is None or at < self.wake_at):
            self.wake_at = at


def roll_all(
    apps: Iterable[Object],
    placed: Mapping[str, Sequence[str]],
    held: Mapping[str, Mapping[str, Object]],
    places: Mapping[str, Place],
    targets: Mapping[str, int],
    now: float | None = None,
) -> Rollouts:
    """Every application's step; ``placed``: the sites each is placed at, ``held``:
    its stored Assignments by site. One that fails is logged and left out (its
    Assignments stay as they are): it hurts only itself."""
    at = time.time() if now is None else now
    found = Rollouts(targets=dict(targets))
    for app in apps:
        name = app["metadata"]["name"]
        if name not in targets or name not in placed:
            continue
        try:
            done = roll(app, targets[name], placed[name], held.get(name, {}), places, at)
        except Exception:  # one application's fault must not stop the others' rollouts
            log.exception("rollout of application %s failed; its Assignments stay", name)
            continue
        _keep(found, name, app, done, at)
    return found


def roll(
    app: Object,
    target: int,
    sites: Sequence[str],
    held: Mapping[str, Object],
    places: Mapping[str, Place],
    now: float,
) -> Step:
    """One application's step at ``now``."""
    wire = (app.get("status") or {}).get("rollout") or {}
    state = RolloutState.from_wire(wire) if wire else None
    if state is None or state.revision != target:
        state = begin(target, state, now)
    strategy = Strategy.from_spec((app.get("spec") or {}).get("rollout"), app["metadata"]["name"])
    views = [site_view(s, places.get(s), held.get(s)) for s in sites]
    return step(state, strategy, views, controls_from_wire(wire, target), now)


def _keep(found: Rollouts, name: str, app: Object, done: Step, now: float) -> None:
    before = (app.get("status") or {}).get("rollout") or {}
    status = done.state.to_wire(done.summary)
    if "control" in before:  # the action route's, kept as it wrote it
        status["control"] = before["control"]
    found.revisions[name] = done.revisions
    found.statuses[name] = status
    found.events[name] = [_event(message, now) for message in done.events]
    if done.state.phase.active:
        found.moving.add(name)
    found.later(done.wake_at)


def _event(message: str, now: float) -> dict[str, str]:
    """An Application event of the rollout from the machine's ``Reason: message``
    (``Rollout`` when it names no reason)."""
    head, sep, rest = message.partition(": ")
    reason = head if sep and head.isalnum() and head[:1].isupper() else "Rollout"
    text = rest if reason == head and sep else message
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
    return {"time": stamp, "reason": reason, "message": text[:MAX_REASON]}


def by_site(assignments: Mapping[str, Object]) -> dict[str, dict[str, Object]]:
    """Each application's Assignments by site."""
    found: dict[str, dict[str, Object]] = {}
    for obj in assignments.values():
        found.setdefault(obj["spec"]["application"], {})[obj["spec"]["site"]] = obj
    return found


class RolloutKeeper:
    """The placement controller's rollout side, pass after pass: its Revisions (written
    through the controller's writer, so their events wake nothing), each
    application's step, and the pruning of revisions nothing uses any more."""

    def __init__(self, store: Store, writer: Writer, worker: Worker) -> None:
        self.store, self.writer, self.worker = store, writer, worker
        self.book, self.places = RevisionBook(), Places()
        self.groups: Sequence[Object] = ()
        """The pass's SiteGroups (the controller's snapshot sets them)."""
        self.invalid: Iterable[str] = ()
        """Applications left out of the pass (their revisions stay)."""
        self.plan = RevisionPlan()
        self.last = Rollouts()
        """The last pass's rollouts: which applications' still move (``triggers``)."""

    async def revisions(self, apps: list[Object], objs: list[Object]) -> RevisionPlan:
        """Each application's target revision, its new Revision written first; one
        whose Revision lost a race has no target this pass (what runs keeps running)."""
        self.plan = await self.worker.run(self.book.plan, apps, objs, tuple(self.invalid))
        for name in await write_revisions(self.store, self.writer, self.plan):
            self.plan.targets.pop(name, None)
        return self.plan

    def roll(
        self,
        apps: list[Object],
        decisions: Mapping[str, Decision],
        sites: Mapping[str, Object],
        stored: Mapping[str, Object],
    ) -> Rollouts:
        """Every application's step now (in the worker thread)."""
        now = time.time()
        places = self.places.of(sites, self.groups, now)
        placed = {a: [s for s, _ in d.parts()] for a, d in decisions.items()}
        self.last = roll_all(apps, placed, by_site(stored), places, self.plan.targets, now)
        return self.last

    async def prune(self, apps: list[Object], fresh: Mapping[str, Object]) -> None:
        """Delete the revisions past each history limit that nothing runs or keeps."""
        running: dict[str, set[int]] = {}
        for obj in fresh.values():
            running.setdefault(obj["spec"]["application"], set()).add(int(obj["spec"]["revision"]))
        kept = {a: _kept(s) for a, s in self.last.statuses.items()}
        await prune_revisions(self.store, self.writer, unused(apps, self.plan, running, kept))


def _kept(status: Mapping[str, Any]) -> set[int]:
    return {v for v in (status.get("revision"), status.get("stableRevision")) if type(v) is int}
